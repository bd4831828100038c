import PostgresNIO
import TrellisPostgres

/// A parsed `postgres://user:password@host:port/database?sslmode=…` URL.
///
/// User name, password and database are percent-decoded. Supported query parameters:
/// `sslmode` (`disable`, `allow`, `prefer` — the default, as in libpq —, `require`,
/// `verify-ca`, `verify-full`), `sslrootcert` (a PEM file of the certificates `verify-ca`
/// and `verify-full` trust instead of the system's, as a managed Postgres's CA bundle),
/// `application_name` and `connect_timeout` (seconds).
/// Errors and ``description`` never contain the password.
public struct DatabaseURL: Sendable, Hashable, CustomStringConvertible {
    public enum SSLMode: String, Sendable, Hashable, CaseIterable {
        case disable
        case allow
        case prefer
        case require
        case verifyCA = "verify-ca"
        case verifyFull = "verify-full"
    }

    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    /// nil: the server's default (the user name).
    public var database: String?
    public var sslMode: SSLMode
    /// `sslrootcert`: the PEM file of trusted certificates; nil: the system's.
    public var sslRootCertificates: String?
    public var applicationName: String?
    public var connectTimeoutSeconds: Int?

    public init(_ string: String) throws {
        self = try DatabaseURLParser.parse(string)
    }

    init(
        host: String, port: Int, username: String, password: String?, database: String?,
        sslMode: SSLMode, sslRootCertificates: String? = nil, applicationName: String?, connectTimeoutSeconds: Int?
    ) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.sslMode = sslMode
        self.sslRootCertificates = sslRootCertificates
        self.applicationName = applicationName
        self.connectTimeoutSeconds = connectTimeoutSeconds
    }

    /// The URL with the password replaced by `***`, safe to log.
    public var description: String {
        var text = "postgres://\(DatabaseURLParser.encode(username))"
        if password != nil { text += ":***" }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        text += "@\(hostPart):\(port)"
        if let database { text += "/\(DatabaseURLParser.encode(database))" }
        var query: [String] = []
        if sslMode != .prefer { query.append("sslmode=\(sslMode.rawValue)") }
        if let sslRootCertificates { query.append("sslrootcert=\(DatabaseURLParser.encode(sslRootCertificates))") }
        if !query.isEmpty { text += "?" + query.joined(separator: "&") }
        return text
    }

    /// The TLS `sslmode` asks for, the same for both clients: nil for none; else the
    /// settings (what is verified, which certificates are trusted) and whether a server
    /// without TLS is refused. As libpq: `allow` and `prefer` use TLS when the server offers
    /// it, verifying nothing; `require` insists on it, verifying nothing; `verify-ca` checks
    /// the certificate chain; `verify-full` the chain and the host name.
    /// Spelled as the pipeline's ``PostgresPipeline/Configuration/TLS``; the pool's is the
    /// same three cases (``clientConfiguration``).
    public var tls: PostgresPipeline.Configuration.TLS {
        var configuration = TLSConfiguration.makeClientConfiguration()
        switch sslMode {
        case .disable: return .disable
        case .allow, .prefer, .require: configuration.certificateVerification = .none
        case .verifyCA: configuration.certificateVerification = .noHostnameVerification
        case .verifyFull: configuration.certificateVerification = .fullVerification
        }
        if let sslRootCertificates { configuration.trustRoots = .file(sslRootCertificates) }
        return sslMode == .allow || sslMode == .prefer ? .prefer(configuration) : .require(configuration)
    }

    /// A `PostgresClient` configuration for this URL.
    public var clientConfiguration: PostgresClient.Configuration {
        let tls: PostgresClient.Configuration.TLS =
            switch self.tls {
            case .disable: .disable
            case let .prefer(settings): .prefer(settings)
            case let .require(settings): .require(settings)
            }
        var configuration = PostgresClient.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        if let applicationName {
            configuration.options.additionalStartupParameters.append(("application_name", applicationName))
        }
        if let connectTimeoutSeconds {
            configuration.options.connectTimeout = .seconds(connectTimeoutSeconds)
        }
        return configuration
    }
}

extension DatabaseURL {
    /// A ``PostgresPipeline`` configuration for this URL, with the same TLS as the pool's
    /// (``tls``).
    public func pipelineConfiguration(startupParameters: [(String, String)] = []) -> PostgresPipeline.Configuration {
        var parameters = startupParameters
        if let applicationName { parameters.append(("application_name", applicationName)) }
        var configuration = PostgresPipeline.Configuration(
            host: host, port: port, username: username, password: password, database: database, startupParameters: parameters,
            connectTimeout: .seconds(connectTimeoutSeconds ?? 10))
        configuration.tls = tls
        return configuration
    }
}

/// Why a database URL was rejected. The description never contains the password.
public struct DatabaseURLError: Error, CustomStringConvertible, Sendable, Hashable {
    public var reason: String

    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String {
        "invalid database URL: \(reason)"
    }
}

/// A `PostgresClient` configuration from a `postgres://user:pass@host:port/db` URL.
public func postgresConfiguration(fromURL url: String) throws -> PostgresClient.Configuration {
    try DatabaseURL(url).clientConfiguration
}

extension PostgresClient.Configuration {
    /// A configuration from a `postgres://user:pass@host:port/db` URL; see ``DatabaseURL``.
    public init(url: String) throws {
        self = try DatabaseURL(url).clientConfiguration
    }
}

enum DatabaseURLParser {
    static func parse(_ string: String) throws -> DatabaseURL {
        let trimmed = string.trimmingWhitespace()
        guard !trimmed.isEmpty else {
            throw DatabaseURLError("it is empty; expected postgres://user:password@host:port/database")
        }
        guard let schemeEnd = trimmed.firstRange(of: "://") else {
            throw DatabaseURLError("expected postgres://user:password@host:port/database")
        }
        let scheme = trimmed[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "postgres" || scheme == "postgresql" else {
            throw DatabaseURLError("the scheme is '\(scheme)'; use postgres:// or postgresql://")
        }
        var rest = trimmed[schemeEnd.upperBound...]

        // Fragment is not meaningful; reject it rather than guess.
        if rest.contains("#") {
            throw DatabaseURLError("it contains '#'; percent-encode it in the password as %23")
        }
        var query: Substring = ""
        if let questionMark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: questionMark)...]
            rest = rest[..<questionMark]
        }
        var path: Substring = ""
        // The authority ends at the first '/' after the last '@' (a password may hold '/' only encoded).
        let authorityStart = rest.lastIndex(of: "@").map { rest.index(after: $0) } ?? rest.startIndex
        if let slash = rest[authorityStart...].firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        var username: String? = nil
        var password: String? = nil
        var hostPort = rest
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            hostPort = rest[rest.index(after: at)...]
            if let colon = userInfo.firstIndex(of: ":") {
                username = try decode(userInfo[..<colon], what: "the user name")
                password = try decode(userInfo[userInfo.index(after: colon)...], what: "the password")
            } else {
                username = try decode(userInfo, what: "the user name")
            }
        }

        var host: String
        var portText: Substring? = nil
        if hostPort.hasPrefix("[") {
            guard let close = hostPort.firstIndex(of: "]") else {
                throw DatabaseURLError("the IPv6 host has no closing ']'")
            }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else {
                    throw DatabaseURLError("unexpected text after the IPv6 host")
                }
                portText = after.dropFirst()
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            portText = hostPort[hostPort.index(after: colon)...]
        } else {
            host = String(hostPort)
        }
        host = try decode(Substring(host), what: "the host")
        guard !host.isEmpty else {
            throw DatabaseURLError("no host; expected postgres://user:password@host:port/database")
        }
        var port = 5432
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else {
                throw DatabaseURLError("the port '\(portText)' is not a number between 1 and 65535")
            }
            port = value
        }
        guard let username, !username.isEmpty else {
            throw DatabaseURLError("no user name; expected postgres://user:password@\(host):\(port)/database")
        }

        var database: String? = nil
        if !path.isEmpty {
            let decoded = try decode(path, what: "the database name")
            if decoded.contains("/") {
                throw DatabaseURLError("the database name contains '/'")
            }
            database = decoded
        }

        var sslMode = DatabaseURL.SSLMode.prefer
        var sslRootCertificates: String? = nil
        var applicationName: String? = nil
        var connectTimeout: Int? = nil
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = try decode(parts[0], what: "a query parameter name")
            let value = parts.count > 1 ? try decode(parts[1], what: "the value of '\(key)'") : ""
            switch key {
            case "sslmode":
                guard let mode = DatabaseURL.SSLMode(rawValue: value) else {
                    let allowed = DatabaseURL.SSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                    throw DatabaseURLError("sslmode '\(value)' is not one of \(allowed)")
                }
                sslMode = mode
            case "sslrootcert":
                guard !value.isEmpty else { throw DatabaseURLError("sslrootcert is empty; expected the path of a PEM file") }
                sslRootCertificates = value
            case "application_name":
                applicationName = value
            case "connect_timeout":
                guard let seconds = Int(value), seconds > 0 else {
                    throw DatabaseURLError("connect_timeout '\(value)' is not a positive number of seconds")
                }
                connectTimeout = seconds
            default:
                throw DatabaseURLError("unsupported query parameter '\(key)' (supported: sslmode, sslrootcert, application_name, connect_timeout)")
            }
        }

        return DatabaseURL(
            host: host, port: port, username: username, password: password, database: database,
            sslMode: sslMode, sslRootCertificates: sslRootCertificates, applicationName: applicationName,
            connectTimeoutSeconds: connectTimeout)
    }

    /// Percent-decodes `text` as UTF-8. The error names `what`, never the text itself.
    static func decode(_ text: Substring, what: String) throws -> String {
        guard text.contains("%") else { return String(text) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard iterator.count >= 2,
                    let high = hexValue(iterator[iterator.startIndex]),
                    let low = hexValue(iterator[iterator.startIndex + 1])
                else {
                    throw DatabaseURLError("\(what) has a bad percent-escape (use %XX with two hex digits)")
                }
                bytes.append(high << 4 | low)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw DatabaseURLError("\(what) is not valid UTF-8 after percent-decoding")
        }
        return decoded
    }

    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            let unreserved = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || "-._~".unicodeScalars.contains(scalar)
            if unreserved {
                out.unicodeScalars.append(scalar)
            } else {
                let hex = Array("0123456789ABCDEF")
                out += "%\(hex[Int(byte >> 4)])\(hex[Int(byte & 0x0F)])"
            }
        }
        return out
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return Substring(self[first...last])
    }
}
