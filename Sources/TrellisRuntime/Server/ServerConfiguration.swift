import Foundation
import PostgresNIO

/// Settings read from the environment and validated at start-up; every problem is
/// reported at once, and secrets are never echoed.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: String
    public var workspaceID: UUID?
    public var swaggerUIDirectory: String?
    public var logLevel: Logger.Level

    public struct Invalid: Error, CustomStringConvertible {
        public var problems: [String]
        public var description: String {
            "invalid configuration:\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
        }
    }

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        var problems: [String] = []
        let host = env["TRELLIS_HOST"] ?? "127.0.0.1"
        var port = 8080
        if let text = env["TRELLIS_PORT"] {
            if let value = Int(text), (1...65535).contains(value) { port = value } else {
                problems.append("TRELLIS_PORT must be a port number from 1 to 65535, got '\(text)'")
            }
        }
        let databaseURL = env["DATABASE_URL"] ?? ""
        if databaseURL.isEmpty {
            problems.append("DATABASE_URL is required (postgres://user:password@host:port/database, the server's role)")
        } else {
            do { _ = try DatabaseURL(databaseURL) } catch { problems.append("DATABASE_URL: \(error)") }
        }
        var workspace: UUID?
        if let text = env["TRELLIS_WORKSPACE_ID"], !text.isEmpty {
            if let id = UUID(uuidString: text) { workspace = id } else {
                problems.append("TRELLIS_WORKSPACE_ID must be a UUID, got '\(text)'")
            }
        }
        var level = Logger.Level.info
        if let text = env["TRELLIS_LOG_LEVEL"] {
            if let parsed = Logger.Level(rawValue: text) { level = parsed } else {
                problems.append("TRELLIS_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
            }
        }
        guard problems.isEmpty else { throw Invalid(problems: problems) }
        return ServerConfiguration(
            host: host, port: port, databaseURL: databaseURL, workspaceID: workspace,
            swaggerUIDirectory: env["TRELLIS_SWAGGER_UI_DIR"], logLevel: level)
    }
}
