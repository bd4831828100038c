import App
import Foundation
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

@Suite("Health, OpenAPI and docs endpoints")
struct PlatformEndpointTests {
    @Test func liveAndReadyReportOK() async throws {
        try await withApp { client, _ in
            let live = try await client.send(.get, "/health/live")
            #expect(live.status == .ok)
            #expect(try live.object().string("status") == "ok")
            let ready = try await client.send(.get, "/health/ready")
            #expect(ready.status == .ok)
            let body = try ready.object()
            #expect(body.string("status") == "ok")
            let postgres = try #require(body["checks"]?.object?["postgres"]?.object)
            #expect(postgres.string("status") == "ok")
            #expect(postgres["latency_ms"] != nil)
        }
    }

    @Test func openAPIIsServedAsGeneratedWithEveryOperation() async throws {
        try await withApp { client, _ in
            let json = try await client.send(.get, "/openapi.json")
            #expect(json.status == .ok)
            #expect(json.text == TrellisApp.api.openAPIJSON)
            let paths = try #require(try json.object()["paths"]?.object)
            for path in ["/v1/agents", "/v1/agents/{id}", "/v1/agents/search", "/v1/swarms", "/v1/tools/{id}", "/v1/messages/search"] {
                #expect(paths[path] != nil, "missing \(path)")
            }
            let yaml = try await client.send(.get, "/openapi.yaml")
            #expect(yaml.status == .ok)
            #expect(yaml.text.hasPrefix("components:") || yaml.text.contains("openapi: 3.1.0"))
        }
    }

    @Test func docsPageLoadsSwaggerUIForTheDocument() async throws {
        try await withApp { client, _ in
            let docs = try await client.send(.get, "/docs")
            #expect(docs.status == .ok)
            #expect(docs.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(docs.text.contains("SwaggerUIBundle"))
            #expect(docs.text.contains("/openapi.json"))
        }
    }
}
