import Foundation
import HTTPTypes
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// A key as stored, to prove that a refused call changed nothing.
private struct StoredKey: Equatable {
    var workspace: UUID
    var scopes: [String]
    var expiresAt: Date?
    var revokedAt: Date?
    var updatedAt: Date
}

private func storedKey(_ id: UUID) async throws -> StoredKey? {
    try await withInspector { client in
        try await client.query(
            "SELECT workspace_id, scopes, expires_at, revoked_at, updated_at FROM api_keys WHERE id = \(id)", logger: Logger(label: "test")
        ).decode((UUID, [String], Date?, Date?, Date).self).all().first.map {
            StoredKey(workspace: $0.0, scopes: $0.1, expiresAt: $0.2, revokedAt: $0.3, updatedAt: $0.4)
        }
    }
}

/// How many keys `workspace` holds, and how many were rotated from `id`.
private func keyCounts(workspace: UUID, rotatedFrom id: UUID? = nil) async throws -> (all: Int, rotated: Int) {
    try await withInspector { client in
        let rows = try await client.query(
            "SELECT count(*), count(*) FILTER (WHERE rotated_from = \(id)) FROM api_keys WHERE workspace_id = \(workspace)",
            logger: Logger(label: "test")
        ).decode((Int, Int).self).all()
        return (rows.first?.0 ?? 0, rows.first?.1 ?? 0)
    }
}

@Suite("Key management never grants more than the caller holds")
struct KeyAuthorityTests {
    /// Tenant callers allowed into `/v1/api-keys`.
    static let callers: [[String]] = [["*"], ["keys:admin"], ["keys:admin", "agents:read"]]

    /// Keys of the caller's own workspace holding more than the caller does.
    static func strongerScopes(than caller: [String]) -> [[String]] {
        switch caller {
        case ["*"]: []  // nothing in a tenant workspace exceeds `*`; the platform-admin key does
        case ["keys:admin"]: [["agents:read", "keys:admin"], ["*"]]
        default: [["agents:read", "agents:write", "keys:admin"], ["*"]]
        }
    }

    @Test(arguments: callers)
    func aKeyTheCallerDoesNotCoverIsInvisibleUntouchedAndTheAttemptIsAudited(caller: [String]) async throws {
        let platformKey = try await makeKey(workspace: Workspaces.platformID, scopes: ["admin"])
        try await withApp(scopes: caller) { client, workspace in
            var targets = [platformKey]
            for scopes in Self.strongerScopes(than: caller) {
                targets.append(try await makeKey(workspace: workspace, scopes: scopes))
            }
            for target in targets {
                let id = target.record.id.uuidString.lowercased()
                let before = try #require(try await storedKey(target.record.id))
                let refusals = try await auditActions(workspace, action: "api_key.refused").count
                let attempts: [(HTTPRequest.Method, String, String?)] = [
                    (.get, "/v1/api-keys/\(id)", nil),
                    (.post, "/v1/api-keys/\(id)/revoke", nil),
                    (.post, "/v1/api-keys/\(id)/rotate", nil),
                    (.post, "/v1/api-keys/\(id)/rotate", #"{"grace_period_seconds":0}"#),
                ]
                for (method, path, body) in attempts {
                    let res = try await client.send(method, path, json: body)
                    #expect(res.status == .notFound, "caller \(caller): \(method) \(path) with \(target.record.scopes) gave \(res.status)")
                    #expect(!res.text.contains("trk_"))
                }
                var cursor: String?
                repeat {
                    let page = try await client.send(.get, "/v1/api-keys?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")).object()
                    #expect(!page.array("data").contains { $0.object?.string("id") == id }, "caller \(caller) lists \(target.record.scopes)")
                    cursor = page.string("next_cursor")
                } while cursor != nil
                #expect(try await storedKey(target.record.id) == before, "caller \(caller) changed \(target.record.scopes)")
                #expect(try await keyCounts(workspace: target.record.workspaceID, rotatedFrom: target.record.id).rotated == 0)
                let audited = try await auditActions(workspace, action: "api_key.refused")
                #expect(audited.count == refusals + attempts.count, "caller \(caller) vs \(target.record.scopes)")
                // The untouched key still works.
                #expect(try await client.send(.get, target.record.scopes == ["admin"] ? "/v1/admin/workspaces" : "/v1/api-keys",
                                              as: .bearer(target.token.text)).status == .ok)
            }
            // Creating a key with more than the caller holds (or `admin`) is 403, makes no key, and is audited.
            for scopes in Self.strongerScopes(than: caller) + [["admin"], ["admin", "keys:admin"]] {
                let keysBefore = try await keyCounts(workspace: workspace).all
                let refusals = try await auditActions(workspace, action: "api_key.refused").count
                let json = "{\"scopes\":[" + scopes.map { "\"\($0)\"" }.joined(separator: ",") + "]}"
                let res = try await client.send(.post, "/v1/api-keys", json: json)
                #expect(res.status == .forbidden, "caller \(caller) creating \(scopes) gave \(res.status)")
                #expect(try res.object().string("code") == "insufficient_scope")
                #expect(try await keyCounts(workspace: workspace).all == keysBefore)
                #expect(try await auditActions(workspace, action: "api_key.refused").count == refusals + 1)
            }
        }
    }

    @Test func aCallerStillManagesTheKeysItCovers() async throws {
        try await withApp(scopes: ["keys:admin", "agents:read"]) { client, workspace in
            let weaker = try await makeKey(workspace: workspace, scopes: ["agents:read"])
            let id = weaker.record.id.uuidString.lowercased()
            #expect(try await client.send(.get, "/v1/api-keys/\(id)").status == .ok)
            #expect(try await client.send(.get, "/v1/api-keys?limit=100").text.contains(id))
            let rotated = try await client.send(.post, "/v1/api-keys/\(id)/rotate", json: #"{"grace_period_seconds":0}"#)
            #expect(rotated.status == .created)
            let newID = try #require(try rotated.object().string("id"))
            #expect(try await client.send(.post, "/v1/api-keys/\(newID)/revoke").status == .ok)
            #expect(try await auditActions(workspace, action: "api_key.refused").isEmpty)
        }
    }

    @Test func platformAdminKeysLiveOnlyInThePlatformWorkspace() async throws {
        try await withApp(scopes: ["admin"]) { client, _ in
            let created = try await client.send(.post, "/v1/admin/api-keys", json: #"{"name":"ops"}"#)
            #expect(created.status == .created)
            let body = try created.object()
            #expect(body.string("workspace_id") == Workspaces.platformID.uuidString.lowercased())
            #expect(body["scopes"] == .array([.string("admin")]))
            let key = try #require(body.string("key"))
            let id = try #require(body.string("id"))
            #expect(try await client.send(.get, "/v1/admin/workspaces", as: .bearer(key)).status == .ok)
            #expect(try await client.send(.get, "/v1/admin/api-keys?limit=100").text.contains(id))
            // The platform workspace is no tenant: not listed, no tenant keys in it.
            let platform = Workspaces.platformID.uuidString.lowercased()
            var cursor: String?
            repeat {
                let page = try await client.send(.get, "/v1/admin/workspaces?limit=100" + (cursor.map { "&cursor=\($0)" } ?? "")).object()
                #expect(!page.array("data").contains { $0.object?.string("id") == platform })
                cursor = page.string("next_cursor")
            } while cursor != nil
            let intoPlatform = try await client.send(.post, "/v1/admin/workspaces/\(platform)/api-keys", json: #"{"scopes":["*"]}"#)
            #expect(intoPlatform.status == .notFound)
            // A tenant key never holds admin, even from the platform admin.
            let tenant = try await TestDatabase.shared.makeWorkspace()
            let mixed = try await client.send(
                .post, "/v1/admin/workspaces/\(tenant.uuidString.lowercased())/api-keys", json: #"{"scopes":["admin","*"]}"#)
            #expect(mixed.status == .unprocessableContent)
            #expect(try problemErrors(mixed) == ["/scopes enum"])
            // The platform admin can still revoke its own kind over HTTP.
            #expect(try await client.send(.post, "/v1/admin/api-keys/\(id)/revoke").status == .ok)
            #expect(try await client.send(.get, "/v1/admin/workspaces", as: .bearer(key)).status == .unauthorized)
        }
    }

    @Test func theDatabaseRefusesAdminScopesOutsideThePlatformWorkspace() async throws {
        let tenant = try await TestDatabase.shared.makeWorkspace()
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
            for (workspace, scopes) in [(tenant, ["admin"]), (tenant, ["*", "admin"]), (Workspaces.platformID, ["*"])] {
                do {
                    _ = try await client.query(
                        """
                        INSERT INTO api_keys (id, workspace_id, secret_hash, scopes, created_by)
                        VALUES (\(UUID.v7()), \(workspace), \(Data(repeating: 1, count: 32)), \(scopes), 'test')
                        """, logger: Logger(label: "test"))
                    Issue.record("inserted a key with \(scopes) into \(workspace)")
                } catch let error as PSQLError {
                    #expect(error.serverInfo?[.sqlState] == "23514", "\(scopes): \(String(reflecting: error))")
                }
            }
        }
    }

    @Test func thePlatformAdminRevokesATenantsKeyAuditedInThatWorkspace() async throws {
        let tenant = try await TestDatabase.shared.makeWorkspace()
        let leaked = try await makeKey(workspace: tenant, scopes: ["*"])
        try await withApp(scopes: ["admin"]) { client, _ in
            let ws = tenant.uuidString.lowercased()
            let id = leaked.record.id.uuidString.lowercased()
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(leaked.token.text)).status == .ok)
            // The key must be named with its own workspace.
            let other = try await TestDatabase.shared.makeWorkspace().uuidString.lowercased()
            #expect(try await client.send(.post, "/v1/admin/workspaces/\(other)/api-keys/\(id)/revoke").status == .notFound)
            #expect(try await storedKey(leaked.record.id)?.revokedAt == nil)
            let revoked = try await client.send(.post, "/v1/admin/workspaces/\(ws)/api-keys/\(id)/revoke")
            #expect(revoked.status == .ok)
            #expect(try revoked.object().string("revoked_at") != nil)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(leaked.token.text)).status == .unauthorized)
            let audited = try await auditActions(tenant, action: "api_key.revoked")
            #expect(audited.count == 1)
            let adminKeyID = try #require(APIKeyToken(parsing: Substring(client.bearer))).id
            #expect(audited.first?.credential == adminKeyID.uuidString.lowercased())
        }
    }

    @Test func aJWTNeverYieldsAdminNorActsInThePlatformWorkspace() async throws {
        let jwt = try await TestJWT.authenticator()
        try await withApp(jwt: jwt) { client, workspace in
            let claims = TestJWT.claims(workspace: workspace, extra: #","aud":"trellis","scope":"admin keys:admin *""#)
            let token = TestJWT.make(claims: claims)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(token)).status == .ok)
            for path in ["/v1/admin/workspaces", "/v1/admin/api-keys"] {
                let res = try await client.send(.get, path, as: .bearer(token))
                #expect(res.status == .forbidden, "\(path)")
            }
            let escalate = try await client.send(.post, "/v1/api-keys", json: #"{"scopes":["admin"]}"#, as: .bearer(token))
            #expect(escalate.status == .forbidden)
            let platform = TestJWT.make(claims: TestJWT.claims(workspace: Workspaces.platformID, extra: #","aud":"trellis","scope":"*""#))
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(platform)).status == .unauthorized)
        }
    }
}
