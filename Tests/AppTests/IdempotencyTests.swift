import Foundation
import HTTPTypes
import Logging
import Testing
@testable import TrellisRuntime

@Suite("Idempotency-Key on POST (Stripe semantics)")
struct IdempotencyTests {
    static func agentRows(named name: String, in workspace: UUID) async throws -> Int64 {
        try await withInspector { client in
            try await client.query(
                "SELECT count(*) FROM agents WHERE workspace_id = \(workspace) AND name = \(name)", logger: Logger(label: "test")
            ).decode(Int64.self).all().first ?? -1
        }
    }

    @Test func twentyConcurrentIdenticalPostsWithOneKeyMakeExactlyOneRow() async throws {
        // Twenty requests on a pool of four: on a loaded 2-core machine the last may wait more
        // than the default 5 s lease (a 503, not what this test is about).
        let patient = {
            var timeouts = Timeouts()
            timeouts.poolLease = .seconds(30)
            return timeouts
        }()
        try await withApp(timeouts: patient) { client, workspace in
            let name = "idem-\(UUID().uuidString)"
            let responses = try await withThrowingTaskGroup(of: (HTTPResponse.Status, String?, String?).self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let res = try await client.send(
                            .post, "/v1/agents", json: #"{"name":"\#(name)"}"#, headers: [.idempotencyKey: "create-\(name)"])
                        return (res.status, try res.object().string("id"), res.headers[.idempotentReplayed])
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(responses.count == 20)
            #expect(responses.allSatisfy { $0.0 == .created })
            #expect(Set(responses.map(\.1)).count == 1, "every response names the same object")
            #expect(responses.filter { $0.2 == "true" }.count == 19, "19 replays")
            #expect(try await Self.agentRows(named: name, in: workspace) == 1)
        }
    }

    @Test func theSameKeyWithAnotherBodyIs422AndEqualJSONIsAReplay() async throws {
        try await withApp { (client, _) async throws in
            let first = try await client.send(.post, "/v1/agents", json: #"{"name":"a","tags":["x"]}"#, headers: [.idempotencyKey: "k1"])
            #expect(first.status == .created)
            #expect(first.headers[.idempotentReplayed] == nil)
            // Whitespace does not matter; the replay is the first response, byte for byte.
            let again = try await client.send(.post, "/v1/agents", json: #"{ "name": "a", "tags": [ "x" ] }"#, headers: [.idempotencyKey: "k1"])
            #expect(again.status == .created)
            #expect(again.headers[.idempotentReplayed] == "true")
            #expect(again.headers[.location] == first.headers[.location])
            #expect(again.text == first.text)
            let other = try await client.send(.post, "/v1/agents", json: #"{"name":"b"}"#, headers: [.idempotencyKey: "k1"])
            #expect(other.status == .unprocessableContent)
            #expect(try other.object().string("code") == "idempotency_key_reused")
            // The same key on another resource is another request too.
            let elsewhere = try await client.send(.post, "/v1/tools", json: #"{"name":"a"}"#, headers: [.idempotencyKey: "k1"])
            #expect(elsewhere.status == .unprocessableContent)
            #expect(try elsewhere.object().string("code") == "idempotency_key_reused")
        }
    }

    @Test func aRefusalFromTheDatabaseIsStoredAndReplayedButValidationIsNot() async throws {
        try await withApp { (client, _) async throws in
            #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"dup"}"#).status == .created)
            let conflict = try await client.send(.post, "/v1/tools", json: #"{"name":"dup"}"#, headers: [.idempotencyKey: "t1"])
            #expect(conflict.status == .conflict)
            let replay = try await client.send(.post, "/v1/tools", json: #"{"name":"dup"}"#, headers: [.idempotencyKey: "t1"])
            #expect(replay.status == .conflict)
            #expect(replay.headers[.idempotentReplayed] == "true")
            #expect(replay.headers[.contentType] == "application/problem+json")
            // A body that fails validation never ran, so the key stays free for a fixed body.
            let invalid = try await client.send(.post, "/v1/tools", json: #"{"name":""}"#, headers: [.idempotencyKey: "t2"])
            #expect(invalid.status == .unprocessableContent)
            let fixed = try await client.send(.post, "/v1/tools", json: #"{"name":"fixed"}"#, headers: [.idempotencyKey: "t2"])
            #expect(fixed.status == .created)
            #expect(fixed.headers[.idempotentReplayed] == nil)
        }
    }

    @Test func keysAreScopedToTheWorkspaceAndMustBeSane() async throws {
        let name = "scoped-\(UUID().uuidString)"
        var ids: [String] = []
        for _ in 0..<2 {
            let id = try await withApp { (client, _) async throws in
                let res = try await client.send(.post, "/v1/agents", json: #"{"name":"\#(name)"}"#, headers: [.idempotencyKey: "shared-key"])
                #expect(res.status == .created)
                #expect(res.headers[.idempotentReplayed] == nil)
                let bad = try await client.send(.post, "/v1/agents", json: #"{"name":"x"}"#, headers: [.idempotencyKey: "has space"])
                #expect(bad.status == .badRequest)
                #expect(try bad.object().string("code") == "invalid_idempotency_key")
                return try res.object().id()
            }
            ids.append(id)
        }
        #expect(ids[0] != ids[1])
    }
}
