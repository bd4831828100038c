import Foundation
import Testing
import TrellisTestSupport

@testable import TrellisRedis

/// Tests that need a Redis of their own: restarts, a password, a database index.
@Suite(.timeLimit(.minutes(2))) struct PrivateServerTests {
    @Test func theClientFailsFastWhileRedisIsDownAndReconnectsAfterARestart() async throws {
        try await withPrivateRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            // Long enough that "fails fast" below (under 2 s) cannot be a command timing out.
            configuration.commandTimeout = .seconds(5)
            try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
                #expect(try await Self.sendOnceConnected(client, ["SET", "k", "before"]) == .simpleString("OK"))
                try await eventually("the whole pool to connect") { client.liveConnections == configuration.poolSize }

                await server.stop()
                let clock = ContinuousClock()
                for _ in 0..<20 {
                    let started = clock.now
                    do {
                        _ = try await client.send("GET", "k")
                        Issue.record("a command succeeded while Redis was down")
                    } catch let error as RedisError {
                        #expect(error == .unavailable || error == .connectionClosed, "\(error)")
                    }
                    // Fails fast: never waits for Redis, let alone for the command timeout.
                    #expect(clock.now - started < .seconds(2))
                    try await Task.sleep(for: .milliseconds(25))
                }
                try await eventually("every connection to notice") { client.liveConnections == 0 }
                await #expect(throws: RedisError.unavailable) { try await client.send("PING") }

                try await server.start()
                let restarted = clock.now
                try await eventually("the client to reconnect", within: .seconds(10)) {
                    try await client.send("SET", "k", "after") == .simpleString("OK")
                }
                // Backoff is capped at 2 s (with a 2-core box's slack).
                #expect(clock.now - restarted < .seconds(5))
                #expect(try await client.send("GET", "k").string == "after")
                try await eventually("the whole pool to reconnect") { client.liveConnections == configuration.poolSize }
                #expect(client.statistics.reconnects == configuration.poolSize)
                #expect(client.statistics.unavailable >= 1)
            }
        }
    }

    @Test func theSubscriberResubscribesAfterARestart() async throws {
        try await withPrivateRedisServer { server in
            let configuration = try RedisConfiguration(url: server.url)
            try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
                try await withSubscriber(configuration) { subscriber in
                    try await subscriber.subscribe(["news"])
                    try await subscriber.psubscribe(["alerts:*"])
                    #expect(try await Self.sendOnceConnected(client, ["PUBLISH", "news", "before"]) == .integer(1))
                    #expect(try await nextEvent(subscriber.events) == .message(.init(channel: "news", payload: Array("before".utf8))))

                    await server.stop()
                    try await server.start()

                    // The gap is announced before any message of the new connection.
                    #expect(try await nextEvent(subscriber.events) == .resubscribed)
                    try await eventually("the subscriptions to be back") {
                        let channels = try await client.send("PUBSUB", "NUMSUB", "news")
                        let patterns = try await client.send("PUBSUB", "NUMPAT")
                        return channels == .array([.bulkString(Array("news".utf8)), .integer(1)]) && patterns == .integer(1)
                    }
                    // The client's own pool may still be reconnecting (a connection that answered
                    // above can be one the restart had not yet closed): this test is about the
                    // subscriber, so its commands wait out `unavailable` (CI once saw it).
                    #expect(try await Self.sendOnceConnected(client, ["PUBLISH", "news", "after"]) == .integer(1))
                    #expect(try await nextEvent(subscriber.events) == .message(.init(channel: "news", payload: Array("after".utf8))))
                    #expect(try await Self.sendOnceConnected(client, ["PUBLISH", "alerts:1", "fire"]) == .integer(1))
                    #expect(try await nextEvent(subscriber.events) == .message(.init(channel: "alerts:1", pattern: "alerts:*", payload: Array("fire".utf8))))
                    #expect(subscriber.reconnects == 1)
                }
            }
        }
    }

    @Test func theSubscriberFindsAConnectionThatStoppedAnsweringByPinging() async throws {
        try await withPrivateRedisServer { server in
            var configuration = try RedisConfiguration(url: server.url)
            configuration.subscriberPingInterval = .milliseconds(200)
            configuration.commandTimeout = .milliseconds(300)
            try await withRedisClient(configuration: configuration, logger: quietLogger) { client in
                try await withSubscriber(configuration) { subscriber in
                    // On a loaded machine the subscriber may not be connected yet: the channel is
                    // kept and subscribed once it is.
                    _ = try? await subscriber.subscribe(["news"])
                    // Connected before the pause (a loaded machine may take longer than the 300 ms timeout to connect).
                    try await eventually("the client to connect") { try await client.send("PING") == .simpleString("PONG") }
                    try await eventually("the subscription to be up") {
                        try await client.send("PUBSUB", "NUMSUB", "news") == .array([.bulkString(Array("news".utf8)), .integer(1)])
                    }
                    // The server stops answering every client for a second, without closing anything.
                    #expect(try await client.send("CLIENT", "PAUSE", "1000", "ALL") == .simpleString("OK"))
                    // Found by its pings: reopened (announced with `.resubscribed`, which the loop
                    // below skips; a subscriber that connected late announced one already).
                    try await eventually("the subscriber to reconnect") { subscriber.reconnects >= 1 }
                    try await eventually("the subscription to be back") {
                        try await client.send("PUBLISH", "news", "after") == .integer(1)
                    }
                    // Each attempt made while the pause lasts times out too, and announces itself again.
                    var event = try await nextEvent(subscriber.events)
                    while event == .resubscribed { event = try await nextEvent(subscriber.events) }
                    #expect(event == .message(.init(channel: "news", payload: Array("after".utf8))))
                }
            }
        }
    }

    /// `client.send`, tried again while the client has no connection yet: on a loaded machine
    /// (a CI run right after a cold build) its first connect can outlast the 1 s connect timeout,
    /// and commands fail at once until the reconnect. Any other answer or error is returned.
    static func sendOnceConnected(_ client: RedisClient, _ arguments: [RedisArgument]) async throws -> RedisValue {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            do {
                return try await client.send(arguments)
            } catch RedisError.unavailable where ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(50))
            }
        }
    }

    @Test func authWithAPasswordAndAnACLUserFromTheURL() async throws {
        let password = "s3cr:et@/x"
        try await withPrivateRedisServer(["--requirepass", password]) { server in
            let encoded = "s3cr%3Aet%40%2Fx"
            for url in ["redis://:\(encoded)@127.0.0.1:\(server.port)", "redis://default:\(encoded)@127.0.0.1:\(server.port)"] {
                try await withRedisClient(configuration: try RedisConfiguration(url: url), logger: quietLogger) { client async throws in
                    #expect(try await Self.sendOnceConnected(client, ["PING"]) == .simpleString("PONG"))
                    #expect(try await Self.sendOnceConnected(client, ["ACL", "WHOAMI"]).string == "default")
                }
            }

            // Without a password the server refuses commands.
            let anonymous = try RedisConfiguration(url: server.url)
            try await withRedisClient(configuration: anonymous, logger: quietLogger) { client async throws in
                _ = await #expect {
                    try await Self.sendOnceConnected(client, ["GET", "k"])
                } throws: { error in
                    "\(error)".contains("NOAUTH")
                }
            }

            // A wrong password: a clear error that does not contain it.
            let wrong = try RedisConfiguration(url: "redis://:wrong-Passw0rd@127.0.0.1:\(server.port)")
            await #expect {
                try await RedisConnection.connect(configuration: wrong, logger: quietLogger)
            } throws: { error in
                let text = "\(error)"
                return text.contains("AUTH") && text.contains("WRONGPASS") && !text.contains("wrong-Passw0rd")
            }
            try await withRedisClient(configuration: wrong, logger: quietLogger) { client async throws in
                await #expect(throws: RedisError.unavailable) { try await client.send("PING") }
                // The refused connect's error, once the client's first attempt has ended (a loaded
                // machine can take longer than the PING above: at most 15 s).
                let deadline = ContinuousClock.now + .seconds(15)
                while client.lastConnectionError == nil, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
                let reason = client.lastConnectionError.map { "\($0)" } ?? ""
                #expect(reason.contains("WRONGPASS"))
                #expect(!reason.contains("wrong-Passw0rd"))
            }
        }
    }

    @Test func theDatabaseIndexComesFromTheURLPath() async throws {
        try await withPrivateRedisServer { server in
            let db2 = try RedisConfiguration(url: server.url + "/2")
            let db0 = try RedisConfiguration(url: server.url)
            try await withRedisClient(configuration: db2, logger: quietLogger) { client2 in
                try await withRedisClient(configuration: db0, logger: quietLogger) { client0 async throws in
                    // A loaded machine can take a while for the first connects.
                    _ = try await Self.sendOnceConnected(client2, ["PING"])
                    _ = try await Self.sendOnceConnected(client0, ["PING"])
                    #expect(try await client2.send("SET", "where", "two") == .simpleString("OK"))
                    #expect(try await client0.send("GET", "where").isNull)
                    #expect(try await client2.send("GET", "where").string == "two")
                    #expect(try await client2.send("CLIENT", "INFO").string?.contains(" db=2 ") == true)
                    #expect(try await client0.send("CLIENT", "INFO").string?.contains(" db=0 ") == true)
                }
            }
            await #expect {
                try await RedisConnection.connect(configuration: try RedisConfiguration(url: server.url + "/99"), logger: quietLogger)
            } throws: { error in
                "\(error)".contains("SELECT 99")
            }
        }
    }
}
