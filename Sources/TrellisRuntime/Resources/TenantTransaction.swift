import Foundation
import Logging
import PostgresNIO

/// One request's database work: a transaction on one connection, with the workspace and
/// actor set for row-level security (`set_config(…, true)` lasts until COMMIT/ROLLBACK).
public struct TenantTransaction: TenantSession {
    public let connection: PostgresConnection
    public let identity: Identity
    /// Who sent the request, for audit entries.
    public let origin: RequestOrigin
    public let logger: Logger

    /// Runs `body` in one transaction for `identity`; any throw rolls everything back. The
    /// lease is counted in `metrics` when given (request paths pass the server's).
    public static func run<T: Sendable>(
        on client: PostgresClient, identity: Identity, origin: RequestOrigin, logger: Logger, metrics: PoolMetrics? = nil,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        try await client.withConnection(measuredBy: metrics) { connection in
            try await connection.query("BEGIN", logger: logger)
            do {
                try await connection.query(
                    "SELECT set_config('trellis.workspace_id', \(identity.workspaceID.uuidString.lowercased()), true), set_config('trellis.actor', \(identity.actor), true)",
                    logger: logger)
                let value = try await body(TenantTransaction(connection: connection, identity: identity, origin: origin, logger: logger))
                try await connection.query("COMMIT", logger: logger)
                return value
            } catch {
                // A dead connection has no transaction left to roll back (Postgres discards
                // it), and asking a closing connection to ROLLBACK can wait forever.
                if !connection.isClosed {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                }
                throw error
            }
        }
    }

    /// Runs `body` inside a savepoint: a throw rolls back only what `body` did, so the
    /// transaction can still record the outcome (an idempotent 409, for one).
    func savepoint<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await connection.query("SAVEPOINT trellis_operation", logger: logger)
        do {
            let value = try await body()
            try await connection.query("RELEASE SAVEPOINT trellis_operation", logger: logger)
            return value
        } catch {
            try await connection.query("ROLLBACK TO SAVEPOINT trellis_operation", logger: logger)
            throw error
        }
    }

    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await connection.query(query, logger: logger).all()
    }

    public func rows<Statement: TenantPreparedStatement>(_ statement: Statement) async throws -> [PostgresRow] {
        try await connection.execute(statement, logger: logger).all()
    }
}
