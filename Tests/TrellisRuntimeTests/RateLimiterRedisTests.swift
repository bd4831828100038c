import Foundation
import Logging
import Synchronization
import Testing
import TrellisRedis
import TrellisTestSupport

@testable import TrellisRuntime

private let quietLogger = Logger(label: "trellis.tests.ratelimit", factory: { _ in SwiftLogNoOpLogHandler() })

/// A workspace id no other test uses, so tests can share one server and run in parallel.
private func uniqueWorkspace() -> String { UUID().uuidString.lowercased() }

/// Every log event, as `level message metadata`.
private final class CapturedLogs: Sendable {
    let lines = Mutex<[String]>([])

    var logger: Logger {
        Logger(label: "trellis.tests.ratelimit") { _ in Handler(sink: self) }
    }

    struct Handler: LogHandler {
        let sink: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let metadata = (event.metadata ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            sink.lines.withLock { $0.append("\(event.level) \(event.message) \(metadata.joined(separator: " "))") }
        }
    }
}


/// The rate limiter against the shared test server (`TRELLIS_TEST_REDIS_URL`), and without it.
@Suite(.timeLimit(.minutes(1))) struct RateLimiterRedisTests {
    @Test("a fresh key gets exactly its burst (limit 5, remaining 4…0), then a refusal with Retry-After 1; the key expires")
    func exactBurst() async throws {
        let workspace = uniqueWorkspace()
        let policy = RateLimitPolicy(perMinute: 60, burst: 5)
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            let limiter = RateLimiter(redis: client, logger: quietLogger)
            var decisions: [RateLimitDecision] = []
            for _ in 0..<6 {
                decisions.append(await limiter.decide(workspace: workspace, subject: "key-1", bucket: "agents", policy: policy))
            }
            #expect(decisions.map(\.allowed) == [true, true, true, true, true, false])
            #expect(decisions.map(\.limit) == [5, 5, 5, 5, 5, 5])
            #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0, 0])
            #expect(decisions.prefix(5).allSatisfy { $0.retryAfterSeconds == nil })
            #expect(decisions.prefix(5).map(\.resetSeconds) == [1, 2, 3, 4, 5])
            #expect(decisions[5].retryAfterSeconds == 1)
            #expect(decisions[5].resetSeconds == 5)
            #expect(limiter.redisDecisions == 6)
            #expect(limiter.fallbackDecisions == 0)
            #expect(!limiter.isDegraded)

            let key = RedisRateLimiter.key(workspace: workspace, subject: "key-1", bucket: "agents")
            #expect(key == "{\(workspace)}:rl:key-1:agents")
            let ttl = try await client.send("PTTL", "\(key)").int ?? -1
            #expect(ttl > 4_000 && ttl <= 6_000, "PTTL \(ttl) ms: the full burst is back after 5 s, plus 1 s")
            let tat = try await client.send("GET", "\(key)").string ?? ""
            #expect(tat.count >= 16 && tat.allSatisfy(\.isNumber), "the TAT is whole microseconds, not \(tat)")
        }
    }

    @Test("two limiters with their own clients on one Redis share one budget: 3 on A and 2 on B, then both refuse")
    func instancesShareOneBudget() async throws {
        let workspace = uniqueWorkspace()
        let policy = RateLimitPolicy(perMinute: 1, burst: 5)
        let configuration = try RedisTestEnvironment.configuration()
        try await withRedisClient(configuration: configuration, logger: quietLogger) { clientA async throws in
            try await withRedisClient(configuration: configuration, logger: quietLogger) { clientB async throws in
                let a = RateLimiter(redis: clientA, logger: quietLogger)
                let b = RateLimiter(redis: clientB, logger: quietLogger)
                func decide(_ limiter: RateLimiter) async -> RateLimitDecision {
                    await limiter.decide(workspace: workspace, subject: "key-1", bucket: "agents", policy: policy)
                }
                var remaining: [Int] = []
                for _ in 0..<3 { remaining.append(await decide(a).remaining) }
                for _ in 0..<2 { remaining.append(await decide(b).remaining) }
                #expect(remaining == [4, 3, 2, 1, 0])
                let refusedA = await decide(a)
                let refusedB = await decide(b)
                #expect(!refusedA.allowed && !refusedB.allowed)
                #expect(refusedA.retryAfterSeconds == 60 && refusedB.retryAfterSeconds == 60)
                #expect(a.redisDecisions == 4 && b.redisDecisions == 3)
                #expect(a.fallbackDecisions == 0 && b.fallbackDecisions == 0)
            }
        }
    }

    @Test("decisions are atomic: 40 concurrent requests over two clients on one key, exactly the burst allowed")
    func concurrentDecisionsAreAtomic() async throws {
        let workspace = uniqueWorkspace()
        let policy = RateLimitPolicy(perMinute: 1, burst: 7)
        let configuration = try RedisTestEnvironment.configuration()
        try await withRedisClient(configuration: configuration, logger: quietLogger) { clientA async throws in
            try await withRedisClient(configuration: configuration, logger: quietLogger) { clientB async throws in
                let limiters = [RateLimiter(redis: clientA, logger: quietLogger), RateLimiter(redis: clientB, logger: quietLogger)]
                let decisions = await withTaskGroup(of: RateLimitDecision.self, returning: [RateLimitDecision].self) { group in
                    for index in 0..<40 {
                        group.addTask {
                            await limiters[index % 2].decide(workspace: workspace, subject: "key-1", bucket: "agents", policy: policy)
                        }
                    }
                    return await group.reduce(into: []) { $0.append($1) }
                }
                #expect(decisions.count { $0.allowed } == 7)
                #expect(decisions.filter(\.allowed).map(\.remaining).sorted() == [0, 1, 2, 3, 4, 5, 6])
                #expect(limiters[0].fallbackDecisions + limiters[1].fallbackDecisions == 0)
            }
        }
    }

    @Test("workspaces, subjects and buckets have separate budgets, and every key carries the {workspace} hash tag")
    func separateBudgetsAndHashTags() async throws {
        let workspaces = [uniqueWorkspace(), uniqueWorkspace()]
        let policy = RateLimitPolicy(perMinute: 1, burst: 2)
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            let limiter = RateLimiter(redis: client, logger: quietLogger)
            let budgets = workspaces.flatMap { workspace in
                ["key-1", "key-2"].flatMap { subject in ["agents", "runs"].map { (workspace, subject, $0) } }
            }
            for (workspace, subject, bucket) in budgets {
                var allowed: [Bool] = []
                for _ in 0..<3 { allowed.append(await limiter.decide(workspace: workspace, subject: subject, bucket: bucket, policy: policy).allowed) }
                #expect(allowed == [true, true, false], "\(subject) \(bucket)")
            }
            for workspace in workspaces {
                let keys = try await client.send("KEYS", "{\(workspace)}:rl:*").array?.compactMap(\.string).sorted() ?? []
                #expect(keys == ["key-1:agents", "key-1:runs", "key-2:agents", "key-2:runs"].map { "{\(workspace)}:rl:\($0)" })
            }
            // Anonymous budgets, by client IP, share the `anon` tag (this test's IP is unique).
            let ip = "203.0.113.\(Int.random(in: 1...254))-\(UUID().uuidString)"
            #expect(await limiter.decide(workspace: "anon", subject: ip, bucket: "login", policy: policy).remaining == 1)
            #expect(try await client.send("EXISTS", "{anon}:rl:\(ip):login") == .integer(1))
            #expect(limiter.redisDecisions == 25)
        }
    }

    @Test("the Redis script and GCRA.decide agree on a burst at one instant, for several policies", arguments: [
        (1, 1), (1, 5), (3, 4), (7, 3), (13, 4), (60, 2),
    ])
    func scriptAgreesWithGCRA(perMinute: Int, burst: Int) async throws {
        let workspace = uniqueWorkspace()
        let policy = RateLimitPolicy(perMinute: perMinute, burst: burst)
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            let redis = RedisRateLimiter(client: client)
            var tat: Double?
            for step in 0...burst {
                let fromRedis = try await redis.decide(key: RedisRateLimiter.key(workspace: workspace, subject: "s", bucket: "b"), policy: policy)
                let (expected, newTAT) = GCRA.decide(tat: tat, now: 0, policy: policy)
                if let newTAT { tat = newTAT }
                #expect(fromRedis.allowed == expected.allowed, "step \(step)")
                #expect(fromRedis.limit == expected.limit)
                #expect(fromRedis.remaining == expected.remaining, "step \(step)")
                // Redis's clock moves on between calls, so its times may be up to a second less.
                #expect((expected.resetSeconds - 1...expected.resetSeconds).contains(fromRedis.resetSeconds), "step \(step)")
                if let retry = expected.retryAfterSeconds {
                    #expect((max(retry - 1, 1)...retry).contains(fromRedis.retryAfterSeconds ?? 0), "step \(step)")
                } else {
                    #expect(fromRedis.retryAfterSeconds == nil)
                }
            }
        }
    }

    @Test("Redis unreachable: the local limiter decides with the same limits, counts it, and warns once without key material")
    func fallsBackWhenRedisIsUnreachable() async throws {
        let workspace = uniqueWorkspace()
        let policy = RateLimitPolicy(perMinute: 60, burst: 5)
        let logs = CapturedLogs()
        let nowhere = RedisConfiguration(host: "127.0.0.1", port: try freeLocalPort())
        try await withRedisClient(configuration: nowhere, logger: quietLogger) { client async throws in
            let limiter = RateLimiter(redis: client, logger: logs.logger)
            var decisions: [RateLimitDecision] = []
            for _ in 0..<6 {
                decisions.append(await limiter.decide(workspace: workspace, subject: "key-secret-subject", bucket: "agents", policy: policy))
            }
            #expect(decisions.map(\.allowed) == [true, true, true, true, true, false])
            #expect(decisions.map(\.limit) == [5, 5, 5, 5, 5, 5])
            #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0, 0])
            #expect(decisions[5].retryAfterSeconds == 1)
            #expect(limiter.fallbackDecisions == 6)
            #expect(limiter.redisDecisions == 0)
            #expect(limiter.isDegraded)
            // Another budget is still separate.
            #expect(await limiter.decide(workspace: workspace, subject: "key-2", bucket: "agents", policy: policy).remaining == 4)
        }
        let lines = logs.lines.withLock { $0 }
        #expect(lines.count == 1, "one warning per 10 s: \(lines)")
        #expect(lines.first?.hasPrefix("warning ") == true)
        #expect(lines.first?.contains("unavailable") == true, "\(lines)")
        #expect(!lines.contains { $0.contains(workspace) || $0.contains("key-secret-subject") || $0.contains("agents") })
    }

    @Test("without a Redis client every decision is local, with the same limits")
    func withoutRedis() async {
        let limiter = RateLimiter(redis: nil, logger: quietLogger)
        let policy = RateLimitPolicy(perMinute: 60, burst: 5)
        var allowed: [Bool] = []
        for _ in 0..<6 { allowed.append(await limiter.decide(workspace: "w", subject: "s", bucket: "b", policy: policy).allowed) }
        #expect(allowed == [true, true, true, true, true, false])
        #expect(limiter.fallbackDecisions == 6 && limiter.redisDecisions == 0 && limiter.isDegraded)
    }

    @Test("an error reply falls back too, and the next good reply ends the degraded state")
    func errorReplyFallsBackThenRecovers() async throws {
        let workspace = uniqueWorkspace()
        let policy = RateLimitPolicy(perMinute: 60, burst: 5)
        let logs = CapturedLogs()
        try await withRedisClient(configuration: try RedisTestEnvironment.configuration(), logger: quietLogger) { client async throws in
            let limiter = RateLimiter(redis: client, logger: logs.logger)
            let broken = RedisRateLimiter.key(workspace: workspace, subject: "s", bucket: "list")
            _ = try await client.send("RPUSH", "\(broken)", "not a TAT")  // GET on a list: WRONGTYPE
            let fallback = await limiter.decide(workspace: workspace, subject: "s", bucket: "list", policy: policy)
            #expect(fallback.allowed && fallback.remaining == 4)
            #expect(limiter.isDegraded && limiter.fallbackDecisions == 1)
            let good = await limiter.decide(workspace: workspace, subject: "s", bucket: "agents", policy: policy)
            #expect(good.allowed && good.remaining == 4)
            #expect(!limiter.isDegraded && limiter.redisDecisions == 1)
            _ = try await client.send("DEL", "\(broken)")
        }
        let lines = logs.lines.withLock { $0 }
        #expect(lines.count == 2, "\(lines)")
        #expect(lines.first?.hasPrefix("warning ") == true && lines.first?.contains("WRONGTYPE") == true, "\(lines)")
        #expect(lines.last?.hasPrefix("info Rate limiting is back on Redis") == true, "\(lines)")
    }
}
