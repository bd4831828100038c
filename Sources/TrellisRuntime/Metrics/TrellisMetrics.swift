import Metrics
import Prometheus

/// Every series this server exports, in one Prometheus registry that `GET /metrics` renders.
///
/// The handles are made from the registry directly, not through the swift-metrics global
/// factory, so each ``TrellisServices`` (each test's app, too) owns its own registry and
/// nothing fights over a process-wide bootstrap. `trellis serve` additionally points the
/// swift-metrics API at the same registry (``bootstrapMetricsSystem()``), so a library that
/// records through swift-metrics shows up on the same page.
public struct TrellisMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    /// Request duration (and count) by route template, method and status class.
    let http: HTTPServerMetrics
    /// Leases of Postgres connections taken by request transactions and reads.
    public let pool: PoolMetrics
    /// Refused credentials, by ``AuthenticationFailure/Reason`` (plus the middleware's own).
    let authFailures: LabelledCounters
    /// Problem responses, by problem `code`.
    let problems: LabelledCounters
    /// Rate-limit decisions, by outcome: `allowed`, `refused`, and `fallback` for each one the
    /// in-process limiter made because Redis could not.
    let rateLimits: LabelledCounters
    /// Cached reads, by ``ReadCache/Outcome``: hit, stale, miss, collapsed, bypass.
    let cacheReads: LabelledCounters
    /// Redis command latency, failures, reconnects.
    public let redis: RedisMetrics
    /// The pipelined reads' connections and fallbacks to the pool.
    public let pipeline: PipelineMetrics
    /// Open event streams, relayed events, stalled connections.
    public let events: EventMetrics
    /// The job queue's depth and the attempts of this process's worker.
    public let jobs: JobMetrics
    /// Webhook circuits and audit-chain verification (``OperationsMonitor``).
    public let operations: OperationsMetrics
    /// Connections closed because their client stopped reading (``Timeouts/httpWrite``).
    public var stalledConnections: Prometheus.Counter { events.stalledConnections }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        http = HTTPServerMetrics(registry: registry)
        pool = PoolMetrics(registry: registry)
        authFailures = LabelledCounters(
            registry: registry, name: "trellis_auth_failures", label: "reason",
            help: "Requests refused with 401, by the reason the credential was refused.")
        problems = LabelledCounters(
            registry: registry, name: "trellis_problems", label: "code",
            help: "RFC 9457 problem responses sent, by problem code.")
        rateLimits = LabelledCounters(
            registry: registry, name: "trellis_rate_limit_decisions", label: "outcome",
            help: "Rate-limit decisions: allowed, refused, and fallback (made in process because Redis could not answer).")
        redis = RedisMetrics(registry: registry)
        pipeline = PipelineMetrics(registry: registry)
        events = EventMetrics(registry: registry)
        jobs = JobMetrics(registry: registry)
        operations = OperationsMetrics(registry: registry)
        cacheReads = LabelledCounters(
            registry: registry, name: "trellis_cache_reads", label: "outcome",
            help: "Reads of cached resources: hit, stale (served while refreshed), miss, collapsed (waited for another request's miss), bypass (Redis unusable: read from Postgres).")
    }

    /// Counts `realtime`'s streams and relay in each scrape.
    public func watch(_ realtime: Realtime) {
        events.watch(realtime)
    }

    /// Routes the swift-metrics API (`Counter(label:)`, `Timer(label:)`, …) to ``registry``.
    /// swift-metrics allows this once per process and traps on a second call, so only
    /// `trellis serve` calls it; tests read their own registry instead.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }
}
