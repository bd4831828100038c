import Prometheus
import Synchronization
import TrellisRedis

/// The Redis client as `/metrics` shows it: every command's duration (OTel's
/// `db.client.operation.duration` with `db.system.name=redis`), failed commands, and the
/// pool's reconnects and refusals, copied from the client's counters at each scrape.
public final class RedisMetrics: Sendable {
    let duration: DurationHistogram
    let failures: Counter
    let reconnects: Counter
    let unavailable: Counter
    private let watched = Mutex<(client: RedisClient?, seen: RedisClientStatistics)>((nil, RedisClientStatistics()))

    /// Redis answers in well under a millisecond when all is well: 50 µs up to the 1 s timeout.
    static let buckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1),
    ]

    init(registry: PrometheusCollectorRegistry) {
        duration = registry.durations(
            "db_client_operation_duration", help: "Redis commands (a pipeline counts once), from send to reply or failure.",
            labels: [("db_system_name", "redis")], buckets: Self.buckets)
        failures = registry.counter(
            "trellis_redis_command_failures", help: "Redis commands that failed: an error reply, a timeout, a lost connection, or no connection up.")
        reconnects = registry.counter("trellis_redis_reconnects", help: "Lost Redis connections that were reopened.")
        unavailable = registry.counter(
            "trellis_redis_unavailable", help: "Redis commands refused at once because no connection was up (each was answered without Redis).")
    }

    /// Records one command, for ``RedisClient``'s `onCommand`.
    public func record(_ elapsed: Duration, failed: Bool) {
        duration.record(elapsed)
        if failed { failures.increment() }
    }

    /// The client whose counters each scrape copies (the server's one Redis client).
    public func watch(_ client: RedisClient) {
        watched.withLock { $0 = (client, client.statistics) }
    }

    /// Adds what the watched client counted since the last scrape.
    func refresh() {
        guard let (now, before) = watched.withLock({ state -> (RedisClientStatistics, RedisClientStatistics)? in
            guard let client = state.client else { return nil }
            let now = client.statistics
            defer { state.seen = now }
            return (now, state.seen)
        }) else { return }
        if now.reconnects > before.reconnects { reconnects.increment(by: Int64(now.reconnects - before.reconnects)) }
        if now.unavailable > before.unavailable { unavailable.increment(by: Int64(now.unavailable - before.unavailable)) }
    }
}
