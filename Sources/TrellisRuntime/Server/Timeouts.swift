import Foundation

/// Every wait has a limit (DESIGN.md §6). Each one is set from the environment, checked at
/// start-up, and listed in docs/operations.md.
public struct Timeouts: Sendable, Hashable {
    /// The whole of a `/v1` request, after which the client gets a 503 with `Retry-After`
    /// and the work is cancelled (`TRELLIS_REQUEST_TIMEOUT`).
    public var request: Duration = .seconds(30)
    /// A connection with no request in flight is closed after this (`TRELLIS_HTTP_IDLE_TIMEOUT`).
    public var httpIdle: Duration = .seconds(60)
    /// From a request's first byte to the end of its header (`TRELLIS_HTTP_HEADER_TIMEOUT`).
    public var httpHeader: Duration = .seconds(10)
    /// From the end of a request's header to the end of its body (`TRELLIS_HTTP_BODY_TIMEOUT`).
    public var httpBody: Duration = .seconds(30)
    /// A response the client has stopped reading (the socket's send buffer full this long)
    /// is cut off by closing the connection (`TRELLIS_HTTP_WRITE_TIMEOUT`): an event stream's
    /// slow client is disconnected, never buffered for.
    public var httpWrite: Duration = .seconds(30)
    /// Waiting for a pooled Postgres connection; then 503 (`TRELLIS_PG_LEASE_TIMEOUT`).
    public var poolLease: Duration = .seconds(5)
    /// Postgres `statement_timeout` on every server connection (`TRELLIS_PG_STATEMENT_TIMEOUT`).
    public var statement: Duration = .seconds(15)
    /// Postgres `lock_timeout` on every server connection (`TRELLIS_PG_LOCK_TIMEOUT`).
    public var lock: Duration = .seconds(5)
    /// Postgres `idle_in_transaction_session_timeout` (`TRELLIS_PG_IDLE_IN_TRANSACTION_TIMEOUT`).
    public var idleInTransaction: Duration = .seconds(30)

    public init() {}

    /// The environment variable of each setting, in the order docs/operations.md lists them.
    static var variables: [(name: String, keyPath: WritableKeyPath<Timeouts, Duration>)] { [
        ("TRELLIS_REQUEST_TIMEOUT", \.request),
        ("TRELLIS_HTTP_IDLE_TIMEOUT", \.httpIdle),
        ("TRELLIS_HTTP_HEADER_TIMEOUT", \.httpHeader),
        ("TRELLIS_HTTP_BODY_TIMEOUT", \.httpBody),
        ("TRELLIS_HTTP_WRITE_TIMEOUT", \.httpWrite),
        ("TRELLIS_PG_LEASE_TIMEOUT", \.poolLease),
        ("TRELLIS_PG_STATEMENT_TIMEOUT", \.statement),
        ("TRELLIS_PG_LOCK_TIMEOUT", \.lock),
        ("TRELLIS_PG_IDLE_IN_TRANSACTION_TIMEOUT", \.idleInTransaction),
    ] }

    /// The defaults, overridden by each variable that is set; a bad value is one problem
    /// naming the variable.
    static func fromEnvironment(_ env: [String: String], problems: inout [String]) -> Timeouts {
        var timeouts = Timeouts()
        for (name, keyPath) in variables {
            guard let text = env[name], !text.isEmpty else { continue }
            if let duration = parseDuration(text), duration > .zero, duration <= .seconds(86_400) {
                timeouts[keyPath: keyPath] = duration
            } else {
                problems.append("\(name) must be a duration from 1ms to 24h such as 500ms, 30s or 2m, got '\(text)'")
            }
        }
        return timeouts
    }

    /// `500ms`, `30s`, `2m`, `1h`, or a bare number of seconds.
    static func parseDuration(_ text: String) -> Duration? {
        let units: [(suffix: String, milliseconds: Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000)]
        for (suffix, ms) in units where text.hasSuffix(suffix) {
            guard let count = Int64(text.dropLast(suffix.count)), count >= 0, count <= 86_400_000 else { return nil }
            return .milliseconds(count * ms)
        }
        guard let seconds = Int64(text), seconds >= 0, seconds <= 86_400 else { return nil }
        return .seconds(seconds)
    }

    /// Postgres settings sent in every server connection's startup packet, in milliseconds.
    var postgresSessionSettings: [(String, String)] {
        [
            ("statement_timeout", String(statement.milliseconds)),
            ("lock_timeout", String(lock.milliseconds)),
            ("idle_in_transaction_session_timeout", String(idleInTransaction.milliseconds)),
        ]
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    public var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000 + attoseconds / 1_000_000_000_000_000
    }

    /// Seconds, fractions included.
    public var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// `30 s`, `500 ms`: for messages.
    var spoken: String {
        milliseconds % 1_000 == 0 ? "\(milliseconds / 1_000) s" : "\(milliseconds) ms"
    }
}
