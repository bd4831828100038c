import Prometheus
import Synchronization
import TrellisPostgres

/// The pipelined reads as `/metrics` shows them: connections open now, connections opened
/// (the first ones and every reopening), and reads the pool ran instead because the pipeline
/// could not take them (no connection open, or every one at its cap).
public final class PipelineMetrics: Sendable {
    let connections: Gauge
    let opened: Counter
    let fallbacks: Counter
    private let watched = Mutex<(pipeline: PostgresPipeline?, seenOpened: Int)>((nil, 0))

    init(registry: PrometheusCollectorRegistry) {
        connections = registry.gauge(
            "trellis_pg_pipeline_connections", help: "Pipelined Postgres connections open now (one per event loop when all is well).")
        opened = registry.counter(
            "trellis_pg_pipeline_connections_opened", help: "Pipelined Postgres connections opened: the first ones, then each reopening of a lost one.")
        fallbacks = registry.counter(
            "trellis_pg_pipeline_fallbacks",
            help: "One-statement reads the pool ran because the pipeline had no open connection or every one was at its cap.")
    }

    /// One read the pool ran instead of the pipeline.
    public func recordFallback() {
        fallbacks.increment()
    }

    /// The pipeline each scrape reads (the server's one).
    public func watch(_ pipeline: PostgresPipeline) {
        watched.withLock { $0 = (pipeline, 0) }
    }

    /// Copies the watched pipeline's state into the series.
    func refresh() {
        guard let (pipeline, delta) = watched.withLock({ state -> (PostgresPipeline, Int)? in
            guard let pipeline = state.pipeline else { return nil }
            let opened = pipeline.connectionsOpened
            defer { state.seenOpened = opened }
            return (pipeline, opened - state.seenOpened)
        }) else { return }
        connections.set(Double(pipeline.openConnections))
        if delta > 0 { opened.increment(by: Int64(delta)) }
    }
}
