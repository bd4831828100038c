import Foundation
import HTTPTypes
import Testing
@testable import TrellisRuntime

@Suite("Scopes per operation")
struct ScopeTests {
    @Test func aReadOnlyKeyReadsButEveryWriteIs403NamingTheScope() async throws {
        try await withApp(scopes: ["agents:read"]) { (client, _) async throws in
            #expect(try await client.send(.get, "/v1/agents").status == .ok)
            #expect(try await client.send(.get, "/v1/agents/search?q=x").status == .ok)
            let id = UUID().uuidString.lowercased()
            for (method, path, body) in [
                (HTTPRequest.Method.post, "/v1/agents", #"{"name":"x"}"#), (.patch, "/v1/agents/\(id)", "{}"),
                (.delete, "/v1/agents/\(id)", nil),
            ] {
                let res = try await client.send(method, path, json: body)
                #expect(res.status == .forbidden)
                #expect(try res.object().string("code") == "insufficient_scope")
                #expect(try res.object().string("detail")?.contains("'agents:write'") == true)
                #expect(res.headers[.wwwAuthenticate] == "Bearer error=\"insufficient_scope\", scope=\"agents:write\"")
            }
            // Another resource's scope is not implied.
            #expect(try await client.send(.get, "/v1/swarms").status == .forbidden)
            #expect(try await client.send(.get, "/v1/api-keys").status == .forbidden)
        }
    }

    @Test func theWildcardCoversWorkspaceScopesButNotPlatformAdmin() async throws {
        try await withApp(scopes: ["*"]) { (client, _) async throws in
            #expect(try await client.send(.get, "/v1/swarms").status == .ok)
            #expect(try await client.send(.get, "/v1/api-keys").status == .ok)
            let admin = try await client.send(.get, "/v1/admin/workspaces")
            #expect(admin.status == .forbidden)
            #expect(try admin.object().string("detail")?.contains("'admin'") == true)
        }
    }
}

@Suite("/v1/api-keys: create once-shown secrets, list, get, revoke, rotate")
struct APIKeyRoutesTests {
    @Test func createShowsTheSecretOnceAndTheNewKeyWorks() async throws {
        try await withApp(scopes: ["keys:admin", "agents:read", "agents:write"]) { client, workspace in
            let res = try await client.send(.post, "/v1/api-keys", json: #"{"name":"ci","scopes":["agents:read"]}"#)
            #expect(res.status == .created)
            let body = try res.object()
            let key = try #require(body.string("key"))
            let id = try #require(body.string("id"))
            #expect(key.hasPrefix("trk_"))
            #expect(body.string("workspace_id") == workspace.uuidString.lowercased())
            #expect(body["scopes"] == .array([.string("agents:read")]))
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(key)).status == .ok)
            #expect(try await client.send(.post, "/v1/agents", json: #"{"name":"x"}"#, as: .bearer(key)).status == .forbidden)
            // Never shown again, and never stored in a readable form.
            let fetched = try await client.send(.get, "/v1/api-keys/\(id)")
            #expect(fetched.status == .ok)
            #expect(try fetched.object()["key"] == nil)
            #expect(!fetched.text.contains(String(key.split(separator: "_").last!)))
            let list = try await client.send(.get, "/v1/api-keys?limit=100")
            #expect(try list.object().array("data").contains { $0.object?.string("id") == id })
            #expect(!list.text.contains(String(key.split(separator: "_").last!)))
        }
    }

    @Test func keysCannotGrantScopesTheirCreatorLacksOrThatDoNotExist() async throws {
        try await withApp(scopes: ["keys:admin", "agents:read"]) { (client, _) async throws in
            let escalate = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["agents:write"]}"#)
            #expect(escalate.status == .forbidden)
            #expect(try escalate.object().string("code") == "insufficient_scope")
            #expect(try escalate.object().string("detail")?.contains("'agents:write'") == true)
            let admin = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["admin"]}"#)
            #expect(admin.status == .forbidden)
            #expect(try admin.object().string("detail")?.contains("'admin'") == true)
            let unknown = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["agents:raed"],"bogus":1}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try problemErrors(unknown).sorted() == ["/bogus unknown_field", "/scopes enum"])
            #expect(unknown.text.contains("agents:raed"))
            let past = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["agents:read"],"expires_at":"2001-01-01T00:00:00Z"}"#)
            #expect(try problemErrors(past) == ["/expires_at format"])
        }
    }

    @Test func revokeStopsTheKeyAtOnceAndIsAudited() async throws {
        try await withApp(scopes: ["keys:admin", "agents:read"]) { client, workspace in
            let created = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["agents:read"]}"#).object()
            let key = try #require(created.string("key"))
            let id = try #require(created.string("id"))
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(key)).status == .ok)
            let revoked = try await client.send(.post, "/v1/api-keys/\(id)/revoke")
            #expect(revoked.status == .ok)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(key)).status == .unauthorized)
            // Idempotent: revoking again keeps the first revocation time.
            let again = try await client.send(.post, "/v1/api-keys/\(id)/revoke")
            #expect(try again.object().string("revoked_at") == revoked.object().string("revoked_at"))
            #expect(try await auditActions(workspace, action: "api_key.created").count >= 2)
            #expect(try await auditActions(workspace, action: "api_key.revoked").count == 1)
        }
    }

    @Test func rotateIssuesANewKeyAndTheOldOneExpiresAfterTheGracePeriod() async throws {
        try await withApp(scopes: ["keys:admin", "agents:read"]) { client, workspace in
            let old = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["agents:read"],"name":"svc"}"#).object()
            let oldKey = try #require(old.string("key"))
            let oldID = try #require(old.string("id"))
            let gracePeriod = Duration.seconds(2)
            let rotatedAt = ContinuousClock.now
            let rotated = try await client.send(.post, "/v1/api-keys/\(oldID)/rotate", json: #"{"grace_period_seconds":2}"#)
            #expect(rotated.status == .created)
            let new = try rotated.object()
            let newKey = try #require(new.string("key"))
            #expect(new.string("rotated_from") == oldID)
            #expect(new.string("name") == "svc")
            #expect(new["scopes"] == .array([.string("agents:read")]))
            // Accepted within the grace period: an answer that came back before it could end was
            // decided inside it (a loaded machine may take longer than the period to get here).
            let duringGrace = try await client.send(.get, "/v1/agents", as: .bearer(oldKey)).status
            if ContinuousClock.now - rotatedAt < gracePeriod {
                #expect(duringGrace == .ok)
            }
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(newKey)).status == .ok)
            // Refused once the grace period is over, and not before.
            let expired = try await eventually(timeout: .seconds(10)) {
                try await client.send(.get, "/v1/agents", as: .bearer(oldKey)).status == .unauthorized
            }
            #expect(expired, "the old key still works 10 s into a 2 s grace period")
            #expect(ContinuousClock.now - rotatedAt >= gracePeriod)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(newKey)).status == .ok)
            #expect(try await auditActions(workspace, action: "api_key.rotated").count == 1)
        }
    }

    @Test func anotherWorkspacesKeyIsA404() async throws {
        let other = try await TestDatabase.shared.makeWorkspace()
        let theirs = try await makeKey(workspace: other, scopes: ["agents:read"])
        try await withApp(scopes: ["keys:admin"]) { (client: APIClient, _: UUID) async throws -> Void in
            let id = theirs.record.id.uuidString.lowercased()
            #expect(try await client.send(.get, "/v1/api-keys/\(id)").status == .notFound)
            #expect(try await client.send(.post, "/v1/api-keys/\(id)/revoke").status == .notFound)
            #expect(try await client.send(.post, "/v1/api-keys/\(id)/rotate").status == .notFound)
            #expect(try await client.send(.get, "/v1/api-keys?limit=100").text.contains(id) == false)
        }
        // Still valid.
        try await withApp(workspace: other) { (client, _) async throws in
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(theirs.token.text)).status == .ok)
        }
    }
}

@Suite("/v1/admin: platform administration")
struct AdminRoutesTests {
    @Test func anAdminKeyCreatesAWorkspaceAndItsFirstKey() async throws {
        try await withApp(scopes: ["admin"]) { (client, _) async throws in
            let ws = try await client.send(.post, "/v1/admin/workspaces", json: #"{"name":"Acme"}"#)
            #expect(ws.status == .created)
            let id = try #require(ws.object().string("id"))
            #expect(try ws.object().string("name") == "Acme")
            let key = try await client.send(.post, "/v1/admin/workspaces/\(id)/api-keys", json: #"{"scopes":["*"]}"#)
            #expect(key.status == .created)
            let token = try #require(key.object().string("key"))
            #expect(try key.object().string("workspace_id") == id)
            let agent = try await client.send(.post, "/v1/agents", json: #"{"name":"in acme"}"#, as: .bearer(token))
            #expect(try agent.object().string("workspace_id") == id)
            let list = try await client.send(.get, "/v1/admin/workspaces?limit=100")
            #expect(list.status == .ok)
            #expect(try list.object().array("data").contains { $0.object?.string("id") == id })
            let missing = try await client.send(.post, "/v1/admin/workspaces/\(UUID().uuidString)/api-keys", json: #"{"scopes":["*"]}"#)
            #expect(missing.status == .notFound)
            let invalid = try await client.send(.post, "/v1/admin/workspaces", json: #"{"name":""}"#)
            #expect(try problemErrors(invalid) == ["/name too_short"])
        }
    }

    @Test func workspaceKeysCannotReachAdminEndpoints() async throws {
        try await withApp(scopes: ["*", "keys:admin"]) { (client, _) async throws in
            #expect(try await client.send(.post, "/v1/admin/workspaces", json: #"{"name":"x"}"#).status == .forbidden)
            #expect(try await client.send(.get, "/v1/admin/workspaces").status == .forbidden)
        }
    }
}
