import Foundation
import PostgresNIO

/// Settings read from the environment and validated at start-up; every problem is
/// reported at once, and secrets are never echoed.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: String
    /// Set when `TRELLIS_JWT_SECRET` or `TRELLIS_JWKS_FILE` is: bearer JWTs are accepted.
    public var jwt: JWTAuthenticator.Configuration?
    public var swaggerUIDirectory: String?
    public var logLevel: Logger.Level
    /// `TRELLIS_METRICS_TOKEN`: when set, `GET /metrics` needs it as a bearer token.
    public var metricsToken: String?

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
        let jwt = jwtConfiguration(env, problems: &problems)
        var level = Logger.Level.info
        if let text = env["TRELLIS_LOG_LEVEL"] {
            if let parsed = Logger.Level(rawValue: text) { level = parsed } else {
                problems.append("TRELLIS_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
            }
        }
        let metricsToken = env["TRELLIS_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let metricsToken, metricsToken.utf8.count < 16 {
            problems.append("TRELLIS_METRICS_TOKEN must be at least 16 characters (or unset, to serve /metrics without a token)")
        }
        guard problems.isEmpty else { throw Invalid(problems: problems) }
        var configuration = ServerConfiguration(
            host: host, port: port, databaseURL: databaseURL, jwt: jwt,
            swaggerUIDirectory: env["TRELLIS_SWAGGER_UI_DIR"], logLevel: level)
        configuration.metricsToken = metricsToken
        return configuration
    }

    /// JWT settings: a secret (HS256, at least 32 bytes) or a JWKS file, not both; issuer,
    /// audience and workspace claim path are optional.
    static func jwtConfiguration(_ env: [String: String], problems: inout [String]) -> JWTAuthenticator.Configuration? {
        let secret = env["TRELLIS_JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        let jwksPath = env["TRELLIS_JWKS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let keys: JWTAuthenticator.Configuration.Keys
        switch (secret, jwksPath) {
        case (nil, nil):
            return nil
        case (.some, .some):
            problems.append("set TRELLIS_JWT_SECRET or TRELLIS_JWKS_FILE, not both")
            return nil
        case let (secret?, nil):
            guard secret.utf8.count >= 32 else {
                problems.append("TRELLIS_JWT_SECRET must be at least 32 bytes (it is an HS256 key)")
                return nil
            }
            keys = .hmacSecret(secret)
        case let (nil, path?):
            guard let data = FileManager.default.contents(atPath: path), let json = String(data: data, encoding: .utf8) else {
                problems.append("TRELLIS_JWKS_FILE: cannot read '\(path)'")
                return nil
            }
            keys = .jwks(json: json)
        }
        let claim = env["TRELLIS_JWT_WORKSPACE_CLAIM"].flatMap { $0.isEmpty ? nil : $0 } ?? "workspace_id"
        if claim.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            problems.append("TRELLIS_JWT_WORKSPACE_CLAIM must be a dotted claim path such as app_metadata.workspace_id, got '\(claim)'")
        }
        return JWTAuthenticator.Configuration(
            keys: keys, issuer: env["TRELLIS_JWT_ISSUER"].flatMap { $0.isEmpty ? nil : $0 },
            audience: env["TRELLIS_JWT_AUDIENCE"].flatMap { $0.isEmpty ? nil : $0 }, workspaceClaim: claim)
    }
}
