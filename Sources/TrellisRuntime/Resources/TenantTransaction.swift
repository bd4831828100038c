import Foundation
import Logging
import PostgresNIO

/// One request's database work: a transaction on one connection, with the workspace and
/// actor set for row-level security (`set_config(…, true)` lasts until COMMIT/ROLLBACK).
public struct TenantTransaction: Sendable {
    public let connection: PostgresConnection
    public let identity: Identity
    /// Who sent the request, for audit entries.
    public let origin: RequestOrigin
    public let logger: Logger

    /// Runs `body` in one transaction for `identity`; any throw rolls everything back.
    public static func run<T: Sendable>(
        on client: PostgresClient, identity: Identity, origin: RequestOrigin, logger: Logger,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SELECT set_config('trellis.workspace_id', \(identity.workspaceID.uuidString.lowercased()), true), set_config('trellis.actor', \(identity.actor), true)",
                    logger: logger)
                return try await body(TenantTransaction(connection: connection, identity: identity, origin: origin, logger: logger))
            }
        } catch let error as PostgresTransactionError {
            // Surface the closure's own error (a Problem, a constraint violation) to the boundary.
            if let inner = error.closureError, error.rollbackError == nil, error.commitError == nil {
                throw inner
            }
            throw error
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

    func rows(_ builder: SQLBuilder) async throws -> [PostgresRow] {
        var result: [PostgresRow] = []
        for try await row in try await connection.query(builder.query, logger: logger) {
            result.append(row)
        }
        return result
    }
}
