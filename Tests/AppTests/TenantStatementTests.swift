import Foundation
import Logging
import NIOPosix
import PostgresNIO
import Testing
import TrellisPostgres
@testable import TrellisRuntime

/// One-statement reads run as one self-scoping statement (no BEGIN/COMMIT). They must see
/// exactly what a tenant transaction sees, and leave nothing behind on the connection.
@Suite("One-statement tenant reads")
struct TenantStatementTests {
    static let logger = Logger(label: "test")

    static func identity(_ workspace: UUID) -> Identity {
        Identity(workspaceID: workspace, kind: .apiKey, credentialID: "statement-test", scopes: ScopeSet(["*"]))
    }

    /// A row in each of two workspaces, named after the workspace.
    static func twoWorkspacesWithATool() async throws -> (UUID, UUID) {
        let mine = try await TestDatabase.shared.makeWorkspace()
        let theirs = try await TestDatabase.shared.makeWorkspace()
        for workspace in [mine, theirs] {
            try await withApp(workspace: workspace) { client, _ in
                let status = try await client.send(.post, "/v1/tools", json: #"{"name":"\#(workspace)"}"#).status
                #expect(status == .created)
            }
        }
        return (mine, theirs)
    }

    /// The row-level security policy alone (no workspace filter in the SQL) limits a scoped
    /// statement to its workspace, and the setting is gone when the statement ends, on the
    /// very same connection.
    @Test func aScopedStatementSeesOnlyItsWorkspaceAndLeavesNoSettingBehind() async throws {
        let (mine, theirs) = try await Self.twoWorkspacesWithATool()
        let url = try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")
        let client = PostgresClient(configuration: try testClientConfiguration(url, maximumConnections: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            for (workspace, other) in [(mine, theirs), (theirs, mine)] {
                let statement = TenantStatement(client: client, identity: Self.identity(workspace), logger: Self.logger)
                // BUG on purpose: no WHERE workspace_id = …; the policy must do it.
                let rows = try await statement.rows("SELECT workspace_id, name, current_setting('trellis.actor') FROM tools")
                let seen = try rows.map { try $0.decode((UUID, String, String).self) }
                #expect(seen.map(\.0) == [workspace])
                #expect(seen.map(\.1) == [workspace.uuidString])
                #expect(!seen.contains { $0.0 == other })
                #expect(seen.first?.2 == Self.identity(workspace).actor)
                // One connection in the pool: this runs where the statement ran.
                let after = try await client.query(
                    "SELECT coalesce(current_setting('trellis.workspace_id', true), ''), count(*) FROM tools", logger: Self.logger
                ).decode((String, Int64).self).all()
                #expect(after.first?.0 == "", "the workspace setting outlived its statement")
                #expect(after.first?.1 == 0)
            }
        }
    }

    /// A prepared statement that forgets the workspace filter (on purpose).
    struct EveryTool: TenantPreparedStatement {
        static var name: String { "test_every_tool" }
        static var sql: String { "SELECT workspace_id, name FROM tools" }
        static var scopedName: String { "test_scoped_every_tool" }
        static var scopedSQL: String { TenantStatement.scopedSQL(sql, workspacePlaceholder: 1, actorPlaceholder: 2) }
        func makeBindings() -> SQLBindings { SQLBindings() }
    }

    /// The prepared form is scoped the same way, and a connection that has prepared it for
    /// one workspace gives the next workspace only its own rows, with the cached generic plan
    /// too (forced here; Postgres switches to it after five executions).
    @Test func aScopedPreparedStatementSeesOnlyItsWorkspaceOnASharedConnection() async throws {
        let (mine, theirs) = try await Self.twoWorkspacesWithATool()
        let url = try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")
        var configuration = try testClientConfiguration(url, maximumConnections: 1)
        configuration.options.additionalStartupParameters.append(("plan_cache_mode", "force_generic_plan"))
        let client = PostgresClient(configuration: configuration)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let mode = try await client.query("SELECT current_setting('plan_cache_mode')", logger: Self.logger).decode(String.self).all()
            #expect(mode == ["force_generic_plan"])
            for workspace in [mine, theirs, mine, theirs, mine, theirs, mine] {
                let statement = TenantStatement(client: client, identity: Self.identity(workspace), logger: Self.logger)
                let seen = try await statement.rows(EveryTool()).map { try $0.decode((UUID, String).self) }
                #expect(seen.map(\.0) == [workspace])
                let after = try await client.query("SELECT count(*) FROM tools", logger: Self.logger).decode(Int64.self).all()
                #expect(after == [0], "the workspace setting outlived its statement")
            }
        }
    }

    /// Through the pipeline, reads of two workspaces in flight together on one connection
    /// (prepared once there, generic plan forced) each see only their own workspace's rows,
    /// and no setting outlives its statement: each is its own implicit transaction.
    @Test func pipelinedReadsOfTwoWorkspacesInFlightOnOneConnectionEachSeeOnlyTheirOwn() async throws {
        let (mine, theirs) = try await Self.twoWorkspacesWithATool()
        let url = try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")
        let oneLoop = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pipeline = PostgresPipeline(
            configuration: try DatabaseURL(url).pipelineConfiguration(startupParameters: [("plan_cache_mode", "force_generic_plan")]),
            eventLoopGroup: oneLoop, logger: Self.logger)
        try await withClient(url: url) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await pipeline.run() }
                defer { group.cancelAll() }
                try await pipeline.waitUntilOpen()
                #expect(pipeline.openConnections == 1)
                let seen = try await withThrowingTaskGroup(of: (UUID, [UUID], [UUID]).self) { reads in
                    for index in 0..<200 {
                        let workspace = index.isMultiple(of: 2) ? mine : theirs
                        reads.addTask {
                            let statement = TenantStatement(
                                client: client, identity: Self.identity(workspace), logger: Self.logger, statements: PreparedShapes(limit: 8),
                                pipeline: pipeline)
                            let prepared = try await statement.rows(EveryTool()).map { try $0.decode(UUID.self) }
                            var builder = SQLBuilder()
                            builder.append("SELECT workspace_id FROM tools WHERE name <> ")
                            builder.bind(.text("nothing"), as: "text")
                            let shaped = try await statement.rows(builder).map { try $0.decode(UUID.self) }
                            return (workspace, prepared, shaped)
                        }
                    }
                    return try await reads.reduce(into: []) { $0.append($1) }
                }
                #expect(seen.count == 200)
                for (workspace, prepared, shaped) in seen {
                    #expect(prepared == [workspace])
                    #expect(shaped == [workspace])
                }
                let after = try await pipeline.rows(
                    "SELECT coalesce(current_setting('trellis.workspace_id', true), ''), count(*) FROM tools", named: nil, SQLBindings())
                let (setting, visible) = try #require(after.first).decode((String, Int64).self)
                #expect(setting == "" && visible == 0, "a workspace setting outlived its statement")
            }
        }
        try await oneLoop.shutdownGracefully()
    }

    /// Ordered, limited reads keep their order through the wrapper, and their columns.
    @Test func theWrapperKeepsColumnsAndOrder() async throws {
        let (mine, _) = try await Self.twoWorkspacesWithATool()
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let statement = TenantStatement(client: client, identity: Self.identity(mine), logger: Self.logger)
            let rows = try await statement.rows(
                "SELECT g AS n, g::text AS n FROM generate_series(1, 50) g ORDER BY g DESC LIMIT 5")
            let values = try rows.map { try $0.decode((Int, String).self) }
            #expect(values.map(\.0) == [50, 49, 48, 47, 46])
            #expect(values.map(\.1) == ["50", "49", "48", "47", "46"])
        }
    }

    /// A statement that fails leaves the pool usable and reports the database's error.
    @Test func aFailingStatementThrowsAndTheNextOneWorks() async throws {
        let (mine, _) = try await Self.twoWorkspacesWithATool()
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let statement = TenantStatement(client: client, identity: Self.identity(mine), logger: Self.logger)
            await expectSQLState("22012") { _ = try await statement.rows("SELECT 1 / 0") }  // division_by_zero
            let rows = try await statement.rows("SELECT count(*) FROM tools")
            #expect(try rows.first?.decode(Int64.self) == 1)
        }
    }
}
