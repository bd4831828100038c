import Foundation
import Logging
import TrellisRedis
import TrellisRuntime

/// The cost of one rate-limit decision (issue 10: "rate-limit decision p50 under 0.3 ms"),
/// against a real Redis and beside its baseline in the same run: a bare `PING` on the same
/// client, one decision at a time and many at once, and the in-process fallback.
enum RateLimitBenchmark: BenchmarkScenario {
    static let name = "rate-limit"
    static let summary = "one GCRA decision in Redis (p50/p99, decisions/s) beside a PING, and the in-process fallback"
    static let options = """
        --redis-url URL      the Redis to decide in (default: $REDIS_URL)
        --decisions N        decisions per phase (default 20000)
        --concurrency N      decisions in flight in the concurrent phase (default 16)
        """

    /// The goal on the 2-core machine.
    static let goalP50Microseconds = 300.0

    static func run(arguments: [String]) async throws {
        let reader = try ArgumentReader(arguments, values: ["--redis-url", "--decisions", "--concurrency"], switches: [])
        let url = reader.string("--redis-url", default: ProcessInfo.processInfo.environment["REDIS_URL"] ?? "")
        guard !url.isEmpty else { throw BenchmarkError("--redis-url (or REDIS_URL) is required") }
        let count = try reader.integer("--decisions", default: 20_000, atLeast: 100)
        let concurrency = try reader.integer("--concurrency", default: 16, atLeast: 1)
        var logger = Logger(label: "rate-limit")
        logger.logLevel = .warning
        let policy = RateLimitPolicy(perMinute: 6_000_000, burst: 1_000_000)

        try await withRedisClient(configuration: try RedisConfiguration(url: url), logger: logger) { client in
            let limiter = RateLimiter(redis: client, logger: logger)
            let local = RateLimiter(redis: nil, logger: logger)
            // Warm-up: connections open, the script loaded.
            for _ in 0..<500 { _ = await limiter.decide(workspace: "bench", subject: "warm", bucket: "b", policy: policy) }

            say("rate-limit: \(count) operations per phase; \(concurrency) in flight in the concurrent phases")
            let ping = try await sequential(count) { _ in _ = try await client.send("PING") }
            let decide = try await sequential(count) { i in
                _ = await limiter.decide(workspace: "bench", subject: "key\(i % 64)", bucket: "agents", policy: policy)
            }
            let pingMany = try await concurrent(count, concurrency) { _ in _ = try await client.send("PING") }
            let decideMany = try await concurrent(count, concurrency) { i in
                _ = await limiter.decide(workspace: "bench", subject: "key\(i % 64)", bucket: "agents", policy: policy)
            }
            let inProcess = try await sequential(count) { i in
                _ = await local.decide(workspace: "bench", subject: "key\(i % 64)", bucket: "agents", policy: policy)
            }

            say("")
            say("phase                                 ops/s      p50 µs    p99 µs")
            for (label, result) in [
                ("PING, one at a time", ping), ("decision in Redis, one at a time", decide),
                ("PING, \(concurrency) in flight", pingMany), ("decision in Redis, \(concurrency) in flight", decideMany),
                ("decision in process (fallback)", inProcess),
            ] {
                say(label.padding(toLength: 36, withPad: " ", startingAt: 0)
                    + fixed(result.rate, 0).leftPadded(9) + fixed(result.p50, 1).leftPadded(12) + fixed(result.p99, 1).leftPadded(10))
            }
            say("")
            say("decision over PING (p50, one at a time): +\(fixed(decide.p50 - ping.p50, 1)) µs")
            say("goal: decision p50 < \(Int(goalP50Microseconds)) µs (issue 10): \(fixed(decide.p50, 1)) µs "
                + (decide.p50 < goalP50Microseconds ? "PASS" : "FAIL"))
            if limiter.fallbackDecisions > 0 { say("warning: \(limiter.fallbackDecisions) decisions fell back: Redis did not answer") }
        }
    }

    struct Result {
        var rate: Double
        var p50: Double
        var p99: Double
    }

    /// `count` operations one after another: each one's latency.
    static func sequential(_ count: Int, _ operation: (Int) async throws -> Void) async throws -> Result {
        var latencies: [Double] = []
        latencies.reserveCapacity(count)
        let clock = ContinuousClock()
        let start = clock.now
        for i in 0..<count {
            let began = clock.now
            try await operation(i)
            latencies.append(microseconds(clock.now - began))
        }
        return summary(latencies, elapsed: clock.now - start)
    }

    /// `count` operations, `concurrency` at a time.
    static func concurrent(_ count: Int, _ concurrency: Int, _ operation: @escaping @Sendable (Int) async throws -> Void) async throws -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for worker in 0..<concurrency {
                group.addTask {
                    var own: [Double] = []
                    var i = worker
                    while i < count {
                        let began = ContinuousClock.now
                        try await operation(i)
                        own.append(microseconds(ContinuousClock.now - began))
                        i += concurrency
                    }
                    return own
                }
            }
            var all: [Double] = []
            for try await part in group { all += part }
            return all
        }
        return summary(latencies, elapsed: clock.now - start)
    }

    static func microseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1e6 + Double(duration.components.attoseconds) / 1e12
    }

    static func summary(_ latencies: [Double], elapsed: Duration) -> Result {
        let sorted = latencies.sorted()
        func at(_ q: Double) -> Double { sorted[min(sorted.count - 1, Int(Double(sorted.count) * q))] }
        return Result(rate: Double(sorted.count) / (microseconds(elapsed) / 1e6), p50: at(0.5), p99: at(0.99))
    }
}
