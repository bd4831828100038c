import App
import ArgumentParser
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import TrellisJobs
import TrellisRuntime

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the job worker without HTTP (configuration from the environment: DATABASE_URL, REDIS_URL, TRELLIS_JOBS_*).")

    func run() async throws {
        let (api, configuration, settings) = try startProcess(withWorker: true)
        guard let workerConfiguration = settings else { return }
        let metricsPort = try Self.metricsPort()
        let logger = Logger(label: "trellis.worker")
        let metrics = TrellisMetrics()
        metrics.bootstrapMetricsSystem()
        let (services, background) = try await TrellisServer.makeServices(
            api: api, configuration: configuration, metrics: metrics, logger: logger)
        let worker = JobWorker(
            services: services, handlers: TrellisApp.jobHandlers, configuration: workerConfiguration, logger: logger, metrics: metrics.jobs)
        var running: [any Service] = background + [worker]
        if let metricsPort {
            // Last, so it stops first on SIGTERM.
            running.append(Application(
                router: TrellisServer.makeWorkerRouter(services: services, metricsToken: configuration.metricsToken),
                configuration: .init(address: .hostname(configuration.host, port: metricsPort), serverName: "Trellis worker"),
                logger: logger))
        }
        let group = ServiceGroup(services: running, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }

    /// `TRELLIS_WORKER_METRICS_PORT`: where the worker serves `/metrics` and `/health/*`
    /// (on `TRELLIS_HOST`); unset: no HTTP at all.
    static func metricsPort(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Int? {
        guard let text = env["TRELLIS_WORKER_METRICS_PORT"], !text.isEmpty else { return nil }
        guard let port = Int(text), (1...65_535).contains(port) else {
            throw ValidationError("TRELLIS_WORKER_METRICS_PORT must be a port from 1 to 65535, got '\(text)'")
        }
        return port
    }
}
