import Prometheus
import Synchronization
import TrellisPostgres

/// The pipelined reads as `/metrics` shows them: connections open now, connections opened
/// (the first ones and every reopening), statements in flight now, connections closed because
/// a statement went unanswered too long, and reads the pool ran instead because the pipeline
/// could not take them (no connection open, or every one at its cap).
public final class PipelineMetrics: Sendable {
    let connections: Gauge
    let opened: Counter
    let inFlight: Gauge
    let unansweredCloses: Counter
    let fallbacks: Counter

    private struct Watched {
        var pipeline: PostgresPipeline?
        var seenOpened = 0
        var seenUnansweredCloses = 0
    }

    private let watched = Mutex(Watched())

    init(registry: PrometheusCollectorRegistry) {
        connections = registry.gauge(
            "trellis_pg_pipeline_connections", help: "Pipelined Postgres connections open now (one per event loop when all is well).")
        opened = registry.counter(
            "trellis_pg_pipeline_connections_opened", help: "Pipelined Postgres connections opened: the first ones, then each reopening of a lost one.")
        inFlight = registry.gauge(
            "trellis_pg_pipeline_statements_in_flight", help: "Statements sent on the pipelined connections and not answered yet.")
        unansweredCloses = registry.counter(
            "trellis_pg_pipeline_unanswered_closes",
            help: "Pipelined connections closed because a statement went unanswered past the answer timeout (statement timeout + 15 s).")
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
        watched.withLock { $0 = Watched(pipeline: pipeline) }
    }

    /// Copies the watched pipeline's state into the series.
    func refresh() {
        guard let (pipeline, newlyOpened, newlyClosed) = watched.withLock({ state -> (PostgresPipeline, Int, Int)? in
            guard let pipeline = state.pipeline else { return nil }
            let (opened, closed) = (pipeline.connectionsOpened, pipeline.unansweredCloses)
            defer { (state.seenOpened, state.seenUnansweredCloses) = (opened, closed) }
            return (pipeline, opened - state.seenOpened, closed - state.seenUnansweredCloses)
        }) else { return }
        connections.set(Double(pipeline.openConnections))
        inFlight.set(Double(pipeline.statementsInFlight))
        if newlyOpened > 0 { opened.increment(by: Int64(newlyOpened)) }
        if newlyClosed > 0 { unansweredCloses.increment(by: Int64(newlyClosed)) }
    }
}
