import Foundation
import Logging
import PostgresNIO

/// One request's database work: a transaction on one connection, with the workspace and
/// actor set for row-level security (`set_config(…, true)` lasts until COMMIT/ROLLBACK).
public struct TenantTransaction: Sendable {
    public let connection: PostgresConnection
    public let identity: Identity
    public let logger: Logger

    /// Runs `body` in one transaction for `identity`; any throw rolls everything back.
    public static func run<T: Sendable>(
        on client: PostgresClient, identity: Identity, logger: Logger,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        do {
            return try await client.withTransaction(logger: logger) { connection in
                try await connection.query(
                    "SELECT set_config('trellis.workspace_id', \(identity.workspaceID.uuidString.lowercased()), true), set_config('trellis.actor', \(identity.actor), true)",
                    logger: logger)
                return try await body(TenantTransaction(connection: connection, identity: identity, logger: logger))
            }
        } catch let error as PostgresTransactionError {
            // Surface the closure's own error (a Problem, a constraint violation) to the boundary.
            if let inner = error.closureError, error.rollbackError == nil, error.commitError == nil {
                throw inner
            }
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
