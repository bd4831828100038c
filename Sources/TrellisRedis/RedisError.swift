/// What went wrong with a Redis command or connection.
///
/// Descriptions name the failure and, for server replies, carry the server's message; they never
/// contain a password, and URL errors never repeat any part of the URL they reject.
public enum RedisError: Error, Sendable, Hashable {
    /// No connection to Redis is up (it is down, restarting, or the client is not running or has
    /// shut down). Raised at once, without waiting, so callers can degrade.
    case unavailable
    /// The command got no reply within its timeout. The connection it was sent on is closed,
    /// because any later reply on it would be taken for the reply of the next command.
    case timeout
    /// The connection closed before the reply came; the command may or may not have run.
    case connectionClosed
    /// Opening a connection failed: TCP connect, its timeout, or `AUTH`/`SELECT` refused.
    case connectionFailed(String)
    /// The server answered with an error reply (`ERR …`, `WRONGTYPE …`, `NOSCRIPT …`).
    case server(String)
    /// The bytes from the server were not valid RESP, or a reply came that no command asked for.
    case `protocol`(String)
    /// The connection already has as many commands in flight as the configuration allows.
    case overloaded
    /// `REDIS_URL` could not be parsed; the message names the part at fault, never its value.
    case invalidURL(String)
}

extension RedisError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .unavailable: "Redis is unavailable: no connection is up"
        case .timeout: "Redis command timed out"
        case .connectionClosed: "Redis connection closed before the reply arrived"
        case .connectionFailed(let reason): "Redis connection failed: \(reason)"
        case .server(let message): "Redis error reply: \(message)"
        case .protocol(let message): "Redis protocol error: \(message)"
        case .overloaded: "Redis connection overloaded: too many commands in flight"
        case .invalidURL(let reason): "invalid REDIS_URL: \(reason)"
        }
    }
}
