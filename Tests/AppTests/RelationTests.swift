import Foundation
import Logging
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

@Suite("References between resources")
struct RelationTests {
    @Test func deletingASwarmClearsAgentsAndDeletesItsMessages() async throws {
        try await withApp { client, _ in
            let swarm = try #require(try await client.send(.post, "/v1/swarms", json: #"{"name":"Research"}"#).object().string("id"))
            let agent = try #require(
                try await client.send(.post, "/v1/agents", json: #"{"name":"A","swarm_id":"\#(swarm)"}"#).object().string("id"))
            let message = try await client.send(
                .post, "/v1/messages", json: #"{"swarm_id":"\#(swarm)","agent_id":"\#(agent)","role":"user","content":"hello"}"#)
            #expect(message.status == .created)
            let messageID = try #require(try message.object().string("id"))
            #expect(try await client.send(.delete, "/v1/swarms/\(swarm)").status == .noContent)
            #expect(try await client.send(.get, "/v1/agents/\(agent)").object()["swarm_id"] == .null)
            #expect(try await client.send(.get, "/v1/messages/\(messageID)").status == .notFound)
        }
    }

    @Test func aRowClearedByAForeignKeyActionGetsANewVersionSoItsOldETagNoLongerMatches() async throws {
        try await withApp { client, _ in
            let swarm = try #require(try await client.send(.post, "/v1/swarms", json: #"{"name":"Doomed"}"#).object().string("id"))
            let created = try await client.send(.post, "/v1/agents", json: #"{"name":"Kept","swarm_id":"\#(swarm)"}"#)
            let agent = try #require(try created.object().string("id"))
            let before = try #require(created.headers[.eTag])
            #expect(try await client.send(.get, "/v1/agents/\(agent)", headers: [.ifNoneMatch: before]).status == .notModified)
            #expect(try await client.send(.delete, "/v1/swarms/\(swarm)").status == .noContent)
            // ON DELETE SET NULL changed the row: the old tag gets the new row, not a 304.
            let after = try await client.send(.get, "/v1/agents/\(agent)", headers: [.ifNoneMatch: before])
            #expect(after.status == .ok)
            let body = try after.object()
            #expect(body["swarm_id"] == .null)
            #expect(body["version"] == .integer(2))
            #expect(after.headers[.eTag] == "\"2\"")
            #expect(body.string("updated_at") != (try created.object().string("updated_at")))
            // Rewriting the row as it is (a reindex's `SET content = content`) changes nothing
            // the API shows: no new version.
            let id = try #require(UUID(uuidString: agent))
            try await withInspector { db in
                _ = try await db.query("UPDATE agents SET name = name, search_vector = DEFAULT WHERE id = \(id)", logger: Logger(label: "test"))
            }
            #expect(try await client.send(.get, "/v1/agents/\(agent)", headers: [.ifNoneMatch: "\"2\""]).status == .notModified)
            // An update made with the old tag is refused; with the new one it is applied (and
            // bumps the version once: the trigger stays off the service's own updates).
            let stale = try await client.send(
                .patch, "/v1/agents/\(agent)", json: #"{"role":"late"}"#,
                headers: [.contentType: "application/merge-patch+json", .ifMatch: before])
            #expect(stale.status == .preconditionFailed)
            let fresh = try await client.send(
                .patch, "/v1/agents/\(agent)", json: #"{"role":"late"}"#,
                headers: [.contentType: "application/merge-patch+json", .ifMatch: "\"2\""])
            #expect(fresh.status == .ok)
            #expect(try fresh.object()["version"] == .integer(3))
        }
    }

    @Test func referencingAMissingOrForeignRowIs422() async throws {
        let other = try await TestDatabase.shared.makeWorkspace()
        let theirs = try await withApp(workspace: other) { client, _ in
            try #require(try await client.send(.post, "/v1/swarms", json: #"{"name":"Theirs"}"#).object().string("id"))
        }
        try await withApp { client, _ in
            for swarm in [theirs, UUID().uuidString.lowercased()] {
                let res = try await client.send(.post, "/v1/agents", json: #"{"name":"A","swarm_id":"\#(swarm)"}"#)
                #expect(res.status == .unprocessableContent)
                #expect(try problemErrors(res) == ["/swarm_id format"])
            }
        }
    }
}
