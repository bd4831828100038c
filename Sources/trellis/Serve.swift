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
        let level = configuration.logLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level) }
        let logger = Logger(label: "trellis")
        if configuration.workspaceID == nil {
            logger.warning("TRELLIS_WORKSPACE_ID is not set: /v1 requests will be refused until authentication is configured")
        }
        let app = try TrellisServer.makeApplication(api: TrellisApp.api, configuration: configuration, logger: logger)
        try await app.runService()
    }
}
