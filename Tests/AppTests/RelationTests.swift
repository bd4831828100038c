import Foundation
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
