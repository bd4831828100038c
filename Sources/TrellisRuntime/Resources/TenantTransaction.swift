import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import TrellisPostgres

/// One request's database work: a transaction on one connection, with the workspace and
/// actor set for row-level security (`set_config(…, true)` lasts until COMMIT/ROLLBACK).
public struct TenantTransaction: TenantSession {
    public let connection: PostgresConnection
    public let identity: Identity
    /// Who sent the request, for audit entries.
    public let origin: RequestOrigin
    public let logger: Logger
    /// Which run-time shapes run as prepared statements; nil: none do.
    public let statements: PreparedShapes?
    /// Where service calls record the tables they wrote, so the read cache can move their
    /// generations once the transaction is over; nil when nothing is cached.
    public let writes: WriteLog?

    /// Runs `body` in one transaction for `identity`; any throw rolls everything back.
    /// `leaseTimeout` bounds the wait for a pooled connection (``Timeouts/poolLease``); the
    /// lease is counted in `metrics` when given (request paths pass the server's).
    /// `readOnlySnapshot` begins `ISOLATION LEVEL REPEATABLE READ READ ONLY`: every statement
    /// sees the same snapshot (one GraphQL query's levels), and none may write. `writes`
    /// collects the tables the body's service calls wrote (``WriteLog``).
    public static func run<T: Sendable>(
        on client: PostgresClient, identity: Identity, origin: RequestOrigin, logger: Logger,
        leaseTimeout: Duration? = nil, metrics: PoolMetrics? = nil, statements: PreparedShapes? = nil,
        readOnlySnapshot: Bool = false, writes: WriteLog? = nil, _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        try await client.withConnection(leaseTimeout: leaseTimeout, measuredBy: metrics) { connection in
            // BEGIN and the settings are sent back to back and awaited once: the connection
            // runs them in order, and the task is resumed once instead of twice.
            let beginSQL = readOnlySnapshot ? "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY" : "BEGIN"
            let settingsQuery = settings(for: identity, within: RequestDeadline.current)
            let begin: EventLoopFuture<PostgresQueryResult> = connection.query(PostgresQuery(unsafeSQL: beginSQL), logger: logger)
            let settings: EventLoopFuture<PostgresQueryResult> = connection.query(settingsQuery, logger: logger)
            do {
                _ = try await SQLSpan.around(beginSQL) { try await begin.get() }
            } catch {
                _ = try? await settings.get()
                throw error
            }
            do {
                _ = try await SQLSpan.around(settingsQuery.sql) { try await settings.get() }
                let value = try await body(TenantTransaction(
                    connection: connection, identity: identity, origin: origin, logger: logger, statements: statements,
                    writes: writes))
                try await connection.rows("COMMIT", logger: logger)
                return value
            } catch let refusal as RecordedRefusal {
                // The body changed nothing but the audit entry of its refusal: keep that.
                try await connection.rows("COMMIT", logger: logger)
                throw refusal.problem
            } catch {
                // A dead connection has no transaction left to roll back (Postgres discards
                // it), and asking a closing connection to ROLLBACK can wait forever.
                if !connection.isClosed, !PostgresConnection.endsSession(error) {
                    await rollback(connection, within: .seconds(2), logger: logger)
                }
                throw error
            }
        }
    }

    /// The transaction's settings: the workspace and actor, and, inside a request, Postgres's
    /// `lock_timeout` and `statement_timeout` cut to the time the request has left (never
    /// raised; a setting of 0, none, is cut too). postgres-nio does not stop a statement
    /// whose task is cancelled: it waits for the answer, and a write blocked on a lock would
    /// answer its client only at `lock_timeout`, past the request's deadline. Closing the
    /// connection instead is no way out: a query sent to a closing connection may never be
    /// answered.
    static func settings(for identity: Identity, within deadline: RequestDeadline?) -> PostgresQuery {
        var query: PostgresQuery =
            "SELECT set_config('trellis.workspace_id', \(identity.workspaceID.lowercasedString), true), set_config('trellis.actor', \(identity.actor), true)"
        guard let deadline else { return query }
        // The milliseconds left, one parameter for both settings.
        query.binds.append(max(1, (deadline.instant - .now()).nanoseconds / 1_000_000))
        let left = "$\(query.binds.count)"
        for setting in ["lock_timeout", "statement_timeout"] {
            query.sql += ", set_config('\(setting)', ceil(least(nullif(extract(epoch FROM current_setting('\(setting)')::interval) * 1000, 0), \(left)))::bigint::text, true)"
        }
        return query
    }

    /// ROLLBACK, waiting at most `limit` for its answer. A connection that is closing (its
    /// session ended between the failed statement and this check) may never answer, and a
    /// request must not wait on it forever: past the limit the connection is closed, so the
    /// pool replaces it, and the request goes on to report its error.
    static func rollback(_ connection: PostgresConnection, within limit: Duration, logger: Logger) async {
        let answered = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let resumed = NIOLockedValueBox(false)
            let finish: @Sendable (Bool) -> Void = { value in
                let first = resumed.withLockedValue { done in
                    defer { done = true }
                    return !done
                }
                if first { continuation.resume(returning: value) }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled { finish(false) }
            }
            Task {
                _ = try? await connection.rows("ROLLBACK", logger: logger)
                finish(true)
                timer.cancel()
            }
        }
        if !answered {
            // Closed before the connection goes back: the pool must not lend it out again.
            logger.warning("ROLLBACK got no answer; closing the connection")
            try? await connection.close()
        }
    }

    /// Runs `body` inside a savepoint: a throw rolls back only what `body` did, so the
    /// transaction can still record the outcome (an idempotent 409, for one).
    func savepoint<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await connection.rows("SAVEPOINT trellis_operation", logger: logger)
        do {
            let value = try await body()
            try await connection.rows("RELEASE SAVEPOINT trellis_operation", logger: logger)
            return value
        } catch {
            try await connection.rows("ROLLBACK TO SAVEPOINT trellis_operation", logger: logger)
            throw error
        }
    }

    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.rows(query, logger: logger)
    }

    public func rows(_ query: ShapedQuery) async throws -> [SQLRow] {
        try await connection.rows(query, preparedAs: statements?.name(of: query), logger: logger)
    }

    public func rows<Statement: TenantPreparedStatement>(_ statement: Statement) async throws -> [SQLRow] {
        try await connection.rows(statement, shapes: statements, logger: logger)
    }
}

/// Thrown by a service call that refused the caller after writing only the audit entry of
/// that refusal: ``TenantTransaction/run(on:identity:origin:logger:_:)`` commits the entry,
/// then reports `problem`. Throw it before any other write, never after one.
public struct RecordedRefusal: Error, Sendable {
    public var problem: Problem

    public init(_ problem: Problem) {
        self.problem = problem
    }
}
