import App
import ArgumentParser
import Hummingbird
import Logging
import TrellisJobs
import TrellisRuntime

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API (configuration from the environment: DATABASE_URL, TRELLIS_HOST, TRELLIS_PORT, …).")

    @Flag(help: "Also run the job worker in this process (TRELLIS_JOBS_CONCURRENCY jobs at once per queue, default 5).")
    var withWorker = false

    func run() async throws {
        let (api, configuration, workerConfiguration) = try startProcess(withWorker: withWorker)
        let logger = Logger(label: "trellis")
        let metrics = TrellisMetrics()
        metrics.bootstrapMetricsSystem()
        let app: any ApplicationProtocol
        do {
            app = try await TrellisServer.makeApplication(
                api: api, configuration: configuration, metrics: metrics, logger: logger
            ) { services in
                guard let workerConfiguration else { return [] }
                return [JobWorker(
                    services: services, handlers: TrellisApp.jobHandlers, configuration: workerConfiguration, logger: logger,
                    metrics: metrics.jobs)]
            }
        } catch {
            throw ValidationError("invalid configuration: TRELLIS_JWKS_FILE is not a JWKS document jwt-kit can load (\(error))")
        }
        try await app.runService()
    }
}
