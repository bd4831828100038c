import App
import Foundation
import Logging
import Synchronization
import Testing
import TrellisRedis
import TrellisTestSupport
@testable import TrellisRuntime

/// The read cache on its own, against the real Redis of `scripts/test`: generations, TTL,
/// stale-while-revalidate and single flight, with a load that counts its calls.
@Suite("Read cache: generations, TTL, stale-while-revalidate, single flight")
struct ReadCacheTests {
    static let quiet = RateLimitTests.quiet

    /// A load that answers `"<n>"` for its n-th call and counts them.
    final class CountingLoad: Sendable {
        let calls = Atomic<Int>(0)
        let delay: Duration

        init(delay: Duration = .zero) { self.delay = delay }

        @Sendable func callAsFunction() async throws -> CachedBody {
            let n = calls.add(1, ordering: .relaxed).newValue
            if delay > .zero { try await Task.sleep(for: delay) }
            return CachedBody(json: Array("\"\(n)\"".utf8), etag: "\"\(n)\"")
        }

        var count: Int { calls.load(ordering: .relaxed) }
    }

    final class Outcomes: Sendable {
        let seen = Mutex<[ReadCache.Outcome: Int]>([:])
        func record(_ outcome: ReadCache.Outcome) { seen.withLock { $0[outcome, default: 0] += 1 } }
        subscript(_ outcome: ReadCache.Outcome) -> Int { seen.withLock { $0[outcome] ?? 0 } }
    }

    /// A client of the tests' Redis whose pool is up before `body` runs, with a command timeout
    /// long enough that a machine busy with the whole suite does not turn reads into bypasses
    /// (what a timeout does is tested on its own, with an unreachable and a paused Redis).
    static func withConnectedRedis<T: Sendable>(_ body: @Sendable (RedisClient) async throws -> T) async throws -> T {
        var configuration = try RedisTestEnvironment.configuration()
        configuration.commandTimeout = .seconds(10)
        configuration.connectTimeout = .seconds(10)
        return try await withRedisClient(configuration: configuration, logger: quiet) { redis in
            try await eventually("the Redis pool to connect", within: .seconds(20)) { redis.liveConnections == configuration.poolSize }
            return try await body(redis)
        }
    }

    static func withCache(_ body: @Sendable (ReadCache, Outcomes, RedisClient) async throws -> Void) async throws {
        try await withConnectedRedis { redis in
            let outcomes = Outcomes()
            let cache = ReadCache(redis: redis, resources: TrellisApp.api.resources.map(\.descriptor), logger: quiet) {
                outcomes.record($0)
            }
            try await body(cache, outcomes, redis)
        }
    }

    static let policy = ReadCachePolicy(ttlSeconds: 120, staleWhileRevalidateSeconds: 0)

    @Test func aSecondReadIsAHitAndAWriteToTheTableMakesTheNextOneReadAgain() async throws {
        try await Self.withCache { cache, outcomes, _ async throws in
            let workspace = UUID()
            let key = CacheKey.object(UUID(), table: "agents", workspace: workspace)
            let load = CountingLoad()
            #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"1\"".utf8))
            #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"1\"".utf8))
            #expect(load.count == 1 && outcomes[.miss] == 1 && outcomes[.hit] == 1)

            let writes = WriteLog()
            writes.record("agents", deleting: false)
            await cache.invalidate(workspace: workspace, writes: writes)
            #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"2\"".utf8))
            #expect(load.count == 2)

            // Another workspace's write, or a write to another table, changes nothing here.
            let elsewhere = WriteLog()
            elsewhere.record("agents", deleting: false)
            await cache.invalidate(workspace: UUID(), writes: elsewhere)
            let otherTable = WriteLog()
            otherTable.record("messages", deleting: true)
            await cache.invalidate(workspace: workspace, writes: otherTable)
            #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"2\"".utf8))
            #expect(load.count == 2)
        }
    }

    @Test func deletingASwarmMovesTheGenerationOfAgentsWhichReferenceIt() async throws {
        try await Self.withCache { cache, _, _ async throws in
            #expect(cache.dependents["swarms"] == ["agents", "messages"])
            #expect(cache.dependents["agents"] == ["messages"])
            let workspace = UUID()
            let key = CacheKey.object(UUID(), table: "agents", workspace: workspace)
            let load = CountingLoad()
            _ = try await cache.read(key, policy: Self.policy, load: load.callAsFunction)
            let update = WriteLog()
            update.record("swarms", deleting: false)
            await cache.invalidate(workspace: workspace, writes: update)
            _ = try await cache.read(key, policy: Self.policy, load: load.callAsFunction)
            #expect(load.count == 1, "renaming a swarm changes no agent row")
            let delete = WriteLog()
            delete.record("swarms", deleting: true)
            await cache.invalidate(workspace: workspace, writes: delete)
            _ = try await cache.read(key, policy: Self.policy, load: load.callAsFunction)
            #expect(load.count == 2, "deleting a swarm sets agents' swarm_id to null")
        }
    }

    @Test func aLostGenerationNeverRevivesAnOlderEntry() async throws {
        try await Self.withCache { cache, _, redis async throws in
            let workspace = UUID()
            let key = CacheKey.object(UUID(), table: "agents", workspace: workspace)
            let load = CountingLoad()
            _ = try await cache.read(key, policy: Self.policy, load: load.callAsFunction)
            let before = try await redis.send("GET", .string(key.generation)).string
            // Evicted (or lost in a restart without its entries): the next generation is new.
            _ = try await redis.send("DEL", .string(key.generation))
            #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"2\"".utf8))
            let after = try await redis.send("GET", .string(key.generation)).string
            #expect(before != nil && after != nil && before != after)
            // Generations only grow: a move after the loss is past both.
            let writes = WriteLog()
            writes.record("agents", deleting: false)
            await cache.invalidate(workspace: workspace, writes: writes)
            let moved = try #require(try await redis.send("GET", .string(key.generation)).int)
            #expect(moved > Int64(after!)! && moved > Int64(before!)!)
        }
    }

    @Test func concurrentMissesOfOneKeyRunOneLoad() async throws {
        try await Self.withCache { cache, outcomes, _ async throws in
            let key = CacheKey.object(UUID(), table: "agents", workspace: UUID())
            let load = CountingLoad(delay: .milliseconds(300))
            let bodies = try await withThrowingTaskGroup(of: [UInt8].self) { group in
                for _ in 0..<20 {
                    group.addTask { try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(bodies.count == 20 && bodies.allSatisfy { $0 == Array("\"1\"".utf8) })
            #expect(load.count == 1)
            #expect(outcomes[.miss] == 1)
            #expect(outcomes[.collapsed] + outcomes[.hit] == 19)
        }
    }

    @Test func aFailedLoadIsNotSharedAndIsNotCached() async throws {
        struct Refused: Error {}
        try await Self.withCache { cache, _, _ async throws in
            let key = CacheKey.object(UUID(), table: "agents", workspace: UUID())
            await #expect(throws: Refused.self) {
                try await cache.read(key, policy: Self.policy) { throw Refused() }
            }
            let load = CountingLoad()
            #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"1\"".utf8))
        }
    }

    @Test func pastItsTTLAnEntryIsServedWhileOneBackgroundReadReplacesIt() async throws {
        try await Self.withCache { cache, outcomes, _ async throws in
            let policy = ReadCachePolicy(ttlSeconds: 1, staleWhileRevalidateSeconds: 60)
            let key = CacheKey.object(UUID(), table: "agents", workspace: UUID())
            let load = CountingLoad(delay: .milliseconds(200))
            _ = try await cache.read(key, policy: policy, load: load.callAsFunction)
            try await Task.sleep(for: .milliseconds(1100))
            // Stale: answered at once with the old body, three times, one refresh started.
            for _ in 0..<3 {
                #expect(try await cache.read(key, policy: policy, load: load.callAsFunction).json == Array("\"1\"".utf8))
            }
            #expect(outcomes[.stale] == 3)
            // One refresh for the three: it starts, and no other starts while it runs.
            try await eventually("the refresh to start", within: .seconds(5)) { load.count == 2 }
            try await Task.sleep(for: .milliseconds(100))
            #expect(load.count == 2)
            try await eventually("the refreshed entry", within: .seconds(5)) {
                try await cache.read(key, policy: policy, load: load.callAsFunction).json == Array("\"2\"".utf8)
            }
        }
    }

    @Test func pastTTLAndStaleWindowTheEntryIsGone() async throws {
        try await Self.withCache { cache, _, redis async throws in
            let policy = ReadCachePolicy(ttlSeconds: 1, staleWhileRevalidateSeconds: 0)
            let key = CacheKey.object(UUID(), table: "agents", workspace: UUID())
            let load = CountingLoad()
            _ = try await cache.read(key, policy: policy, load: load.callAsFunction)
            let ttl = try #require(try await redis.send("PTTL", .string(key.entry)).int)
            #expect(ttl > 0 && ttl <= 1000)
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await cache.read(key, policy: policy, load: load.callAsFunction).json == Array("\"2\"".utf8))
        }
    }

    @Test func withRedisUnreachableEveryReadLoadsAndNoneFails() async throws {
        let unreachable = RedisConfiguration(host: "127.0.0.1", port: try freeLocalPort())
        try await withRedisClient(configuration: unreachable, logger: Self.quiet) { redis async throws in
            let outcomes = Outcomes()
            let cache = ReadCache(redis: redis, resources: TrellisApp.api.resources.map(\.descriptor), logger: Self.quiet) {
                outcomes.record($0)
            }
            let key = CacheKey.object(UUID(), table: "agents", workspace: UUID())
            let load = CountingLoad()
            for n in 1...3 {
                #expect(try await cache.read(key, policy: Self.policy, load: load.callAsFunction).json == Array("\"\(n)\"".utf8))
            }
            let writes = WriteLog()
            writes.record("agents", deleting: false)
            await cache.invalidate(workspace: UUID(), writes: writes)
            #expect(outcomes[.bypass] == 3)
        }
    }

    @Test func aListKeyIsTheSameForTheSameQueryHoweverItWasSpelled() throws {
        let keys = CursorKeys.ephemeral()
        func query(_ parameters: [(String, String)]) throws -> ListQuery {
            guard case let .valid(query) = ListQuery.parse(Agent.self, parameters: parameters, limits: PageLimits(), keys: keys) else {
                throw Unexpected(message: "invalid query \(parameters)")
            }
            return query
        }
        let workspace = UUID()
        func key(_ parameters: [(String, String)]) throws -> String {
            CacheKey.page(try query(parameters), table: "agents", workspace: workspace).entry
        }
        #expect(try key([("model", "gpt"), ("is_active", "true")]) == key([("is_active", "true"), ("model", "gpt")]))
        #expect(try key([("limit", "20")]) == key([]))
        #expect(try key([("limit", "21")]) != key([]))
        #expect(try key([("model", "gpt")]) != key([("model", "claude")]))
        #expect(try key([("sort", "name")]) != key([("sort", "-name")]))
        #expect(try key([]).hasPrefix("{\(workspace.lowercasedString)}:c:agents:l:"))
        #expect(CacheKey.page(try query([]), table: "agents", workspace: UUID()).entry != (try key([])))
    }
}
