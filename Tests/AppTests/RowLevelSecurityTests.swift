import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

@Suite("Postgres row-level security on tenant tables")
struct RowLevelSecurityTests {
    /// Direct SQL as the server's role: without `trellis.workspace_id` it sees and writes nothing;
    /// with it, only that workspace's rows.
    @Test func theServerRoleSeesOnlyTheWorkspaceItSet() async throws {
        let mine = try await TestDatabase.shared.makeWorkspace()
        let theirs = try await TestDatabase.shared.makeWorkspace()
        for workspace in [mine, theirs] {
            try await withApp(workspace: workspace) { client, _ in
                let status = try await client.send(.post, "/v1/tools", json: #"{"name":"t"}"#).status
                #expect(status == .created)
            }
        }
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let unscoped = try await client.query("SELECT count(*) FROM tools", logger: logger).collect()
            #expect(try unscoped.first?.decode(Int64.self) == 0)
            await expectSQLState("42501") {  // insufficient_privilege: the policy's WITH CHECK
                try await client.query(
                    "INSERT INTO tools (id, workspace_id, name) VALUES (\(UUID.v7()), \(mine), 'sneaky')", logger: logger)
            }
            try await client.withTransaction(logger: logger) { connection in
                _ = try await connection.query(
                    "SELECT set_config('trellis.workspace_id', \(mine.uuidString.lowercased()), true)", logger: logger)
                let rows = try await connection.query("SELECT workspace_id FROM tools", logger: logger).collect()
                #expect(try rows.map { try $0.decode(UUID.self) } == [mine])
                // Writing into another workspace is refused even with a workspace set.
                await expectSQLState("42501") {
                    try await connection.query(
                        "INSERT INTO tools (id, workspace_id, name) VALUES (\(UUID.v7()), \(theirs), 'x')", logger: logger)
                }
            }
        }
    }
}
