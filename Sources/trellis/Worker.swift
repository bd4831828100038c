import App
import ArgumentParser
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
        let logger = Logger(label: "trellis.worker")
        let metrics = TrellisMetrics()
        let (services, background) = try await TrellisServer.makeServices(
            api: api, configuration: configuration, metrics: metrics, logger: logger)
        let worker = JobWorker(
            services: services, handlers: TrellisApp.jobHandlers, configuration: workerConfiguration, logger: logger, metrics: metrics.jobs)
        let group = ServiceGroup(services: background + [worker], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
