import App
import ArgumentParser
import Hummingbird
import Logging
import TrellisRuntime

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API (configuration from the environment: DATABASE_URL, TRELLIS_HOST, TRELLIS_PORT, …).")

    @Flag(help: "Also run the job worker in this process (the worker arrives with the jobs issue; accepted now so scripts keep working).")
    var withWorker = false

    func run() async throws {
        let configuration: ServerConfiguration
        do {
            configuration = try ServerConfiguration.fromEnvironment()
        } catch {
            throw ValidationError("\(error)")
        }
        if configuration.eventLoopExecutor { TrellisServer.useEventLoopsAsGlobalExecutor() }
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let logger = Logger(label: "trellis")
        let metrics = TrellisMetrics()
        metrics.bootstrapMetricsSystem()
        let app: any ApplicationProtocol
        do {
            app = try await TrellisServer.makeApplication(
                api: TrellisApp.api, configuration: configuration, metrics: metrics, logger: logger)
        } catch {
            throw ValidationError("invalid configuration: TRELLIS_JWKS_FILE is not a JWKS document jwt-kit can load (\(error))")
        }
        try await app.runService()
    }
}
