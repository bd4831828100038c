import Testing
import TrellisSchema

@Suite("api.yaml")
struct APISettingsTests {
    func api(_ yaml: String) -> APISettings? { Fixture.model([("schema/api.yaml", yaml)])?.api }

    @Test func missingFileKeepsTheDefaults() throws {
        let model = try #require(Fixture.model([]))
        #expect(model.api == APISettings())
        #expect(model.resources.isEmpty && model.jobs.isEmpty && model.schedules.isEmpty)
    }

    @Test(arguments: [
        ("1MiB", 1_048_576), ("512KiB", 524_288), ("2MB", 2_000_000), ("1.5 KiB", 1536), ("100b", 100), ("4096", 4096),
    ])
    func bodySizesParse(text: String, bytes: Int) throws {
        #expect(api("limits: { body_size: \"\(text)\" }")?.maxBodySize == bytes)
    }

    @Test func bodySizeAsAnIntegerIsBytes() {
        #expect(api("limits: { body_size: 65536 }")?.maxBodySize == 65536)
    }

    @Test func bodySizeIsCappedAtSixteenMebibytes() {
        #expect(api("limits: { body_size: 16MiB }")?.maxBodySize == APISettings.largestBodySize)
        #expect(Fixture.diagnostics([("schema/api.yaml", "limits: { body_size: 17MiB }")]) == [
            "schema/api.yaml:1:22: error: body_size '17MiB' is over the largest allowed, 16MiB: a JSON API parses each body in memory",
        ])
    }

    @Test("the JSON-RPC batch limit defaults to 50 and is 1 to 1000")
    func rpcBatchIsReadAndBounded() {
        #expect(APISettings().rpcMaxBatch == 50)
        #expect(api("limits: { rpc_batch: 200 }")?.rpcMaxBatch == 200)
        #expect(Fixture.diagnostics([("schema/api.yaml", "limits: { rpc_batch: 1001 }")]) == [
            "schema/api.yaml:1:22: error: rpc_batch must be at most 1000 calls, found 1001",
        ])
        #expect(Fixture.diagnostics([("schema/api.yaml", "limits: { rpc_batch: 0 }")]).count == 1)
    }

    @Test("graphql limits are read, bounded and default to depth 10, complexity 5000, 30 aliases, 32 KiB")
    func graphQLLimitsAreReadAndBounded() {
        #expect(APISettings().graphQL == GraphQLSettings())
        let read = api("graphql: { max_depth: 6, max_complexity: 900, max_aliases: 5, max_document_size: 8KiB, introspection: false }")?.graphQL
        #expect(read?.maxDepth == 6 && read?.maxComplexity == 900 && read?.maxAliases == 5)
        #expect(read?.maxDocumentSize == 8192 && read?.introspection == false)
        #expect(Fixture.diagnostics([("schema/api.yaml", "graphql: { max_depth: 101 }")]) == [
            "schema/api.yaml:1:23: error: graphql max_depth must be at most 100, found 101",
        ])
        #expect(Fixture.diagnostics([("schema/api.yaml", "graphql: { max_document_size: 2MiB }")]).count == 1)
        #expect(Fixture.diagnostics([("schema/api.yaml", "graphql: { depth: 3 }")]).count == 1)
    }

    @Test func settingsAreRead() throws {
        let yaml = """
            title: Demo
            version: "2.1"
            servers: [{ url: "https://api.example.com", description: Production }, { url: /v1 }]
            limits: { page_size: { default: 50, max: 500 } }
            cors: { allowed_origins: ["https://app.example.com"], allow_credentials: true, max_age: 1h }
            rate_limit: { per_minute: 60, burst: 10 }
            """
        let settings = try #require(api(yaml))
        #expect(settings.title == "Demo" && settings.version == "2.1")
        #expect(settings.servers.map(\.url) == ["https://api.example.com", "/v1"])
        #expect(settings.defaultPageSize == 50 && settings.maxPageSize == 500)
        #expect(settings.cors == CORSSettings(allowedOrigins: ["https://app.example.com"], allowCredentials: true, maxAge: 3600))
        #expect(settings.rateLimit == RateLimit(perMinute: 60, burst: 10))
    }

    @Test func invalidSettingsAreAllReported() {
        let yaml = """
            title: ""
            version: 1.0
            servers: [{ url: "ftp://files" }]
            limits: { body_size: 1 MiBB, page_size: { default: 200 } }
            cors: { allowed_origins: ["*"], allow_credentials: true }
            ratelimit: { per_minute: 1 }
            """
        #expect(Fixture.diagnostics([("schema/api.yaml", yaml)]) == [
            "schema/api.yaml:1:8: error: 'title' must not be empty",
            "schema/api.yaml:2:10: error: expected a string for 'version', found the number 1.0 (quote it to make it a string)",
            "schema/api.yaml:3:18: error: server url 'ftp://files' must be an http or https URL, or a path starting with '/'",
            "schema/api.yaml:4:22: error: invalid body_size '1 MiBB': use a number of bytes or a size such as 512KiB, 1MiB, 2MB",
            "schema/api.yaml:4:52: error: page_size 'default' (200) is larger than 'max' (100)",
            "schema/api.yaml:5:52: error: 'allow_credentials' cannot be used with the '*' origin; list the origins",
            "schema/api.yaml:6:1: error: unknown key 'ratelimit' in api.yaml (did you mean 'rate_limit'?)",
        ])
    }

    @Test func pageSizeMaxIsCappedAtOneThousand() {
        #expect(Fixture.diagnostics([("schema/api.yaml", "limits: { page_size: { max: 5000 } }")]) == [
            "schema/api.yaml:1:29: error: page_size 'max' must be at most 1000, found 5000",
        ])
    }
}

@Suite("api.yaml dependencies")
struct APIDependencyTests {
    func diagnostics(_ yaml: String) -> [String] { Fixture.diagnostics([("schema/api.yaml", yaml)]) }

    @Test func dependenciesAreReadWithTheirDefaults() throws {
        let api = try #require(Fixture.model([("schema/api.yaml", """
            dependencies:
              - { name: ai_provider, url: "https://status.example.com/health", interval: 1m, timeout: 10s }
              - { name: search, url: "http://search.internal:9200/" }
            """)])?.api)
        #expect(api.dependencies == [
            DependencySettings(name: "ai_provider", url: "https://status.example.com/health", interval: 60, timeout: 10),
            DependencySettings(name: "search", url: "http://search.internal:9200/", interval: 30, timeout: 5),
        ])
    }

    @Test func aBadDependencyIsNamedWithItsFileLineAndColumn() {
        #expect(diagnostics("dependencies:\n  - { name: AI, url: \"ftp://x\" }") == [
            "schema/api.yaml:2:13: error: dependency name 'AI' must be snake_case (a-z, 0-9, _; starting with a letter), at most 63 characters",
            "schema/api.yaml:2:22: error: dependency url 'ftp://x' must be an http or https URL",
        ])
        #expect(diagnostics("dependencies:\n  - { name: a, url: \"http://a\", timeout: 30s, interval: 10s }") == [
            "schema/api.yaml:2:5: error: timeout (30s) must be shorter than interval (10s)",
        ])
        #expect(diagnostics("dependencies:\n  - { name: a, url: \"http://a\", interval: 2s }") == [
            "schema/api.yaml:2:43: error: interval must be from 5s to 3600s, found 2s",
        ])
        #expect(diagnostics("dependencies:\n  - { name: a, url: \"http://a\" }\n  - { name: a, url: \"http://b\" }") == [
            "schema/api.yaml:3:5: error: dependency 'a' is listed twice",
        ])
        #expect(diagnostics("dependencies:\n  - { name: a, url: \"http://a\", every: 5s }").count == 1)
        #expect(diagnostics("dependencies:\n  - { url: \"http://a\" }").count == 1)
    }
}
