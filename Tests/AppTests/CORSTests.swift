import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

/// Browser access from other origins (`TRELLIS_CORS_ORIGINS`): preflights on every route,
/// the allow-origin header on responses and problems, nothing for other origins.
@Suite("CORS")
struct CORSTests {
    static let app = "https://app.example.com"

    static func preflight(_ client: APIClient, _ path: String, origin: String = app) async throws -> TestResponse {
        try await client.send(.options, path, headers: [
            .origin: origin, .accessControlRequestMethod: "POST", .accessControlRequestHeaders: "authorization, content-type",
        ], as: .anonymous)
    }

    @Test func aPreflightFromAnAllowedOriginIs204WithMethodsHeadersAndMaxAgeOnEveryRoute() async throws {
        try await withApp(cors: CORSPolicy(allowedOrigins: [Self.app], maxAge: 900)) { client, _ in
            let id = UUID().uuidString.lowercased()
            for path in ["/v1/agents", "/v1/agents/\(id)", "/v1/agents/search", "/v1/api-keys/\(id)/rotate",
                         "/v1/admin/workspaces", "/health/live", "/openapi.json"] {
                let res = try await Self.preflight(client, path)
                #expect(res.status == .noContent, "\(path)")
                #expect(res.headers[.accessControlAllowOrigin] == Self.app, "\(path)")
                #expect(res.headers[.accessControlAllowMethods]?.contains("PATCH") == true, "\(path)")
                #expect(res.headers[.accessControlAllowHeaders]?.contains("Authorization") == true, "\(path)")
                #expect(res.headers[.accessControlAllowHeaders]?.contains("Idempotency-Key") == true, "\(path)")
                #expect(res.headers[.accessControlMaxAge] == "900", "\(path)")
                #expect(res.headers[.vary]?.contains("Origin") == true, "\(path)")
                #expect(res.headers[.accessControlAllowCredentials] == nil, "\(path)")
            }
        }
    }

    @Test func responsesAndProblemsForAnAllowedOriginCarryAllowOriginAndExposeHeaders() async throws {
        try await withApp(cors: CORSPolicy(allowedOrigins: ["http://localhost:3000", Self.app])) { client, _ in
            let ok = try await client.send(.get, "/v1/agents", headers: [.origin: Self.app])
            #expect(ok.status == .ok)
            #expect(ok.headers[.accessControlAllowOrigin] == Self.app)
            #expect(ok.headers[.accessControlExposeHeaders]?.contains("X-Request-ID") == true)
            #expect(ok.headers[.vary]?.contains("Origin") == true)
            let refused = try await client.send(.get, "/v1/agents", headers: [.origin: Self.app], as: .anonymous)
            #expect(refused.status == .unauthorized)
            #expect(refused.headers[.accessControlAllowOrigin] == Self.app, "a script must be able to read the 401 problem")
            #expect(refused.headers[.accessControlExposeHeaders]?.contains("WWW-Authenticate") == true)
            let noOrigin = try await client.send(.get, "/v1/agents")
            #expect(noOrigin.headers[.accessControlAllowOrigin] == nil)
            #expect(noOrigin.headers[.vary]?.contains("Origin") == true, "caches must key on Origin")
        }
    }

    @Test func anotherOriginGetsNoAllowOriginAndItsPreflightIsRefused() async throws {
        try await withApp(cors: CORSPolicy(allowedOrigins: [Self.app])) { client, _ in
            let evil = "https://evil.example"
            let res = try await client.send(.get, "/v1/agents", headers: [.origin: evil])
            #expect(res.status == .ok)
            #expect(res.headers[.accessControlAllowOrigin] == nil)
            let preflight = try await Self.preflight(client, "/v1/agents", origin: evil)
            #expect(preflight.status == .noContent)
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
            #expect(preflight.headers[.accessControlAllowMethods] == nil)
        }
    }

    @Test func theWildcardAllowsAnyOriginWithoutCredentialsAndCredentialsNeedAListedOrigin() async throws {
        try await withApp(cors: CORSPolicy(allowedOrigins: ["*"])) { client, _ in
            let res = try await client.send(.get, "/v1/agents", headers: [.origin: "https://anywhere.example"])
            #expect(res.headers[.accessControlAllowOrigin] == "*")
            #expect(res.headers[.accessControlAllowCredentials] == nil)
        }
        try await withApp(cors: CORSPolicy(allowedOrigins: [Self.app], allowCredentials: true)) { client, _ in
            let res = try await Self.preflight(client, "/v1/agents")
            #expect(res.headers[.accessControlAllowOrigin] == Self.app)
            #expect(res.headers[.accessControlAllowCredentials] == "true")
        }
        // A policy that pairs `*` with credentials (refused at start) still never sends `*` with them.
        #expect(CORSPolicy(allowedOrigins: ["*"], allowCredentials: true).allowOrigin(for: "https://x.example") == nil)
    }

    @Test func withoutConfiguredOriginsThereIsNoCORSAndPreflightsAreNotAnswered() async throws {
        try await withApp { client, _ in
            let res = try await client.send(.get, "/v1/agents", headers: [.origin: Self.app])
            #expect(res.headers[.accessControlAllowOrigin] == nil)
            #expect(res.headers[.vary] == nil)
            let preflight = try await Self.preflight(client, "/v1/agents")
            #expect(preflight.status == .notFound)
            #expect(preflight.headers[.accessControlAllowOrigin] == nil)
        }
    }
}
