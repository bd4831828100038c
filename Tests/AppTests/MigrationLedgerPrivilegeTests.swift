import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// Issue 7 item 4: the server role must not be able to write `trellis_migrations`, which
/// the owner's default privileges used to grant it (migration 0005 revokes it).
@Suite("The server role cannot write the migrations ledger")
struct MigrationLedgerPrivilegeTests {
    @Test("insert, update, delete and truncate on trellis_migrations are refused with 42501; select still works")
    func serverRoleCannotWriteTheLedger() async throws {
        try await TestDatabase.shared.prepare()
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let logger = Logger(label: "test")
            let rows = try await client.query("SELECT count(*) FROM trellis_migrations", logger: logger).decode(Int64.self).all()
            #expect((rows.first ?? 0) >= 4)
            // `WHERE false` and a transaction that never commits: if a statement were allowed,
            // it would still change nothing (privileges are checked before any row is touched).
            let statements = [
                "INSERT INTO trellis_migrations SELECT * FROM trellis_migrations WHERE false",
                "UPDATE trellis_migrations SET version = version WHERE false",
                "DELETE FROM trellis_migrations WHERE false",
                "TRUNCATE trellis_migrations",
            ]
            struct RolledBack: Error {}
            for statement in statements {
                do {
                    try await client.withTransaction(logger: logger) { connection in
                        _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                        throw RolledBack()
                    }
                } catch let error as PostgresTransactionError {
                    if let psql = error.closureError as? PSQLError {
                        #expect(psql.serverInfo?[.sqlState] == "42501", "\(statement): \(String(reflecting: psql))")  // insufficient_privilege
                    } else {
                        Issue.record("\(statement) was allowed")
                    }
                }
            }
        }
    }
}
