import Foundation
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

@Suite("REST create, get, patch, delete on real Postgres")
struct ResourceCRUDTests {
    @Test func createReturns201WithLocationETagAndEveryField() async throws {
        try await withApp { client, workspace in
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":"Ada","tags":["a","b"],"config":{"k":[1,2.5]}}"#)
            #expect(res.status == .created)
            let body = try res.object()
            let id = try #require(body.string("id"))
            #expect(res.headers[.location] == "/v1/agents/\(id)")
            #expect(res.headers[.eTag] == "\"1\"")
            #expect(body.string("workspace_id") == workspace.uuidString.lowercased())
            #expect(body["version"] == .integer(1))
            // Defaults from the schema are applied; optional fields are present as null.
            #expect(body.string("model") == "claude")
            #expect(body["temperature"] == .double(0.7))
            #expect(body["is_active"] == .bool(true))
            #expect(body["role"] == .null)
            #expect(body["tags"] == .array([.string("a"), .string("b")]))
            #expect(body["config"] == .object(JSONObject(["k": .array([.integer(1), .double(2.5)])])))
            for key in ["id", "workspace_id", "created_at", "updated_at", "version", "name", "role", "system_prompt", "model",
                        "temperature", "is_active", "swarm_id", "tags", "config", "owner_email"] {
                #expect(body[key] != nil, "missing \(key)")
            }
        }
    }

    @Test func getReturnsTheStoredObjectAndHonoursIfNoneMatch() async throws {
        try await withApp { client, _ in
            let created = try await client.send(.post, "/v1/agents", json: #"{"name":"Grace","role":"admiral"}"#).object()
            let id = try #require(created.string("id"))
            let res = try await client.send(.get, "/v1/agents/\(id)")
            #expect(res.status == .ok)
            #expect(try res.object() == created)
            let notModified = try await client.send(.get, "/v1/agents/\(id)", headers: [.ifNoneMatch: "\"1\""])
            #expect(notModified.status == .notModified)
            let changed = try await client.send(.get, "/v1/agents/\(id)", headers: [.ifNoneMatch: "\"7\""])
            #expect(changed.status == .ok)
        }
    }

    @Test func patchMergesClearsOptionalFieldsAndBumpsVersion() async throws {
        try await withApp { client, _ in
            let created = try await client.send(.post, "/v1/agents", json: #"{"name":"Linus","role":"kernel","temperature":1}"#).object()
            let id = try #require(created.string("id"))
            let res = try await client.send(
                .patch, "/v1/agents/\(id)", json: #"{"role":null,"temperature":1.5}"#,
                headers: [.contentType: "application/merge-patch+json"])
            #expect(res.status == .ok)
            let body = try res.object()
            #expect(body["role"] == .null)
            #expect(body["temperature"] == .double(1.5))
            #expect(body.string("name") == "Linus")
            #expect(body["version"] == .integer(2))
            #expect(res.headers[.eTag] == "\"2\"")
        }
    }

    @Test func emptyPatchChangesNothingAndKeepsTheVersion() async throws {
        try await withApp { client, _ in
            let id = try #require(try await client.send(.post, "/v1/agents", json: #"{"name":"Same"}"#).object().string("id"))
            let res = try await client.send(.patch, "/v1/agents/\(id)", json: "{}")
            #expect(res.status == .ok)
            #expect(try res.object()["version"] == .integer(1))
            let stale = try await client.send(.patch, "/v1/agents/\(id)", json: "{}", headers: [.ifMatch: "\"2\""])
            #expect(stale.status == .preconditionFailed)
        }
    }

    @Test func patchWithStaleIfMatchIs412AndLeavesTheRowAlone() async throws {
        try await withApp { client, _ in
            let id = try #require(try await client.send(.post, "/v1/agents", json: #"{"name":"A"}"#).object().string("id"))
            let ok = try await client.send(.patch, "/v1/agents/\(id)", json: #"{"name":"B"}"#, headers: [.ifMatch: "\"1\""])
            #expect(ok.status == .ok)
            let stale = try await client.send(.patch, "/v1/agents/\(id)", json: #"{"name":"C"}"#, headers: [.ifMatch: "\"1\""])
            #expect(stale.status == .preconditionFailed)
            #expect(try stale.object().string("code") == "precondition_failed")
            #expect(try await client.send(.get, "/v1/agents/\(id)").object().string("name") == "B")
        }
    }

    @Test func patchRejectsNullForRequiredFieldsAndServerSetFields() async throws {
        try await withApp { client, _ in
            let id = try #require(try await client.send(.post, "/v1/agents", json: #"{"name":"A"}"#).object().string("id"))
            let res = try await client.send(.patch, "/v1/agents/\(id)", json: #"{"name":null,"version":3,"nope":1}"#)
            #expect(res.status == .unprocessableContent)
            #expect(try problemErrors(res) == ["/name type", "/version read_only", "/nope unknown_field"])
        }
    }

    @Test func deleteRemovesTheObject() async throws {
        try await withApp { client, _ in
            let id = try #require(try await client.send(.post, "/v1/agents", json: #"{"name":"Gone"}"#).object().string("id"))
            #expect(try await client.send(.delete, "/v1/agents/\(id)").status == .noContent)
            #expect(try await client.send(.get, "/v1/agents/\(id)").status == .notFound)
            #expect(try await client.send(.delete, "/v1/agents/\(id)").status == .notFound)
        }
    }

    @Test func anotherWorkspacesObjectIsNotFound() async throws {
        let other = try await TestDatabase.shared.makeWorkspace()
        let id = try await withApp(workspace: other) { client, _ in
            try #require(try await client.send(.post, "/v1/agents", json: #"{"name":"Theirs"}"#).object().string("id"))
        }
        try await withApp { client, _ in
            #expect(try await client.send(.get, "/v1/agents/\(id)").status == .notFound)
            #expect(try await client.send(.patch, "/v1/agents/\(id)", json: #"{"name":"Mine"}"#).status == .notFound)
            #expect(try await client.send(.delete, "/v1/agents/\(id)").status == .notFound)
            let list = try await client.send(.get, "/v1/agents?limit=100").object().array("data")
            #expect(!list.contains { $0.object?.string("id") == id })
        }
    }
}
