import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The job queue as `/metrics` shows it: jobs by queue and state and the age of each queue's
/// oldest available job (measured by ``JobQueueMonitor``), and, from the worker in this
/// process, attempts by type and outcome, run time and wait before start by type, and jobs
/// rescued from lost workers. Job types come from `jobs.yaml` (a bounded set), never from clients.
public final class JobMetrics: Sendable {
    private let registry: PrometheusCollectorRegistry
    private let attempts: NIOLockedValueBox<[String: Counter]> = NIOLockedValueBox([:])
    private let runTimes: NIOLockedValueBox<[String: DurationHistogram]> = NIOLockedValueBox([:])
    private let waits: NIOLockedValueBox<[String: DurationHistogram]> = NIOLockedValueBox([:])
    private let depth: NIOLockedValueBox<[String: Gauge]> = NIOLockedValueBox([:])
    private let oldest: NIOLockedValueBox<[String: Gauge]> = NIOLockedValueBox([:])
    let rescued: Counter
    static let buckets: [Duration] = [.milliseconds(10), .milliseconds(50), .milliseconds(250), .seconds(1), .seconds(5), .seconds(30),
                                      .seconds(120), .seconds(600), .seconds(3600)]

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        rescued = registry.counter("trellis_jobs_rescued", help: "Running jobs given back to the queue because their worker stopped renewing its lease.")
    }

    /// One attempt ended on this process's worker: `outcome` is completed, failed, dead,
    /// cancelled, lost, released or unrecorded.
    public func attemptEnded(type: String, outcome: String, run: Duration, waited: Duration) {
        let counter = attempts.withLockedValue { counters in
            let key = type + "\u{0}" + outcome
            if let counter = counters[key] { return counter }
            let counter = registry.counter(
                "trellis_job_attempts", help: "Job attempts that ended, by type and outcome (completed, failed, dead, cancelled, lost, released).",
                labels: [("type", type), ("outcome", outcome)])
            counters[key] = counter
            return counter
        }
        counter.increment()
        histogram(runTimes, type, "trellis_job_run_duration", "How long job attempts ran, by type.").record(run)
        histogram(waits, type, "trellis_job_wait", "How long jobs waited between their run_at and their start, by type.").record(waited)
    }

    public func rescued(_ count: Int) {
        rescued.increment(by: Int64(count))
    }

    /// The queue's state as ``JobQueueMonitor`` last measured it.
    func record(depth rows: [(queue: String, state: String, jobs: Int, oldestAge: Double)]) {
        var seen = Set<String>()
        for row in rows {
            labelled(depth, row.queue + "\u{0}" + row.state, "trellis_jobs", "Jobs by queue and state (measured every 10 s).",
                  [("queue", row.queue), ("state", row.state)]).set(Int64(row.jobs))
            seen.insert(row.queue + "\u{0}" + row.state)
            if row.state == "available" {
                labelled(oldest, row.queue, "trellis_jobs_oldest_available_age", "Age of each queue's oldest available job.", [("queue", row.queue)],
                      unit: "seconds").set(row.oldestAge)
            }
        }
        // A queue and state seen before and empty now reads 0, not its last count.
        for (key, gauge) in depth.withLockedValue({ $0 }) where !seen.contains(key) { gauge.set(Int64(0)) }
        let withAvailable = Set(rows.filter { $0.state == "available" }.map(\.queue))
        for (queue, gauge) in oldest.withLockedValue({ $0 }) where !withAvailable.contains(queue) { gauge.set(0.0) }
    }

    private func histogram(_ box: NIOLockedValueBox<[String: DurationHistogram]>, _ type: String, _ name: String, _ help: String) -> DurationHistogram {
        box.withLockedValue { histograms in
            if let histogram = histograms[type] { return histogram }
            let histogram = registry.durations(name, help: help, labels: [("type", type)], buckets: Self.buckets)
            histograms[type] = histogram
            return histogram
        }
    }

    private func labelled(
        _ box: NIOLockedValueBox<[String: Gauge]>, _ key: String, _ name: String, _ help: String, _ labels: [(String, String)], unit: String = ""
    ) -> Gauge {
        box.withLockedValue { gauges in
            if let gauge = gauges[key] { return gauge }
            let gauge = registry.gauge(name, unit: unit, help: help, labels: labels)
            gauges[key] = gauge
            return gauge
        }
    }
}

/// Measures the job queue every ``interval`` for `/metrics` (``JobMetrics``), on every server
/// instance, whether or not it runs a worker.
public struct JobQueueMonitor: Service {
    let postgres: PostgresClient
    let metrics: JobMetrics
    let logger: Logger
    public var interval: Duration = .seconds(10)
    /// The longest wait for a pooled connection (`TRELLIS_PG_LEASE_TIMEOUT` in a server).
    public var leaseTimeout: Duration = .seconds(5)

    public init(postgres: PostgresClient, metrics: JobMetrics, logger: Logger) {
        self.postgres = postgres
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let rows = try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
                        try await connection.query(PostgresQuery(unsafeSQL: "SELECT queue, state, jobs, oldest_age_seconds FROM trellis_jobs_depth()"), logger: logger)
                            .decode((String, String, Int, Double).self).all()
                    }
                    metrics.record(depth: rows.map { (queue: $0.0, state: $0.1, jobs: $0.2, oldestAge: $0.3) })
                } catch {
                    logger.debug("could not measure the job queue", metadata: ["error": "\(String(reflecting: error))"])
                }
                try? await Task.sleep(for: interval)
            }
        }
    }
}
