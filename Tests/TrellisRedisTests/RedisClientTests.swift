import Foundation
import Testing
import TrellisTestSupport

@testable import TrellisRedis

/// The client against the shared test server (`TRELLIS_TEST_REDIS_URL`).
@Suite(.timeLimit(.minutes(1))) struct RedisClientTests {
    @Test func setGetAndErrorReplies() async throws {
        let key = uniquePrefix() + "k"
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            #expect(try await client.send("SET", "\(key)", .bytes([0, 255, 13, 10])) == .simpleString("OK"))
            #expect(try await client.send("GET", "\(key)") == .bulkString([0, 255, 13, 10]))
            #expect(try await client.send("GET", "\(key):missing").isNull)
            #expect(try await client.send(["EXPIRE", .string(key), 60]) == .integer(1))
            await #expect {
                try await client.send("INCR", "\(key)")
            } throws: { error in
                guard case RedisError.server(let message) = error else { return false }
                return message.contains("not an integer")
            }
            #expect(client.statistics.commands >= 5)
        }
    }

    @Test func afterShutdownCommandsFailWithUnavailableAndEventsEnd() async throws {
        let configuration = try RedisTestEnvironment.configuration()
        let client = try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
            #expect(try await client.send("PING") == .simpleString("PONG"))
            return client
        }
        #expect(client.liveConnections == 0)
        await #expect(throws: RedisError.unavailable) { try await client.send("PING") }

        let subscriber = try await withSubscriber(configuration) { subscriber in
            try await subscriber.subscribe([uniquePrefix()])
            return subscriber
        }
        var events = subscriber.events.makeAsyncIterator()
        #expect(await events.next() == nil)
    }

    @Test func aPipelineOfAThousandIncrsArrivesInOrder() async throws {
        let key = uniquePrefix() + "counter"
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            let commands: [[RedisArgument]] = Array(repeating: ["INCR", .string(key)], count: 1000)
            let replies = try await client.pipeline(commands + [["DEL", .string(key)]])
            #expect(replies.dropLast() == (1...1000).map { RedisValue.integer(Int64($0)) })
            #expect(replies.last == .integer(1))
        }
    }

    @Test func aThousandConcurrentCommandsShareOneConnection() async throws {
        let key = uniquePrefix() + "counter"
        let connection = try await RedisConnection.connect(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger)
        let values = try await withThrowingTaskGroup(of: Int64.self, returning: [Int64].self) { group in
            for _ in 0..<1000 {
                group.addTask { try await connection.send("INCR", "\(key)").int! }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(values.sorted() == Array(1...1000))
        #expect(try await connection.send("GETDEL", "\(key)").int == 1000)
        await connection.close()
    }

    @Test func aLateReplyTimesOutClosesItsConnectionAndTheClientGoesOn() async throws {
        let key = uniquePrefix() + "empty-list"
        let configuration = try RedisTestEnvironment.configuration()
        // On one connection: the timeout fails the command and closes the connection.
        let connection = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
        let clock = ContinuousClock()
        let started = clock.now
        // Redis would answer this BLPOP (with nil) after 30 s; the 200 ms timeout must fail it
        // long before that. The bound is loose because on a loaded two-core machine this task
        // can resume seconds after the event loop's timer fired (a CI run once saw 2.6 s).
        await #expect(throws: RedisError.timeout) {
            try await connection.send(["BLPOP", .string(key), 30], timeout: .milliseconds(200))
        }
        #expect(clock.now - started < .seconds(10))
        try await eventually("the timed-out connection to close", within: .seconds(2)) { !connection.isActive }
        await #expect(throws: RedisError.connectionClosed) { try await connection.send("PING") }

        // Through the pool: the next command works, and the pool refills.
        try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
            // Connected first: a command sent before any connection is up fails as `unavailable`.
            try await eventually("the pool to connect", within: .seconds(20)) { client.liveConnections == configuration.poolSize }
            await #expect(throws: RedisError.timeout) {
                try await client.send(["BLPOP", .string(key), 2], timeout: .milliseconds(200))
            }
            #expect(try await client.send("PING") == .simpleString("PONG"))
            #expect(client.statistics.timeouts == 1)
            try await eventually("the pool to reopen the connection") { client.liveConnections == configuration.poolSize }
            #expect(try await client.send("PING") == .simpleString("PONG"))
        }
    }

    /// Every command waiting on a connection is answered exactly once when the server drops it:
    /// the ones in flight fail with `connectionClosed` at once, and so does each one after.
    @Test func commandsInFlightWhenTheServerDropsTheConnectionFailOnceAndAtOnce() async throws {
        let key = uniquePrefix() + "dropped"
        let configuration = try RedisTestEnvironment.configuration()
        let victim = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
        let killer = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
        guard case .integer(let id) = try await victim.send("CLIENT", "ID") else {
            Issue.record("CLIENT ID did not answer with a number")
            return
        }
        let clock = ContinuousClock()
        let started = clock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Three blocked commands in flight on the one connection, answered only by the kill.
            for _ in 0..<3 {
                group.addTask {
                    await #expect(throws: RedisError.connectionClosed) {
                        try await victim.send(["BLPOP", .string(key), 30], timeout: .seconds(20))
                    }
                }
            }
            try await eventually("the three commands to be in flight", within: .seconds(5)) {
                let clients = try? await killer.send("CLIENT", "LIST", "ID", "\(id)")
                return clients?.string?.contains("cmd=blpop") == true
            }
            #expect(try await killer.send("CLIENT", "KILL", "ID", "\(id)") == .integer(1))
            try await group.waitForAll()
        }
        #expect(clock.now - started < .seconds(15))
        try await eventually("the dropped connection to close", within: .seconds(2)) { !victim.isActive }
        await #expect(throws: RedisError.connectionClosed) { try await victim.send("PING") }
        #expect(try await killer.send("PING") == .simpleString("PONG"))
        await killer.close()
    }

    /// A caller on no event loop (this test) has its commands spread over the whole pool, one
    /// connection after another; a caller on an event loop prefers that loop's connections.
    @Test func commandsFromOffTheEventLoopsGoRoundTheWholePool() async throws {
        let configuration = try RedisTestEnvironment.configuration()
        try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
            try await eventually("the pool to connect", within: .seconds(20)) { client.liveConnections == configuration.poolSize }
            var ids: [Int64] = []
            for _ in 0..<(2 * configuration.poolSize) {
                ids.append(try #require(try await client.send("CLIENT", "ID").int))
            }
            #expect(Set(ids).count == configuration.poolSize, "\(ids)")
            // In order, round and round: the second lap repeats the first.
            #expect(Array(ids.prefix(configuration.poolSize)) == Array(ids.suffix(configuration.poolSize)))
        }
    }

    @Test func tooManyCommandsInFlightFailAtOnceWithOverloaded() async throws {
        let key = uniquePrefix() + "empty-list"
        var configuration = try RedisTestEnvironment.configuration()
        configuration.maxPendingCommands = 1
        let connection = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
        let clientID = try #require(try await connection.send("CLIENT", "ID").int)
        // Blocks until this test pushes (at most 10 s): a loaded machine cannot outrun it.
        let blocked = Task { try await connection.send(["BLPOP", .string(key), 10], timeout: .seconds(15)) }
        // The server only sees the BLPOP once the handler has counted it as in flight. Only this
        // connection's entry counts: other tests run BLPOP on their own connections at the same time.
        let observer = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
        try await eventually("the BLPOP to block", within: .seconds(5)) {
            try await observer.send(["CLIENT", "LIST", "ID", .integer(clientID)]).string?.contains("cmd=blpop") == true
        }
        await #expect(throws: RedisError.overloaded) { try await connection.send("PING") }
        _ = try await observer.send("RPUSH", .string(key), "released")
        await observer.close()
        #expect(try await blocked.value == .array([.bulkString(Array(key.utf8)), .bulkString(Array("released".utf8))]))
        #expect(try await connection.send("PING") == .simpleString("PONG"))
        await connection.close()
    }

    @Test func evalshaLoadsTheScriptAfterScriptFlush() async throws {
        let key = uniquePrefix() + "n"
        let script = RedisScript("return redis.call('INCRBY', KEYS[1], ARGV[1])")
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            #expect(try await client.send("SCRIPT", "FLUSH") == .simpleString("OK"))
            #expect(try await client.send("SCRIPT", "EXISTS", "\(script.sha1)") == .array([.integer(0)]))
            #expect(try await client.evaluate(script, keys: [.string(key)], arguments: [5]) == .integer(5))
            #expect(try await client.send("SCRIPT", "EXISTS", "\(script.sha1)") == .array([.integer(1)]))
            #expect(try await client.evaluate(script, keys: [.string(key)], arguments: [2]) == .integer(7))
            await #expect(throws: RedisError.self) {
                try await client.evaluate(RedisScript("return redis.call('NOPE')"))
            }
            _ = try await client.send("DEL", "\(key)")
        }
    }

    @Test func withNothingListeningCommandsFailFastWithUnavailable() async throws {
        var configuration = try RedisTestEnvironment.configuration()
        configuration.port = try await withPrivateRedisServer { $0.port }  // stopped: nobody listens there now
        try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
            let clock = ContinuousClock()
            for _ in 0..<3 {
                let started = clock.now
                await #expect(throws: RedisError.unavailable) { try await client.send("PING") }
                // Fast: refused at connect, not after the 10 s command timeout this configuration
                // sets (3 s leaves room for a 2-core machine under load: 1.54 s was seen once).
                #expect(clock.now - started < .seconds(3))
            }
            guard case .connectionFailed(let reason)? = client.lastConnectionError else {
                Issue.record("expected a connection error, got \(String(describing: client.lastConnectionError))")
                return
            }
            #expect(reason.contains("127.0.0.1:\(configuration.port)"))
        }
    }

    @Test func subscriberReceivesChannelAndPatternMessages() async throws {
        let prefix = uniquePrefix()
        let configuration = try RedisTestEnvironment.configuration()
        try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
            try await withSubscriber(configuration) { subscriber in
                try await subscriber.subscribe(["\(prefix)a"])
                try await subscriber.psubscribe(["\(prefix)p:*"])
                #expect(try await client.send("PUBLISH", "\(prefix)a", "one") == .integer(1))
                #expect(try await nextEvent(subscriber.events) == .message(.init(channel: "\(prefix)a", payload: Array("one".utf8))))
                #expect(try await client.send("PUBLISH", "\(prefix)p:x", .bytes([0, 1])) == .integer(1))
                #expect(try await nextEvent(subscriber.events) == .message(.init(channel: "\(prefix)p:x", pattern: "\(prefix)p:*", payload: [0, 1])))
                try await subscriber.unsubscribe(["\(prefix)a"])
                #expect(try await client.send("PUBLISH", "\(prefix)a", "two") == .integer(0))
                #expect(subscriber.reconnects == 0)
            }
        }
    }

    @Test func aSlowConsumerLosesTheOldestEventsAndIsToldWhere() async throws {
        let prefix = uniquePrefix()
        var configuration = try RedisTestEnvironment.configuration()
        configuration.subscriberBufferSize = 4
        try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
            try await withSubscriber(configuration) { subscriber in
                try await subscriber.subscribe(["\(prefix)c"])
                _ = try await client.pipeline((0..<10).map { ["PUBLISH", .string("\(prefix)c"), .integer(Int64($0))] })
                try await eventually("six events to be dropped") { subscriber.droppedEvents == 6 }
                #expect(try await nextEvent(subscriber.events) == .dropped(count: 6))
                for number in 6..<10 {
                    #expect(try await nextEvent(subscriber.events) == .message(.init(channel: "\(prefix)c", payload: Array("\(number)".utf8))))
                }
            }
        }
    }
}
