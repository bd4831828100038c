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

    /// `/openapi.yaml` is byte for byte the committed `openapi/openapi.yaml` (which a codegen test
    /// keeps fresh against `schema/`), and `/openapi.json` has the same operations.
    @Test func theServedDocumentIsTheCommittedOpenAPIFile() async throws {
        let committedURL = TestEnvironment.repositoryRoot.appendingPathComponent("openapi/openapi.yaml")
        let committed = try #require(FileManager.default.contents(atPath: committedURL.path), "openapi/openapi.yaml is missing")
        let committedPaths = Self.pathKeys(ofYAML: String(decoding: committed, as: UTF8.self))
        #expect(committedPaths.count > 10, "openapi/openapi.yaml lists too few paths: \(committedPaths)")
        try await withApp { client, _ in
            let yaml = try await client.send(.get, "/openapi.yaml")
            #expect(yaml.status == .ok)
            #expect(yaml.headers[.contentType] == "application/yaml")
            // The document is embedded as a string literal, which drops the file's final newline.
            let served = Array(yaml.body.readableBytesView) + [UInt8(ascii: "\n")]
            let expected = Array(committed)
            let firstDifference = served.indices.first { $0 >= expected.count || served[$0] != expected[$0] } ?? served.count
            let same = served == expected
            #expect(
                same,
                "GET /openapi.yaml (\(served.count) bytes with the newline) differs from openapi/openapi.yaml (\(committed.count) bytes) at byte \(firstDifference)")

            let json = try await client.send(.get, "/openapi.json")
            #expect(json.status == .ok)
            #expect(json.headers[.contentType] == "application/json")
            let document = try json.object()
            #expect(document.string("openapi") == "3.1.0")
            let paths = Set((document["paths"]?.object ?? JSONObject()).map(\.key))
            #expect(paths == committedPaths)
            for path in ["/v1/agents", "/v1/agents/{id}", "/v1/agents/search", "/v1/swarms", "/v1/tools/{id}", "/v1/messages/search"] {
                #expect(paths.contains(path), "missing \(path)")
            }
        }
    }

    /// The keys of the top-level `paths:` mapping of a block-style YAML document.
    static func pathKeys(ofYAML text: String) -> Set<String> {
        var keys: Set<String> = []
        var inPaths = false
        for line in text.split(separator: "\n") {
            if !line.hasPrefix(" ") {
                inPaths = line == "paths:"
            } else if inPaths, line.hasPrefix("  "), !line.hasPrefix("   "), line.hasSuffix(":") {
                keys.insert(String(line.dropFirst(2).dropLast()))
            }
        }
        return keys
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
