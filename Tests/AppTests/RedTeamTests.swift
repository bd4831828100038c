import Foundation
import HTTPTypes
import Hummingbird
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// Workspace A attacks workspace B through every generated operation and through the
/// platform endpoints. Nothing of B's may be read, listed, searched, changed, deleted or
/// referenced, and B's rows must be exactly as they were afterwards.
@Suite("Red team: one workspace against another")
struct RedTeamTests {
    /// B's rows: one per resource, each with searchable text "zebra".
    struct Victim: Sendable {
        var workspace: UUID
        var ids: [String: String]

        /// B's row in `collection`.
        func id(_ collection: String) throws -> String {
            guard let id = ids[collection] else { throw Unexpected(message: "the victim has no \(collection) row") }
            return id
        }
    }

    static func makeVictim() async throws -> Victim {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let ids = try await withApp(workspace: workspace) { (client, _) async throws in
            var ids: [String: String] = [:]
            let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"zebra swarm","goal":"zebra"}"#).object()
            let swarmID = try swarm.id()
            ids["swarms"] = swarmID
            let agent = try await client.send(.post, "/v1/agents", json: #"{"name":"zebra agent","swarm_id":"\#(swarmID)"}"#).object()
            ids["agents"] = try agent.id()
            ids["tools"] = try await client.send(.post, "/v1/tools", json: #"{"name":"zebra tool"}"#).object().id()
            ids["messages"] = try await client.send(
                .post, "/v1/messages", json: #"{"swarm_id":"\#(swarmID)","role":"user","content":"zebra"}"#
            ).object().id()
            return ids
        }
        #expect(ids.count == 4)
        return Victim(workspace: workspace, ids: ids)
    }

    /// Every row of B, as a superuser sees it, to compare before and after.
    static func snapshot(_ victim: Victim) async throws -> [String] {
        try await withInspector { client in
            var rows: [String] = []
            for table in ["agents", "swarms", "tools", "messages"] {
                rows += try await client.query(
                    "SELECT \(unescaped: table)::text FROM \(unescaped: table) WHERE workspace_id = \(victim.workspace) ORDER BY id",
                    logger: Logger(label: "test")
                ).decode(String.self).all()
            }
            return rows
        }
    }

    @Test func workspaceAsKeyCannotTouchWorkspaceBsRowsThroughAnyOperation() async throws {
        let victim = try await Self.makeVictim()
        let before = try await Self.snapshot(victim)
        #expect(before.count == 4)
        try await withApp { (attacker, _) async throws in
            for (path, id) in victim.ids {
                #expect(try await attacker.send(.get, "/v1/\(path)/\(id)").status == .notFound, "get \(path)")
                #expect(try await attacker.send(.patch, "/v1/\(path)/\(id)", json: #"{}"#).status == .notFound, "patch {} \(path)")
                let field = path == "messages" ? #"{"content":"pwned"}"# : #"{"name":"pwned"}"#
                #expect(try await attacker.send(.patch, "/v1/\(path)/\(id)", json: field).status == .notFound, "patch \(path)")
                #expect(try await attacker.send(.patch, "/v1/\(path)/\(id)", json: field, headers: [.ifMatch: "\"1\""]).status == .notFound)
                #expect(try await attacker.send(.delete, "/v1/\(path)/\(id)").status == .notFound, "delete \(path)")
                #expect(try await attacker.send(.delete, "/v1/\(path)/\(id)", headers: [.ifMatch: "\"1\""]).status == .notFound)
                let list = try await attacker.send(.get, "/v1/\(path)?limit=100")
                #expect(list.status == .ok)
                #expect(!list.text.contains(id), "list \(path) leaks")
                #expect(!list.text.contains(victim.workspace.uuidString.lowercased()))
            }
            for path in ["agents", "swarms", "messages"] {
                let search = try await attacker.send(.get, "/v1/\(path)/search?q=zebra")
                #expect(search.status == .ok)
                #expect(try search.object().array("data").isEmpty, "search \(path) leaks")
            }
            // Filters naming B's ids find nothing.
            let filtered = try await attacker.send(.get, "/v1/agents?swarm_id=\(victim.id("swarms"))")
            #expect(try filtered.object().array("data").isEmpty)
            // References into B are 422 on the field, whether or not the row exists.
            let reference = try await attacker.send(.post, "/v1/agents", json: #"{"name":"x","swarm_id":"\#(victim.id("swarms"))"}"#)
            #expect(reference.status == .unprocessableContent)
            #expect(try problemErrors(reference) == ["/swarm_id format"])
            let nowhere = try await attacker.send(.post, "/v1/agents", json: #"{"name":"x","swarm_id":"\#(UUID().uuidString)"}"#)
            #expect(try problemErrors(nowhere) == ["/swarm_id format"])
            #expect(try nowhere.object().string("detail") == reference.object().string("detail"))
            let mine = try await attacker.send(.post, "/v1/agents", json: #"{"name":"mine"}"#).object().id()
            let repoint = try await attacker.send(.patch, "/v1/agents/\(mine)", json: #"{"swarm_id":"\#(victim.id("swarms"))"}"#)
            #expect(repoint.status == .unprocessableContent)
            let message = try await attacker.send(
                .post, "/v1/messages", json: #"{"swarm_id":"\#(victim.id("swarms"))","role":"user","content":"x"}"#)
            #expect(message.status == .unprocessableContent)
            // The same unique name is free in another workspace (uniqueness is per workspace).
            #expect(try await attacker.send(.post, "/v1/tools", json: #"{"name":"zebra tool"}"#).status == .created)
        }
        #expect(try await Self.snapshot(victim) == before)
    }

    @Test func aReadOnlyKeyOfAnotherWorkspaceGetsNothingEither() async throws {
        let victim = try await Self.makeVictim()
        try await withApp(scopes: ["agents:read"]) { (attacker, _) async throws in
            #expect(try await attacker.send(.get, "/v1/agents/\(victim.id("agents"))").status == .notFound)
            #expect(try await attacker.send(.delete, "/v1/agents/\(victim.id("agents"))").status == .forbidden)
        }
    }

    /// A handler with a bug: it forgets the workspace filter. Postgres RLS still returns
    /// only the caller's rows.
    @Test func aHandlerThatForgetsTheWorkspaceFilterStillSeesNothingForeign() async throws {
        let victim = try await Self.makeVictim()
        try await withApp(configure: { router, services in
            router.group("v1").add(middleware: AuthenticationMiddleware(authenticator: services.authenticator))
                .get("buggy/agents") { request, context -> String in
                    let identity = try context.authorized(for: "agents:read")
                    return try await TenantTransaction.run(
                        on: services.postgres, identity: identity, origin: context.origin(request), logger: context.logger
                    ) { tx in
                        // BUG (on purpose): no WHERE workspace_id = …
                        let rows = try await tx.connection.query("SELECT workspace_id::text FROM agents", logger: tx.logger)
                        return try await rows.decode(String.self).all().joined(separator: ",")
                    }
                }
        }) { attacker, workspace in
            _ = try await attacker.send(.post, "/v1/agents", json: #"{"name":"mine"}"#)
            let res = try await attacker.send(.get, "/v1/buggy/agents")
            #expect(res.status == .ok)
            let seen = Set(res.text.split(separator: ",").map(String.init))
            #expect(seen == [workspace.uuidString.lowercased()])
            #expect(!res.text.contains(victim.workspace.uuidString.lowercased()))
        }
    }

    /// The server's role without the workspace setting sees no tenant row of any table and
    /// cannot insert one; nor can it read other workspaces' keys, idempotency records or
    /// audit entries, or rewrite the audit log.
    @Test func theServerRoleWithoutTheSettingSeesAndWritesNothing() async throws {
        let victim = try await Self.makeVictim()
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            for table in ["agents", "swarms", "tools", "messages", "api_keys", "idempotency_keys", "audit_log", "workspaces"] {
                let count = try await client.query("SELECT count(*) FROM \(unescaped: table)", logger: logger).decode(Int64.self).all()
                #expect(count == [0], "\(table) is visible without a workspace")
            }
            await expectSQLState("42501") {  // the policy's WITH CHECK
                try await client.query(
                    "INSERT INTO tools (id, workspace_id, name) VALUES (\(UUID.v7()), \(victim.workspace), 'sneaky')", logger: logger)
            }
            await expectSQLState("42501") {  // no privilege on the table
                try await client.query("SELECT count(*) FROM audit_chain_heads", logger: logger)
            }
            try await client.withTransaction(logger: logger) { connection in
                _ = try await connection.query(
                    "SELECT set_config('trellis.workspace_id', \(victim.workspace.uuidString.lowercased()), true)", logger: logger)
                let entries = try await connection.query("SELECT count(*) FROM audit_log", logger: logger).decode(Int64.self).all()
                #expect(entries.first ?? 0 > 0)
            }
            for statement in ["UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"] {
                do {
                    try await client.withTransaction(logger: logger) { connection in
                        _ = try await connection.query(
                            "SELECT set_config('trellis.workspace_id', \(victim.workspace.uuidString.lowercased()), true)", logger: logger)
                        _ = try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    Issue.record("\(statement) was allowed")
                } catch let error as PostgresTransactionError {
                    let psql = try #require(error.closureError as? PSQLError)
                    #expect(psql.serverInfo?[.sqlState] == "42501", "\(statement)")  // insufficient_privilege
                }
            }
        }
    }
}
