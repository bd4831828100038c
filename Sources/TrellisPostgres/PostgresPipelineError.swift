import NIOCore

/// Why a pipelined statement, or a pipeline connection, failed. Descriptions name the server
/// and the cause, never the password.
public enum PostgresPipelineError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The server refused the statement (`ErrorResponse`); only this statement failed.
    case server(PostgresServerError)
    /// The connection closed before the statement's answer was read; it may or may not have run.
    case connectionClosed
    /// No connection could be opened, or the server refused the login.
    case connectionFailed(String)
    /// Every connection has its cap of statements in flight (``PostgresPipeline/Configuration/maxInFlight``).
    case overloaded
    /// No connection is open at the moment (the pipeline is still connecting, or reconnecting).
    case unavailable
    /// The server sent something this client does not understand; the connection was closed.
    case protocolViolation(String)
    /// The caller's deadline passed before the answer came (the statement was sent and may
    /// still run; its answer goes nowhere), or before the statement was sent.
    case deadlinePassed

    /// The server's SQLSTATE; nil when no server answered the statement.
    public var sqlState: String? {
        if case .server(let error) = self { error.sqlState } else { nil }
    }

    public var description: String {
        switch self {
        case .server(let error): "Postgres refused the statement: \(error)"
        case .connectionClosed: "the Postgres connection closed before the statement was answered"
        case .connectionFailed(let reason): "cannot open a Postgres connection: \(reason)"
        case .overloaded: "every pipelined Postgres connection has its cap of statements in flight"
        case .unavailable: "no pipelined Postgres connection is open"
        case .protocolViolation(let reason): "Postgres protocol violation: \(reason)"
        case .deadlinePassed: "the caller's deadline passed before the statement was answered"
        }
    }
}

/// The fields of an `ErrorResponse` that callers map to problems (the SQLSTATE) or log
/// (severity, message, detail); none of it is shown to API clients.
public struct PostgresServerError: Sendable, Equatable, CustomStringConvertible {
    /// Field type byte -> value (`S` severity, `C` SQLSTATE, `M` message, `D` detail, `H` hint, …).
    public var fields: [UInt8: String]

    public var sqlState: String { fields[UInt8(ascii: "C")] ?? "XX000" }
    public var message: String { fields[UInt8(ascii: "M")] ?? "" }
    public var severity: String { fields[UInt8(ascii: "V")] ?? fields[UInt8(ascii: "S")] ?? "ERROR" }

    public var description: String { "\(severity) \(sqlState): \(message)" }

    init(_ body: ByteBuffer) {
        var body = body
        var fields: [UInt8: String] = [:]
        while let type: UInt8 = body.readInteger(), type != 0, let value = body.readNullTerminatedString() {
            fields[type] = value
        }
        self.fields = fields
    }
}
