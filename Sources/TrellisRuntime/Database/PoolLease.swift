import Logging
import PostgresNIO

extension PostgresClient {
    /// `withConnection`, but waiting at most `leaseTimeout` for a free connection: then a
    /// 503 `service_unavailable` with `Retry-After`, never a hang (DESIGN.md §6). Inside a
    /// request, the request's deadline (``RequestDeadline``) bounds the lease too, and once a
    /// connection is leased `body` is cancelled at that deadline; Postgres's
    /// `statement_timeout` bounds each statement. `nil` waits as long as the pool makes it (the CLI).
    /// The lease is counted in `metrics` when given.
    public func withConnection<T: Sendable>(
        leaseTimeout: Duration?, measuredBy metrics: PoolMetrics? = nil, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        guard let leaseTimeout else { return try await withConnection(measuredBy: metrics, body) }
        // The lease waits until the lease timeout or the request's deadline, whichever comes
        // first; the work on the leased connection, until the request's deadline.
        let request = RequestDeadline.current?.stage
        let lease = DeadlineStage(after: leaseTimeout) { Problem.poolExhausted(after: leaseTimeout) }
        return try await withDeadline(lease.earlier(request), thenAfterSettling: request) { settle in
            try await withConnection(measuredBy: metrics) { connection in
                settle()
                return try await body(connection)
            }
        }
    }
}

extension PostgresClient {
    /// Runs one statement on a pooled connection and returns its rows: what `query(_:logger:)`
    /// does, but leased through ``withConnection(leaseTimeout:measuredBy:_:)`` like every other
    /// lease, for the background services (key-cache refresher, audit sealer) and health
    /// checks. The lease waits at most `leaseTimeout`: with Postgres unreachable, a background
    /// loop's round (and its last round at shutdown) fails after that instead of waiting for
    /// the pool's own connect attempts, which kept a stopping server up for over a minute.
    func rows(_ query: PostgresQuery, logger: Logger, leaseTimeout: Duration = backgroundLeaseTimeout) async throws -> [PostgresRow] {
        try await withConnection(leaseTimeout: leaseTimeout) { try await $0.rows(query, logger: logger) }
    }

    /// How long a background service or health check waits for a pooled connection: 5 s.
    static let backgroundLeaseTimeout: Duration = .seconds(5)
}

extension Problem {
    /// No pooled connection became free in time.
    static func poolExhausted(after timeout: Duration) -> Problem {
        .serviceUnavailable("No database connection became free within \(timeout.spoken); try again shortly")
    }

    /// The request ran past its deadline and was cancelled.
    static func deadlineExceeded(_ timeout: Duration) -> Problem {
        .serviceUnavailable("The request did not finish within \(timeout.spoken) and was cancelled; try again shortly")
    }
}
