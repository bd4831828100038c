import Foundation
import Testing
import TrellisCodegen
import TrellisContract
import TrellisSchema

/// Sample schemas built in code (the YAML parser is tested elsewhere).
private enum OpenAPISample {
    static func at(_ line: Int, _ file: String = "schema/agents.yaml") -> TrellisSchema.SourceLocation {
        TrellisSchema.SourceLocation(file: file, line: line, column: 3)
    }

    /// The agents resource of DESIGN.md §3.
    static var agents: Resource {
        Resource(
            name: "Agent", description: "An AI agent definition.", table: "agents", path: "agents",
            fields: [
                Field(name: "name", spec: ValueSpec(type: .string, minLength: 1, maxLength: 200), required: true,
                      search: .A, example: .string("Research assistant"), location: at(6)),
                Field(name: "role", spec: ValueSpec(type: .string, maxLength: 100), search: .B, location: at(7)),
                Field(name: "system_prompt", spec: ValueSpec(type: .text, maxLength: 20000), search: .C, location: at(8)),
                Field(name: "model", spec: ValueSpec(type: .enumeration(["claude", "gpt", "gemini"])),
                      defaultValue: .string("claude"), filter: true, location: at(9)),
                Field(name: "temperature", spec: ValueSpec(type: .number, minimum: 0, maximum: 2),
                      defaultValue: .number(0.7), location: at(10)),
                Field(name: "is_active", spec: ValueSpec(type: .boolean), defaultValue: .bool(true), filter: true, location: at(11)),
                Field(name: "swarm_id", spec: ValueSpec(type: .uuid), filter: true, references: "swarms",
                      onDelete: .setNull, location: at(12)),
                Field(name: "tags", spec: ValueSpec(type: .array(items: ValueSpec(type: .string, maxLength: 40)), maxItems: 20),
                      location: at(13)),
                Field(name: "config", spec: ValueSpec(type: .object), location: at(14)),
                Field(name: "owner_email", spec: ValueSpec(type: .email), pii: true, location: at(15)),
                Field(name: "run_count", spec: ValueSpec(type: .integer, minimum: 0), readOnly: true, location: at(16)),
            ],
            sort: ["created_at", "name"],
            operations: [.list, .get, .create, .update, .delete, .search],
            scopes: Scopes(read: "agents:read", write: "agents:write"),
            rateLimit: RateLimit(perMinute: 600, burst: 60),
            events: true, audit: true, file: "schema/agents.yaml", location: at(1)
        )
    }

    /// A resource without search, with a write-once field.
    static var messages: Resource {
        Resource(
            name: "Message", table: "messages", path: "messages",
            fields: [
                Field(name: "swarm_id", spec: ValueSpec(type: .uuid), required: true, filter: true, writeOnce: true,
                      location: at(3, "schema/messages.yaml")),
                Field(name: "role", spec: ValueSpec(type: .enumeration(["user", "assistant", "system", "tool"])),
                      required: true, location: at(4, "schema/messages.yaml")),
                Field(name: "content", spec: ValueSpec(type: .text), required: true, location: at(5, "schema/messages.yaml")),
                Field(name: "tokens", spec: ValueSpec(type: .integer, minimum: 0), location: at(6, "schema/messages.yaml")),
            ],
            operations: [.list, .get, .create],
            scopes: Scopes(read: "messages:read", write: "messages:write"),
            file: "schema/messages.yaml", location: at(1, "schema/messages.yaml")
        )
    }

    /// A deprecated resource.
    static var legacy: Resource {
        Resource(
            name: "LegacyTool", table: "legacy_tools", path: "legacy-tools",
            fields: [
                Field(name: "name", spec: ValueSpec(type: .string), required: true, location: at(3, "schema/legacy_tools.yaml")),
                Field(name: "kind", spec: ValueSpec(type: .enumeration(["http", "shell"])), filter: true,
                      location: at(4, "schema/legacy_tools.yaml")),
                Field(name: "labels", spec: ValueSpec(type: .array(items: ValueSpec(type: .enumeration(["alpha", "beta"]))), minItems: 1),
                      location: at(5, "schema/legacy_tools.yaml")),
            ],
            scopes: Scopes(read: "legacy_tools:read", write: "legacy_tools:write"),
            deprecated: Deprecation(sunset: "2027-06-30", link: "https://example.com/migrate"),
            file: "schema/legacy_tools.yaml", location: at(1, "schema/legacy_tools.yaml")
        )
    }

    static func model(
        _ resources: [Resource] = [agents, messages, legacy],
        api: APISettings = APISettings(title: "Agent Platform", version: "2.1.0", description: "Agents and swarms.",
                                       servers: [ServerEntry(url: "http://127.0.0.1:8080", description: "Local")])
    ) -> SchemaModel {
        SchemaModel(api: api, resources: resources, jobs: [], schedules: [])
    }
}

/// The document as JSON objects, for inspection.
private struct RenderedDocument {
    let root: [String: Any]

    init(_ schema: SchemaModel) throws {
        let text = try OpenAPIGenerator.json(for: schema)
        root = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    func object(_ path: String...) -> [String: Any]? {
        var current: Any? = root
        for key in path { current = (current as? [String: Any])?[key] }
        return current as? [String: Any]
    }

    var paths: [String: Any] { object("paths") ?? [:] }
    func schema(_ name: String) -> [String: Any]? { object("components", "schemas", name) }
    func operation(_ path: String, _ method: String) -> [String: Any]? { object("paths", path, method) }

    func parameterNames(_ path: String, _ method: String) -> [String] {
        let parameters = operation(path, method)?["parameters"] as? [[String: Any]] ?? []
        return parameters.compactMap { parameter in
            if let name = parameter["name"] as? String { return name }
            guard let ref = parameter["$ref"] as? String else { return nil }
            let key = String(ref.split(separator: "/").last ?? "")
            return object("components", "parameters", key)?["name"] as? String
        }
    }
}

@Suite("OpenAPI document")
struct OpenAPITests {
    @Test func agentsSampleProducesEveryOperationPathWithItsOperationId() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let expected: [(String, String, String)] = [
            ("/v1/agents", "get", "listAgents"),
            ("/v1/agents", "post", "createAgent"),
            ("/v1/agents/{id}", "get", "getAgent"),
            ("/v1/agents/{id}", "patch", "updateAgent"),
            ("/v1/agents/{id}", "delete", "deleteAgent"),
            ("/v1/agents/search", "get", "searchAgents"),
            ("/v1/legacy-tools", "get", "listLegacyTools"),
        ]
        for (path, method, operationId) in expected {
            let operation = try #require(doc.operation(path, method), "\(method) \(path)")
            #expect(operation["operationId"] as? String == operationId)
            #expect(operation["tags"] as? [String] == [path.contains("legacy") ? "LegacyTool" : "Agent"])
            let responses = try #require(operation["responses"] as? [String: Any])
            for status in ["401", "403", "429", "500", "503"] {
                #expect(responses[status] != nil, "\(operationId) lacks \(status)")
            }
        }
        #expect(doc.root["openapi"] as? String == "3.1.0")
        #expect(doc.object("info")?["title"] as? String == "Agent Platform")
        #expect(doc.object("info")?["version"] as? String == "2.1.0")
    }

    @Test func filterParametersExistOnlyForFilterFields() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let names = Set(doc.parameterNames("/v1/agents", "get"))
        #expect(names.isSuperset(of: ["limit", "cursor", "sort", "created_after", "created_before", "model", "is_active", "swarm_id"]))
        for field in ["name", "role", "system_prompt", "temperature", "tags", "config", "owner_email"] {
            #expect(!names.contains(field), "\(field) is not a filter field")
        }
        let sort = try #require((doc.operation("/v1/agents", "get")?["parameters"] as? [[String: Any]])?
            .first { $0["name"] as? String == "sort" }?["schema"] as? [String: Any])
        #expect(sort["default"] as? String == "-created_at")
        #expect(sort["enum"] as? [String] == ["created_at", "-created_at", "name", "-name"])
    }

    @Test func enumFieldBecomesReferenceToEnumComponent() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let model = try #require(doc.object("components", "schemas", "Agent", "properties", "model"))
        #expect(model["$ref"] as? String == "#/components/schemas/AgentModel")
        #expect(model["default"] as? String == "claude")
        let component = try #require(doc.schema("AgentModel"))
        #expect(component["type"] as? String == "string")
        #expect(component["enum"] as? [String] == ["claude", "gpt", "gemini"])
        let filter = try #require((doc.operation("/v1/agents", "get")?["parameters"] as? [[String: Any]])?
            .first { $0["name"] as? String == "model" }?["schema"] as? [String: Any])
        #expect(filter["$ref"] as? String == "#/components/schemas/AgentModel")
    }

    @Test func optionalEnumFieldIsNullableReferenceAndArrayItemsUseEnumComponent() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let kind = try #require(doc.object("components", "schemas", "LegacyTool", "properties", "kind"))
        let anyOf = try #require(kind["anyOf"] as? [[String: Any]])
        #expect(anyOf.first?["$ref"] as? String == "#/components/schemas/LegacyToolKind")
        #expect(anyOf.last?["type"] as? String == "null")
        #expect(kind["type"] == nil)
        let items = try #require(doc.object("components", "schemas", "LegacyTool", "properties", "labels", "items"))
        #expect(items["$ref"] as? String == "#/components/schemas/LegacyToolLabelsItem")
        #expect(doc.schema("LegacyToolLabelsItem")?["enum"] as? [String] == ["alpha", "beta"])
    }

    @Test func searchPathIsAbsentWhenSearchIsNotListed() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        #expect(doc.paths["/v1/messages/search"] == nil)
        #expect(doc.schema("MessageSearchList") == nil)
        #expect(doc.operation("/v1/messages/{id}", "patch") == nil)
        #expect(doc.operation("/v1/messages/{id}", "delete") == nil)
        #expect(doc.operation("/v1/messages", "get")?["operationId"] as? String == "listMessages")
        #expect(doc.paths["/v1/agents/search"] != nil)
        #expect(doc.schema("AgentSearchList") != nil)
    }

    @Test func documentValidatesWithZeroProblems() throws {
        let document = OpenAPIGenerator.document(for: OpenAPISample.model())
        #expect(OpenAPIGenerator.validate(document) == [])
        let single = OpenAPIGenerator.document(for: OpenAPISample.model([OpenAPISample.messages], api: APISettings()))
        #expect(OpenAPIGenerator.validate(single) == [])
        // Edge cases: no fields, platform-wide tenancy, a single operation, search only.
        let bare = Resource(
            name: "Setting", table: "settings", path: "settings", tenancy: .global, fields: [], operations: [.get],
            scopes: Scopes(read: "admin", write: "admin"), file: "schema/settings.yaml", location: OpenAPISample.at(1)
        )
        var searchOnly = OpenAPISample.agents
        searchOnly.operations = [.search]
        let edges = OpenAPIGenerator.document(for: OpenAPISample.model([bare, searchOnly], api: APISettings()))
        #expect(OpenAPIGenerator.validate(edges) == [])
        #expect(try RenderedDocument(OpenAPISample.model([bare, searchOnly], api: APISettings())).paths.count == 5 + 2 + Set(OperationContract.handWritten.map(\.path)).count + Set(ProtocolEndpoint.all.map(\.path)).count)
    }

    @Test func yamlAndJSONAreByteIdenticalAcrossRuns() throws {
        let first = try OpenAPIGenerator.yaml(for: OpenAPISample.model())
        let second = try OpenAPIGenerator.yaml(for: OpenAPISample.model())
        #expect(first == second)
        #expect(first.hasSuffix("\n"))
        // Resource order in the model does not matter.
        let shuffled = try OpenAPIGenerator.yaml(for: OpenAPISample.model([OpenAPISample.legacy, OpenAPISample.messages, OpenAPISample.agents]))
        #expect(first == shuffled)
        let json = try OpenAPIGenerator.json(for: OpenAPISample.model())
        #expect(json == (try OpenAPIGenerator.json(for: OpenAPISample.model())))
        #expect(json.hasSuffix("\n"))
    }

    @Test func problemSchemaListsTheValidatorCodes() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let problem = try #require(doc.schema("Problem"))
        let properties = try #require(problem["properties"] as? [String: Any])
        for key in ["type", "title", "status", "code", "detail", "request_id", "errors"] {
            #expect(properties[key] != nil, "Problem lacks \(key)")
        }
        let codes = try #require(doc.object("components", "schemas", "FieldError", "properties", "code")?["enum"] as? [String])
        #expect(Set(codes) == ["required", "type", "too_short", "too_long", "too_small", "too_large", "pattern",
                               "format", "enum", "unknown_field", "too_many_items", "read_only"])
        let unauthorized = try #require(doc.object("components", "responses", "Unauthenticated"))
        #expect((unauthorized["headers"] as? [String: Any])?["WWW-Authenticate"] != nil)
        #expect((unauthorized["content"] as? [String: Any])?["application/problem+json"] != nil)
    }

    @Test func createSchemaRejectsUnknownFieldsAndExcludesReadOnlyFields() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let create = try #require(doc.schema("AgentCreate"))
        #expect(create["additionalProperties"] as? Bool == false)
        let properties = try #require(create["properties"] as? [String: Any])
        #expect(properties["run_count"] == nil)
        #expect(properties["id"] == nil)
        #expect(properties["name"] != nil)
        #expect(create["required"] as? [String] == ["name"])
        let update = try #require(doc.schema("MessageUpdate"))
        #expect(update["additionalProperties"] as? Bool == false)
        #expect((update["properties"] as? [String: Any])?["swarm_id"] == nil, "write_once fields cannot be patched")
        #expect(update["required"] == nil)
        let model = try #require(doc.schema("Agent"))
        let required = Set(model["required"] as? [String] ?? [])
        #expect(required.isSuperset(of: ["id", "workspace_id", "created_at", "updated_at", "version", "name", "model", "is_active"]))
        #expect(!required.contains("role"))
        let role = try #require(doc.object("components", "schemas", "Agent", "properties", "role"))
        #expect(role["type"] as? [String] == ["string", "null"])
        #expect(doc.object("components", "schemas", "Agent", "properties", "id")?["readOnly"] as? Bool == true)
        #expect(doc.object("components", "schemas", "Agent", "properties", "owner_email")?["x-pii"] as? Bool == true)
    }

    @Test func limitParameterBoundsComeFromAPISettings() throws {
        let api = APISettings(defaultPageSize: 25, maxPageSize: 250)
        let doc = try RenderedDocument(OpenAPISample.model([OpenAPISample.agents], api: api))
        let schema = try #require(doc.object("components", "parameters", "Limit", "schema"))
        #expect(schema["minimum"] as? Int == 1)
        #expect(schema["maximum"] as? Int == 250)
        #expect(schema["default"] as? Int == 25)
    }

    @Test func deprecatedResourceMarksOperationsDeprecated() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        for (path, method) in [("/v1/legacy-tools", "get"), ("/v1/legacy-tools", "post"), ("/v1/legacy-tools/{id}", "patch")] {
            let operation = try #require(doc.operation(path, method))
            #expect(operation["deprecated"] as? Bool == true)
            #expect((operation["description"] as? String)?.contains("2027-06-30") == true)
        }
        #expect(doc.operation("/v1/agents", "get")?["deprecated"] == nil)
    }

    @Test func platformEndpointsNeedNoCredential() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        for path in ["/health/live", "/health/ready", "/openapi.json", "/openapi.yaml", "/docs"] {
            let operation = try #require(doc.operation(path, "get"), "\(path)")
            #expect((operation["security"] as? [Any])?.isEmpty == true, "\(path) must have security: []")
            #expect(operation["tags"] as? [String] == ["Platform"])
        }
        #expect(doc.object("components", "securitySchemes", "bearerAuth")?["scheme"] as? String == "bearer")
        #expect((doc.root["security"] as? [[String: Any]])?.first?["bearerAuth"] != nil)
    }

    @Test func updateAcceptsJSONAndMergePatch() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let content = try #require(doc.object("paths", "/v1/agents/{id}", "patch", "requestBody", "content"))
        #expect(Set(content.keys) == ["application/json", "application/merge-patch+json"])
        let created = try #require(doc.object("paths", "/v1/agents", "post", "responses", "201", "headers"))
        #expect(Set(created.keys) == ["Location", "ETag", "X-Request-ID", "Idempotent-Replayed", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"])
        let example = try #require(doc.object("paths", "/v1/agents", "post", "requestBody", "content", "application/json", "example"))
        #expect(example["name"] as? String == "Research assistant")
    }

    /// The problem codes an operation's responses document, by status, following `$ref`s.
    private func documentedCodes(_ doc: RenderedDocument, _ path: String, _ method: String) -> [String: Set<String>] {
        var result: [String: Set<String>] = [:]
        for (status, entry) in doc.operation(path, method)?["responses"] as? [String: Any] ?? [:] {
            guard let ref = (entry as? [String: Any])?["$ref"] as? String else { continue }
            let media = doc.object("components", "responses", String(ref.split(separator: "/").last!), "content", "application/problem+json")
            var codes = Set<String>()
            if let example = media?["example"] as? [String: Any], let code = example["code"] as? String { codes.insert(code) }
            for case let example as [String: Any] in (media?["examples"] as? [String: Any] ?? [:]).values {
                if let code = (example["value"] as? [String: Any])?["code"] as? String { codes.insert(code) }
            }
            if !codes.isEmpty { result[status] = codes }
        }
        return result
    }

    @Test func eachOperationDocumentsTheCataloguedProblemsItAnswers() throws {
        // A unique field makes a 409 unique_violation possible; a reference without cascade a 409 still_referenced.
        var tool = OpenAPISample.legacy
        tool.fields[0].unique = true
        var pin = OpenAPISample.messages
        pin.fields[0].references = "legacy_tools"
        pin.fields[0].onDelete = .restrict
        let specific = try RenderedDocument(OpenAPISample.model([OpenAPISample.agents, pin, tool]))
        #expect(documentedCodes(specific, "/v1/legacy-tools", "post")["409"] == ["unique_violation"])
        #expect(documentedCodes(specific, "/v1/legacy-tools/{id}", "patch")["409"] == ["unique_violation"])
        #expect(documentedCodes(specific, "/v1/legacy-tools/{id}", "delete")["409"] == ["still_referenced"])
        #expect(documentedCodes(specific, "/v1/agents", "post")["409"] == nil)
        #expect(documentedCodes(specific, "/v1/agents/{id}", "delete")["409"] == nil)

        let doc = try RenderedDocument(OpenAPISample.model())
        #expect(documentedCodes(doc, "/v1/agents", "post")["400"] == ["malformed_json", "invalid_idempotency_key"])
        #expect(documentedCodes(doc, "/v1/api-keys/{id}/rotate", "post")["409"] == ["key_inactive"])
        for (path, method) in [("/v1/agents", "get"), ("/v1/agents/{id}", "patch"), ("/v1/api-keys", "post")] {
            let expected = path == "/v1/agents" ? OperationContract.problems(for: .list)
                : path == "/v1/api-keys" ? OperationContract.handWritten.first { $0.operationID == "createAPIKey" }!.problems
                : OperationContract.problems(for: .update, hasUniqueFields: false)
            let documented = documentedCodes(doc, path, method)
            #expect(documented == Dictionary(grouping: expected, by: { String($0.status) }).mapValues { Set($0.map(\.code)) }, "\(method) \(path)")
        }
        let codes = try #require(doc.object("components", "schemas", "Problem", "properties", "code")?["enum"] as? [String])
        #expect(codes == ProblemCatalogue.all.map(\.code))
        for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
            #expect(doc.object("components", "headers", name) != nil, "\(name) is not documented")
            #expect(doc.object("components", "responses", "RateLimited", "headers", name) != nil, "a 429 lacks \(name)")
        }
    }

    @Test func handWrittenOperationsAreDocumentedLikeGeneratedOnes() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        for operation in OperationContract.handWritten {
            let path = "/v1/" + operation.path
            let documented = try #require(doc.operation(path, operation.method.rawValue.lowercased()), "\(operation.method) \(path)")
            #expect(documented["operationId"] as? String == operation.operationID)
            if operation.scope.isEmpty {
                #expect((documented["description"] as? String)?.contains("Requires scope") == false, "\(operation.operationID)")
            } else {
                #expect((documented["description"] as? String)?.contains("`\(operation.scope)`") == true)
            }
            if operation.needsCredential {
                #expect(documented["security"] == nil, "uses the document's bearer security")
            } else {
                #expect((documented["security"] as? [Any])?.isEmpty == true, "\(operation.operationID) needs no credential: security []")
            }
        }
        #expect(doc.schema("NewAPIKey")?["properties"].flatMap { ($0 as? [String: Any])?["key"] } != nil)
        #expect(doc.schema("APIKey")?["properties"].flatMap { ($0 as? [String: Any])?["key"] } == nil)
        #expect(documentedCodes(doc, "/v1/admin/api-keys", "post")["403"] == ["insufficient_scope"])
    }

    @Test func theFirstServerIsRelativeSoTryItOutCallsTheServingHost() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let servers = try #require(doc.root["servers"] as? [[String: Any]])
        #expect(servers.map { $0["url"] as? String } == ["/", "http://127.0.0.1:8080"])
    }

    @Test func theBearerSchemeNamesOnlyCredentialsTheServerAccepts() throws {
        let doc = try RenderedDocument(OpenAPISample.model())
        let description = try #require(doc.object("components", "securitySchemes", "bearerAuth")?["description"] as? String)
        #expect(description.contains("/v1/auth/login"))
        #expect(description.contains("trs_"))
        #expect(description.contains("trk_"))
    }
}
