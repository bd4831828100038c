import App
import Foundation
import Logging
import PostgresNIO
import Testing
import TrellisJobs
@testable import TrellisRuntime

/// Retention from the schema (issue 12, item 5): the `trellis.retention` job deletes or
/// archives exactly the rows past their time in its own workspace, in bounded batches, and
/// records one summary audit entry; the built-in schedule exists whenever a resource has a rule.
@Suite("retention (issue 12)", .serialized)
struct RetentionJobTests {
    static let rules = [
        RetentionRule(resource: "agents", table: "agents", action: .delete, after: .seconds(2 * 86_400)),
        RetentionRule(resource: "messages", table: "messages", action: .archive, after: .seconds(2 * 86_400)),
    ]

    /// Moves `created_at` of the given rows back `days` days, as the superuser.
    static func age(_ table: String, _ ids: [String], days: Int) async throws {
        try await withInspector { client in
            for id in ids {
                _ = try await client.query(
                    PostgresQuery(unsafeSQL: "UPDATE \(table) SET created_at = now() - interval '\(days) days' WHERE id = '\(id)'"),
                    logger: silentLogger)
            }
        }
    }

    static func createAgents(_ api: APIClient, _ names: [String]) async throws -> [String] {
        var ids: [String] = []
        for name in names {
            ids.append(try await api.send(.post, "/v1/agents", json: #"{"name":"\#(name)"}"#).object().id())
        }
        return ids
    }

    @Test func theJobRemovesExactlyItsWorkspacesRowsPastTheirTimeAndAuditsTheRun() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        var api = TrellisApp.api
        api.retention = Self.rules
        #expect(api.scheduledJobs.schedules.contains { $0.name == "trellis.retention" && $0.job == "trellis.retention" })
        #expect(!api.jobs.contains { $0.type == "trellis.retention" }, "POST /v1/jobs does not take it")
        // Another workspace's old agent: never touched by this workspace's run.
        let other = try await withApp { other, _ in
            let id = try await Self.createAgents(other, ["elsewhere"])
            try await Self.age("agents", id, days: 10)
            return id[0]
        }
        try await withApp(api: api, alongside: { [JobQueueTests.worker($0, queue: queue)] }) { client, workspace in
            let old = try await Self.createAgents(client, ["old-1", "old-2", "old-3"])
            let fresh = try await Self.createAgents(client, ["fresh"])
            let young = try await Self.createAgents(client, ["one-day"])
            try await Self.age("agents", old, days: 3)
            try await Self.age("agents", young, days: 1)
            let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"S"}"#).object().id()
            var messages: [String] = []
            for text in ["first", "second"] {
                messages.append(try await client.send(
                    .post, "/v1/messages", json: #"{"swarm_id":"\#(swarm)","role":"user","content":"\#(text)"}"#).object().id())
            }
            try await Self.age("messages", [messages[0]], days: 5)
            let (archivedID, keptID) = (messages[0], messages[1])

            // The job, as the schedule enqueues it in each workspace (here on this test's own queue).
            let definition = JobDefinition(
                RetentionPayload.self, description: Retention.jobDefinition.description, queue: queue, priority: 0, maxAttempts: 1,
                backoff: Retention.jobDefinition.backoff, timeoutSeconds: 60, uniqueForSeconds: nil)
            let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "test", scopes: ScopeSet(["*"]))
            let job = try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { pg in
                try await TenantTransaction.run(
                    on: pg, identity: identity, origin: RequestOrigin(requestID: "t", ip: nil, userAgent: nil), logger: silentLogger
                ) { tx in try await JobQueue(definitions: [definition]).enqueue(RetentionPayload(), in: tx) }
            }
            let done = try await JobQueueTests.waitFor(client, job.job.id.lowercasedString) { $0.string("state") == "completed" }
            #expect(done["result"] == .object(JSONObject(["agents": .integer(3), "messages": .integer(1)])), "\(done)")

            for id in old { #expect(try await client.send(.get, "/v1/agents/\(id)").status == .notFound) }
            for id in fresh + young { #expect(try await client.send(.get, "/v1/agents/\(id)").status == .ok) }
            #expect(try await client.send(.get, "/v1/messages/\(archivedID)").status == .notFound)
            #expect(try await client.send(.get, "/v1/messages/\(keptID)").status == .ok)
            try await withInspector { inspector in
                let archived = try await inspector.query(
                    "SELECT resource, data->>'content', data->>'id' FROM archived_rows WHERE workspace_id = \(workspace)", logger: silentLogger
                ).collect().map { try $0.decode((String, String, String).self) }
                #expect(archived.count == 1)
                #expect(archived.first?.0 == "messages" && archived.first?.1 == "first" && archived.first?.2 == archivedID)
                let audit = try await inspector.query(
                    "SELECT after::text FROM audit_log WHERE workspace_id = \(workspace) AND action = 'retention.applied'", logger: silentLogger
                ).collect().map { try $0.decode(String.self) }
                #expect(audit.count == 1, "one summary entry per run: \(audit)")
                #expect(audit.first?.contains(#""rows": 3"#) == true && audit.first?.contains("archived") == true, "\(audit)")
                let elsewhere = try await inspector.query("SELECT count(*)::bigint FROM agents WHERE id = \(UUID(uuidString: other)!)", logger: silentLogger)
                    .collect().first?.decode(Int64.self)
                #expect(elsewhere == 1)
            }
        }
    }

    @Test func aRunRemovesAtMostItsBatchBoundAndTheNextCarriesOn() async throws {
        try await withApp { client, workspace in
            let old = try await Self.createAgents(client, ["a", "b", "c", "d", "e"])
            try await Self.age("agents", old, days: 4)
            let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "test", scopes: ScopeSet(["*"]))
            let rules = [Self.rules[0]]
            let runs = try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { pg in
                let services = TrellisServices(api: TrellisApp.api, postgres: pg)
                var removed: [Int] = []
                for _ in 0..<3 {
                    removed.append(try await Retention.run(
                        rules, batchSize: 2, maxBatches: 2,
                        transaction: { body in
                            try await services.transaction(
                                as: identity, origin: RequestOrigin(requestID: "t", ip: nil, userAgent: nil), logger: silentLogger, body)
                        },
                        audit: { _ in }
                    ).total)
                }
                return removed
            }
            #expect(runs == [4, 1, 0])
        }
    }
}
