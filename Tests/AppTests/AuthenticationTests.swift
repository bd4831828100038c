import Crypto
import Foundation
import HTTPTypes
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// Audit rows of one action in one workspace, read as the owner.
func auditActions(_ workspace: UUID, action: String) async throws -> [(credential: String?, after: JSONValue?)] {
    try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
        try await client.query(
            "SELECT credential_id, after FROM audit_log WHERE workspace_id = \(workspace) AND action = \(action) ORDER BY entry_no",
            logger: Logger(label: "test")
        ).decode((String?, JSONValue?).self).all().map { (credential: $0.0, after: $0.1) }
    }
}

@Suite("Bearer API keys: anonymous, malformed, unknown, wrong, expired and revoked keys")
struct APIKeyAuthenticationTests {
    @Test func anonymousCallsTo_v1_Are401WithABearerChallengeButHealthIsPublic() async throws {
        try await withApp { (client, _) async throws in
            let res = try await client.send(.get, "/v1/agents", as: .anonymous)
            #expect(res.status == .unauthorized)
            #expect(res.headers[.wwwAuthenticate] == "Bearer")
            #expect(res.headers[.contentType] == "application/problem+json")
            #expect(try res.object().string("code") == "unauthenticated")
            #expect(try await client.send(.get, "/health/live", as: .anonymous).status == .ok)
            let basic = try await client.send(.get, "/v1/agents", headers: [.authorization: "Basic dXNlcjpwdw=="], as: .anonymous)
            #expect(basic.status == .unauthorized)
        }
    }

    @Test func everyRefusedKeyIs401NamingTheCheckWithoutEchoingTheKey() async throws {
        try await withApp { client, workspace in
            let valid = try #require(APIKeyToken(parsing: Substring(client.bearer)))
            let wrongSecret = APIKeyToken(id: valid.id, secret: String(valid.secret.reversed())).text
            let unknown = APIKeyToken.generate().text
            let expired = try await makeKey(workspace: workspace, expiresAt: Date().addingTimeInterval(-60))
            let cases: [(token: String, detail: String)] = [
                ("trk_nothex_abc", "not of the form trk_<id>_<secret>"),
                (unknown, "no API key with this id exists"),
                (wrongSecret, "secret is wrong"),
                (expired.token.text, "expired"),
                ("garbage", "neither an API key"),
            ]
            for (token, detail) in cases {
                let res = try await client.send(.get, "/v1/agents", as: .bearer(token))
                #expect(res.status == .unauthorized, "\(detail)")
                #expect(res.headers[.wwwAuthenticate]?.hasPrefix("Bearer error=\"invalid_token\"") == true)
                let body = try res.object()
                #expect(body.string("detail")?.contains(detail) == true, "\(body.string("detail") ?? "")")
                #expect(!res.text.contains(token), "the response repeats the credential")
            }
            // Refusals that name a real key are audited in that key's workspace.
            let failures = try await auditActions(workspace, action: "auth.failed")
            #expect(failures.count == 2)
            let invalidSecret = JSONValue.object(JSONObject(["reason": .string("invalid_secret"), "attempts": .integer(1)]))
            #expect(failures.contains { $0.credential == "api_key:\(valid.id.uuidString.lowercased())" && $0.after == invalidSecret })
            #expect(failures.contains { $0.after == .object(JSONObject(["reason": .string("expired"), "attempts": .integer(1)])) })
        }
    }

    @Test func aKeyRevokedOnAnotherInstanceStopsWorkingHereWithinOneSecond() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let shared = try await makeKey(workspace: workspace, scopes: ["agents:read"])
        // Instance A keeps using the key (so it is cached); instance B revokes it.
        try await withApp(workspace: workspace) { a, _ in
            #expect(try await a.send(.get, "/v1/agents", as: .bearer(shared.token.text)).status == .ok)
            #expect(try await a.send(.get, "/v1/agents", as: .bearer(shared.token.text)).status == .ok)
            try await withApp(workspace: workspace, scopes: ["keys:admin", "agents:read"]) { b, _ in  // B covers the key
                let revoked = try await b.send(.post, "/v1/api-keys/\(shared.record.id.uuidString.lowercased())/revoke")
                #expect(revoked.status == .ok)
                #expect(try revoked.object().string("revoked_at") != nil)
            }
            // Instance A refuses the key within one second of the revocation's answer.
            var refusal: TestResponse?
            let refused = try await eventually(timeout: .seconds(1)) {
                let res = try await a.send(.get, "/v1/agents", as: .bearer(shared.token.text))
                if res.status != .ok { refusal = res }
                return refusal != nil
            }
            #expect(refused, "instance A still accepted the revoked key a second later")
            #expect(refusal?.status == .unauthorized)
            #expect(try refusal?.object().string("detail")?.contains("revoked") == true)
        }
    }

    @Test func lastUseIsRecordedWithoutAWritePerRequest() async throws {
        try await withApp { (client, _) async throws in
            for _ in 0..<5 { #expect(try await client.send(.get, "/v1/agents").status == .ok) }
            let id = try #require(APIKeyToken(parsing: Substring(client.bearer))).id
            // The refresher flushes every 5 s; the bound leaves room for a 2-core machine busy
            // with the whole suite (a full run on 2026-12-02 needed more than 7.5 s).
            let recorded = try await eventually(timeout: .seconds(20), interval: .milliseconds(250)) {
                let lastUsed = try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
                    try await owner.query("SELECT last_used_at FROM api_keys WHERE id = \(id)", logger: Logger(label: "test"))
                        .decode(Date?.self).all().first ?? nil
                }
                return lastUsed != nil
            }
            #expect(recorded)
        }
    }
}

/// HS256 tokens built by hand, so every malformed variant can be made.
struct TestJWT {
    static let secret = "test-secret-that-is-at-least-32-bytes-long"

    static func make(header: String = #"{"alg":"HS256","typ":"JWT"}"#, claims: String, secret: String = secret) -> String {
        let head = Base64URL.encode(Array(header.utf8)) + "." + Base64URL.encode(Array(claims.utf8))
        let mac = HMAC<SHA256>.authenticationCode(for: Array(head.utf8), using: SymmetricKey(data: Array(secret.utf8)))
        return head + "." + Base64URL.encode(Array(mac))
    }

    static func claims(workspace: UUID, exp: TimeInterval = 3600, extra: String = #","aud":"trellis","scope":"agents:read""#) -> String {
        let now = Int(Date().timeIntervalSince1970)
        return #"{"sub":"user-1","exp":\#(now + Int(exp)),"workspace_id":"\#(workspace.uuidString.lowercased())"\#(extra)}"#
    }

    static func authenticator(claim: String = "workspace_id") async throws -> JWTAuthenticator {
        try await JWTAuthenticator(.init(keys: .hmacSecret(secret), audience: "trellis", workspaceClaim: claim))
    }
}

@Suite("Bearer JWTs: signature, times, audience, workspace claim")
struct JWTAuthenticationTests {
    @Test func aValidTokenActsForItsWorkspaceWithItsScopes() async throws {
        let jwt = try await TestJWT.authenticator()
        try await withApp(jwt: jwt) { client, workspace in
            let token = TestJWT.make(claims: TestJWT.claims(workspace: workspace))
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(token)).status == .ok)
            // The token holds agents:read only.
            let post = try await client.send(.post, "/v1/agents", json: #"{"name":"x"}"#, as: .bearer(token))
            #expect(post.status == .forbidden)
            #expect(try post.object().string("code") == "insufficient_scope")
        }
    }

    @Test func supabaseStyleAppMetadataWorkspaceClaimWorks() async throws {
        let jwt = try await TestJWT.authenticator(claim: "app_metadata.workspace_id")
        try await withApp(jwt: jwt) { client, workspace in
            let now = Int(Date().timeIntervalSince1970)
            let claims = #"{"sub":"u","exp":\#(now + 60),"aud":"trellis","scope":"agents:read agents:write","app_metadata":{"workspace_id":"\#(workspace.uuidString.lowercased())"}}"#
            let token = TestJWT.make(claims: claims)
            let created = try await client.send(.post, "/v1/agents", json: #"{"name":"from jwt"}"#, as: .bearer(token))
            #expect(created.status == .created)
            #expect(try created.object().string("workspace_id") == workspace.uuidString.lowercased())
        }
    }

    @Test func everyBadTokenIs401SayingWhichCheckFailed() async throws {
        let jwt = try await TestJWT.authenticator()
        try await withApp(jwt: jwt) { client, workspace in
            let good = TestJWT.claims(workspace: workspace)
            let noneHeader = Base64URL.encode(Array(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + Base64URL.encode(Array(good.utf8)) + "."
            let cases: [(String, String)] = [
                (TestJWT.make(claims: TestJWT.claims(workspace: workspace, exp: -120)), "expired"),
                (TestJWT.make(claims: good, secret: "another-secret-that-is-32-bytes-long!!"), "signature"),
                (noneHeader, "alg 'none'"),
                (TestJWT.make(header: #"{"alg":"none"}"#, claims: good), "alg 'none'"),
                (TestJWT.make(claims: TestJWT.claims(workspace: workspace, extra: #","aud":"someone-else""#)), "audience"),
                ("eyJhbGciOiJIUzI1NiJ9.%%%not-base64%%%.c2ln", "payload is not base64url"),
                (TestJWT.make(claims: #"{"sub":"u","exp":\#(Int(Date().timeIntervalSince1970) + 60),"aud":"trellis"}"#), "no workspace id"),
                (TestJWT.make(claims: #"{"sub":"u","exp":\#(Int(Date().timeIntervalSince1970) + 60),"nbf":\#(Int(Date().timeIntervalSince1970) + 600),"aud":"trellis","workspace_id":"\#(workspace.uuidString)"}"#), "not valid yet"),
            ]
            for (token, check) in cases {
                let res = try await client.send(.get, "/v1/agents", as: .bearer(token))
                #expect(res.status == .unauthorized, "\(check)")
                #expect(res.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true)
                let detail = try res.object().string("detail") ?? ""
                #expect(detail.contains(check), "\(detail)")
                #expect(!res.text.contains(token), "the response repeats the token")
            }
        }
    }

    @Test func withoutJWTConfigurationTokensAreRefusedClearly() async throws {
        try await withApp { client, workspace in
            let res = try await client.send(.get, "/v1/agents", as: .bearer(TestJWT.make(claims: TestJWT.claims(workspace: workspace))))
            #expect(res.status == .unauthorized)
            #expect(try res.object().string("detail")?.contains("accepts no JWTs") == true)
        }
    }
}
