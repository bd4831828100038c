import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

@Suite("Audit log: entries, redaction, hash chain")
struct AuditLogTests {
    struct Row: Sendable {
        var action: String
        var actor: String
        var resourceID: String?
        var before: JSONValue?
        var after: JSONValue?
        var requestID: String?
        var userAgent: String?
    }

    static func entries(_ workspace: UUID, resource: String) async throws -> [Row] {
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
            try await client.query(
                """
                SELECT action, actor, resource_id, before, after, request_id, user_agent FROM audit_log
                WHERE workspace_id = \(workspace) AND resource = \(resource) ORDER BY entry_no
                """, logger: Logger(label: "test")
            ).decode((String, String, String?, JSONValue?, JSONValue?, String?, String?).self).all().map {
                Row(action: $0.0, actor: $0.1, resourceID: $0.2, before: $0.3, after: $0.4, requestID: $0.5, userAgent: $0.6)
            }
        }
    }

    static func verify(_ workspace: UUID) async throws -> AuditChainVerifier.Report? {
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
            try await AuditChainVerifier.verify(client, workspace: workspace, logger: Logger(label: "test")).first
        }
    }

    @Test func everyWriteOfAnAuditedResourceIsRecordedWithPIIRedacted() async throws {
        try await withApp { client, workspace in
            let headers: HTTPFields = [.xRequestID: "audit-req-1", .userAgent: "audit-test/1.0"]
            let created = try await client.send(
                .post, "/v1/agents", json: #"{"name":"Ada","owner_email":"ada@example.com"}"#, headers: headers)
            let id = try #require(created.object().string("id"))
            _ = try await client.send(.patch, "/v1/agents/\(id)", json: #"{"name":"Ada L."}"#)
            #expect(try await client.send(.delete, "/v1/agents/\(id)").status == .noContent)
            let rows = try await Self.entries(workspace, resource: "agents")
            #expect(rows.map(\.action) == ["agent.created", "agent.updated", "agent.deleted"])
            #expect(rows.allSatisfy { $0.resourceID == id && $0.actor.hasPrefix("api_key:") })
            #expect(rows[0].requestID == "audit-req-1")
            #expect(rows[0].userAgent == "audit-test/1.0")
            #expect(rows[0].before == nil)
            #expect(rows[0].after?.object?.string("name") == "Ada")
            #expect(rows[1].before?.object?.string("name") == "Ada")
            #expect(rows[1].after?.object?.string("name") == "Ada L.")
            #expect(rows[2].before?.object?.string("name") == "Ada L.")
            #expect(rows[2].after == nil)
            for row in rows {
                for image in [row.before, row.after].compactMap({ $0?.object }) {
                    #expect(image.string("owner_email") == "[redacted]")
                }
            }
            let all = try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
                try await owner.query("SELECT count(*) FROM audit_log WHERE after::text LIKE '%ada@example.com%' OR before::text LIKE '%ada@example.com%'", logger: Logger(label: "t")).decode(Int64.self).all()
            }
            #expect(all == [0])
        }
    }

    @Test func unauditedResourcesAndFailedWritesLeaveNoEntry() async throws {
        try await withApp { client, workspace in
            let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"s"}"#).object().id()
            _ = try await client.send(.post, "/v1/messages", json: #"{"swarm_id":"\#(swarm)","role":"user","content":"hi"}"#)
            #expect(try await Self.entries(workspace, resource: "messages").isEmpty)  // audit: false
            _ = try await client.send(.post, "/v1/tools", json: #"{"name":"t"}"#)
            #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"t"}"#).status == .conflict)
            #expect(try await Self.entries(workspace, resource: "tools").map(\.action) == ["tool.created"])
        }
    }

    @Test func theChainVerifiesAndAnyTamperingIsReportedAtItsLink() async throws {
        let workspace = try await withApp { client, workspace in
            for i in 0..<5 { _ = try await client.send(.post, "/v1/tools", json: #"{"name":"t\#(i)"}"#) }
            return workspace
        }
        let intact = try #require(try await Self.verify(workspace))
        #expect(intact.brokenLink == nil)
        #expect(intact.entries >= 6)  // the key's creation + 5 tools
        // Someone with the owner's rights edits one entry, bypassing the append-only trigger.
        // ownerDDL: one transaction whose ALTER TABLE gives up its place in the lock queue after
        // 100 ms and retries, so it never stalls every other suite's audit writes behind a
        // transaction that waits on them (a test that holds an audit insert open, say).
        let id = workspace.uuidString.lowercased()
        try await ownerDDL([
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "UPDATE audit_log SET actor = 'nobody' WHERE workspace_id = '\(id)' AND seq = 3",
            "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only",
        ])
        let edited = try #require(try await Self.verify(workspace))
        #expect(edited.brokenLink?.seq == 3)
        #expect(edited.brokenLink?.reason.contains("altered") == true)
        // Deleting an entry breaks the link after it.
        try await ownerDDL([
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "DELETE FROM audit_log WHERE workspace_id = '\(id)' AND seq IN (2, 3)",
            "ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only",
        ])
        let cut = try #require(try await Self.verify(workspace))
        #expect(cut.brokenLink?.seq == 4)
        #expect(cut.brokenLink?.reason.contains("missing") == true)
    }

    @Test func theOwnerCannotRewriteTheLogThroughTheTriggerEither() async throws {
        let workspace = try await withApp { client, workspace in
            _ = try await client.send(.post, "/v1/tools", json: #"{"name":"t"}"#)
            return workspace
        }
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
            await expectSQLState("P0001") {  // raise_exception, from the append-only trigger
                try await owner.query("UPDATE audit_log SET actor = 'x' WHERE workspace_id = \(workspace)", logger: logger)
            }
            await expectSQLState("P0001") {
                try await owner.query("DELETE FROM audit_log WHERE workspace_id = \(workspace)", logger: logger)
            }
        }
        #expect(try await Self.verify(workspace)?.brokenLink == nil)
    }
}
