import Foundation
import Testing
import TrellisSchema

@testable import TrellisCodegen

/// SplitMix64, so shuffles in these tests are reproducible.
struct CodegenSeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Small schemas as YAML, loaded through the real loader.
private enum SnippetSchema {
    static let agents = """
        resource: Agent
        description: An AI agent definition.
        fields:
          name:          { type: string, required: true, min_length: 1, max_length: 200, search: A }
          role:          { type: string, max_length: 100, search: B }
          model:         { type: enum, values: [claude, gpt, gemini], default: claude, filter: true }
          temperature:   { type: number, minimum: 0, maximum: 2, default: 0.7 }
          is_active:     { type: boolean, default: true, filter: true }
          swarm_id:      { type: uuid, references: swarms, on_delete: set_null, filter: true }
          tags:          { type: array, items: { type: string, max_length: 40 }, max_items: 20 }
          config:        { type: object }
          run_count:     { type: integer, minimum: 0, read_only: true }
        sort: [created_at, name]
        """

    static let swarms = """
        resource: Swarm
        fields:
          name:       { type: string, required: true, min_length: 1, max_length: 200 }
          max_agents: { type: integer, minimum: 1, maximum: 100, default: 10 }
        """

    static let widgets = """
        resource: Widget
        fields:
          slug:     { type: string, required: true, pattern: "^[a-z][a-z0-9-]*$" }
          kind:     { type: enum, values: [default, self, plain_old], required: true }
          owner_id: { type: uuid, write_once: true }
          labels:   { type: array, items: { type: enum, values: [red, blue] } }
          due_on:   { type: date }
        """

    static let api = """
        title: Snippets
        version: "0.1.0"
        """

    static var files: [(name: String, contents: String)] {
        [
            ("schema/agents.yaml", agents), ("schema/swarms.yaml", swarms), ("schema/widgets.yaml", widgets),
            ("schema/api.yaml", api),
        ]
    }

    static func load(_ files: [(name: String, contents: String)] = files) throws -> SchemaModel {
        try SchemaLoader.parse(files: files).get()
    }

    /// Runs the generator with stand-in OpenAPI text (the document has its own tests).
    static func generate(_ schema: SchemaModel) -> [(name: String, contents: String)] {
        SwiftGenerator.generate(schema, openAPIJSON: "{}\n", openAPIYAML: "openapi: 3.1.0\n", openRPCJSON: "{}\n")
    }

    static func file(_ name: String, _ schema: SchemaModel? = nil) throws -> String {
        let files = generate(try schema ?? load())
        return try #require(files.first { $0.name == name }?.contents, "no \(name)")
    }
}

/// The lines of a generated file, without their indentation.
private func trimmedLines(_ text: String) -> [String] {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
}

/// True when `expected` occurs in `text` as consecutive lines (indentation ignored).
private func containsLines(_ text: String, _ expected: [String]) -> Bool {
    let lines = trimmedLines(text)
    guard !expected.isEmpty, lines.count >= expected.count else { return expected.isEmpty }
    for start in 0...(lines.count - expected.count) where Array(lines[start..<start + expected.count]) == expected {
        return true
    }
    return false
}

@Suite("Swift generator: snippets")
struct SwiftGeneratorTests {
    // MARK: Models

    @Test("the model struct header and its doc comment")
    func modelHeader() throws {
        let models = try SnippetSchema.file("GeneratedModels.swift")
        #expect(containsLines(models, [
            "/// An AI agent definition.",
            "///",
            "/// Remark: Generated from `schema/agents.yaml`.",
            "public struct Agent: Resource, Hashable {",
            "public typealias Create = AgentCreate",
            "public typealias Patch = AgentPatch",
            "public typealias Filter = AgentFilter",
        ]))
        #expect(containsLines(models, ["/// Remark: Generated from `schema/swarms.yaml`.", "public struct Swarm: Resource, Hashable {"]))
    }

    @Test("properties: implicit columns first, then fields with their Swift types")
    func modelProperties() throws {
        let models = try SnippetSchema.file("GeneratedModels.swift")
        #expect(containsLines(models, [
            "public var id: UUID",
            "public var workspaceID: UUID",
            "public var createdAt: Date",
            "public var updatedAt: Date",
            "public var version: Int64",
            "public var name: String",
            "public var role: String?",
            "public var model: AgentModel",
            "public var temperature: Double",
            "public var isActive: Bool",
            "public var swarmID: UUID?",
            "public var tags: [String]?",
            "public var config: JSONValue?",
            "public var runCount: Int64?",
        ]))
    }

    @Test("enums: one per enum field, keywords back-quoted, array items get an Item type")
    func enums() throws {
        let models = try SnippetSchema.file("GeneratedModels.swift")
        #expect(containsLines(models, ["public enum AgentModel: String, SchemaEnum {", "case claude", "case gpt", "case gemini", "}"]))
        #expect(containsLines(models, ["public enum WidgetKind: String, SchemaEnum {", "case `default` = \"default\"", "case `self` = \"self\"", "case plainOld = \"plain_old\"", "}"]))
        #expect(containsLines(models, ["public enum WidgetLabelsItem: String, SchemaEnum {", "case red", "case blue", "}"]))
    }

    @Test("JSON encoding writes every column under its snake_case key")
    func writeJSON() throws {
        let models = try SnippetSchema.file("GeneratedModels.swift")
        #expect(containsLines(models, [
            "public func writeJSON(to w: inout JSONWriter) {",
            "w.beginObject()",
            "w.key(\"id\"); w.value(id)",
        ]))
        #expect(trimmedLines(models).contains("w.key(\"swarm_id\"); w.value(swarmID)"))
        #expect(trimmedLines(models).contains("w.key(\"due_on\"); w.value(dueOn.map(RFC3339.formatDate))"))
    }

    // MARK: Validators

    @Test("create validator: one case per writable field, with the field's reader")
    func createValidatorCases() throws {
        let inputs = try SnippetSchema.file("GeneratedInputs.swift")
        #expect(containsLines(inputs, ["case \"name\":", "name = v.string(value, at: \"/name\", minLength: 1, maxLength: 200)"]))
        #expect(containsLines(inputs, ["case \"role\":", "if value != .null { role = v.string(value, at: \"/role\", maxLength: 100) }"]))
        #expect(containsLines(inputs, ["case \"temperature\":", "temperature = v.number(value, at: \"/temperature\", minimum: 0.0, maximum: 2.0)"]))
        #expect(containsLines(inputs, ["case \"model\":", "model = v.enumeration(value, at: \"/model\", as: AgentModel.self)"]))
        #expect(containsLines(inputs, ["case \"max_agents\":", "maxAgents = v.integer(value, at: \"/max_agents\", minimum: 1, maximum: 100)"]))
        #expect(containsLines(inputs, [
            "case \"tags\":",
            "if value != .null { tags = v.array(value, at: \"/tags\", maxItems: 20, element: { v, item, path in v.string(item, at: path, maxLength: 40) }) }",
        ]))
        #expect(containsLines(inputs, ["case \"due_on\":", "if value != .null { dueOn = v.date(value, at: \"/due_on\") }"]))
    }

    @Test("create validator: read-only fields and implicit columns are rejected, unknown fields too")
    func createValidatorRejections() throws {
        let inputs = try SnippetSchema.file("GeneratedInputs.swift")
        #expect(containsLines(inputs, [
            "case \"id\", \"workspace_id\", \"created_at\", \"updated_at\", \"version\", \"run_count\":",
            "v.readOnly(\"/\" + member.key)",
            "default:",
            "v.unknownField(member.key)",
        ]))
        // A read-only field is never read from the body.
        #expect(!trimmedLines(inputs).contains("case \"run_count\":"))
    }

    @Test("create validator: required fields without a default are checked, defaults fill the rest")
    func createValidatorRequiredAndDefaults() throws {
        let inputs = try SnippetSchema.file("GeneratedInputs.swift")
        #expect(trimmedLines(inputs).contains("if name == nil, object[\"name\"] == nil { v.missing(\"/name\") }"))
        #expect(trimmedLines(inputs).contains("if kind == nil, object[\"kind\"] == nil { v.missing(\"/kind\") }"))
        #expect(!trimmedLines(inputs).contains { $0.hasPrefix("if model == nil") })
        #expect(trimmedLines(inputs).contains("guard v.isValid, let name else { return .invalid(v.problems) }"))
        #expect(trimmedLines(inputs).contains("model: model ?? .claude,"))
        #expect(trimmedLines(inputs).contains("temperature: temperature ?? 0.7,"))
        #expect(trimmedLines(inputs).contains("maxAgents: maxAgents ?? 10"))
        #expect(trimmedLines(inputs).contains("runCount: nil"))
    }

    @Test("patterns are compiled once and passed to the reader")
    func patterns() throws {
        let inputs = try SnippetSchema.file("GeneratedInputs.swift")
        #expect(containsLines(inputs, ["enum WidgetPatterns {", #"static let slug = FieldPattern("^[a-z][a-z0-9-]*$")"#, "}"]))
        #expect(trimmedLines(inputs).contains(#"slug = v.string(value, at: "/slug", pattern: WidgetPatterns.slug)"#))
    }

    @Test("patch validator: null clears optional fields; write-once fields are read-only")
    func patchValidator() throws {
        let inputs = try SnippetSchema.file("GeneratedInputs.swift")
        #expect(containsLines(inputs, [
            "case \"role\":",
            "if value == .null { patch.role = .some(nil) } else if let parsed = v.string(value, at: \"/role\", maxLength: 100) { patch.role = parsed }",
        ]))
        #expect(containsLines(inputs, ["case \"owner_id\":", "v.writeOnce(\"/\" + member.key)"]))
        #expect(trimmedLines(inputs).contains("public var ownerID: UUID?"))  // in the create input
        #expect(!trimmedLines(inputs).contains("public var ownerID: UUID??"))  // not in the patch
    }

    // MARK: Queries

    @Test("filter parse lines: booleans and enums from query text")
    func filterParse() throws {
        let queries = try SnippetSchema.file("GeneratedQueries.swift")
        #expect(containsLines(queries, ["case \"is_active\":", "self.isActive = v.queryBoolean(text, at: \"/query/is_active\")"]))
        #expect(containsLines(queries, ["case \"model\":", "self.model = v.enumeration(.string(text), at: \"/query/model\", as: AgentModel.self)"]))
        #expect(containsLines(queries, ["case \"swarm_id\":", "self.swarmID = v.uuid(.string(text), at: \"/query/swarm_id\")"]))
        #expect(trimmedLines(queries).contains("if let isActive { result.append(ColumnCondition(\"is_active\", .bool(isActive))) }"))
    }

    @Test("a resource without filters has a filter that accepts nothing")
    func emptyFilter() throws {
        let queries = try SnippetSchema.file("GeneratedQueries.swift")
        #expect(containsLines(queries, [
            "public struct SwarmFilter: ResourceFilter, Hashable {",
            "public init() {}",
            "",
            "public mutating func parse(_ parameter: String, _ text: String, _ v: inout Validator) -> Bool {",
            "false",
            "}",
        ]))
    }

    @Test("sort keys enum")
    func sortKeys() throws {
        let queries = try SnippetSchema.file("GeneratedQueries.swift")
        #expect(containsLines(queries, ["public enum AgentSortKey: String, CaseIterable, Sendable {", "case createdAt = \"created_at\"", "case name", "}"]))
    }

    // MARK: Descriptors and DDL

    @Test("descriptors embed the DDL CHECK text and the foreign keys")
    func descriptorDDL() throws {
        let descriptors = try SnippetSchema.file("GeneratedDescriptors.swift")
        let lines = trimmedLines(descriptors)
        #expect(lines.contains(#"TableSpec.Column(name: "name", definition: "text NOT NULL CONSTRAINT agents_name_check CHECK (char_length(name) BETWEEN 1 AND 200)"),"#))
        #expect(lines.contains(#"TableSpec.Column(name: "model", definition: "text NOT NULL DEFAULT 'claude' CONSTRAINT agents_model_check CHECK (model IN ('claude', 'gpt', 'gemini'))"),"#))
        #expect(lines.contains(#"foreignKeys: ["agents_swarm_id_fkey": "swarm_id"],"#))
        #expect(lines.contains(#"TableSpec.Constraint(name: "agents_swarm_id_fkey", definition: "FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE SET NULL (swarm_id)", isForeignKey: true),"#))
        #expect(lines.contains("tables: [Swarm.table, Agent.table, Widget.table],"))
    }

    @Test("a deprecated resource's descriptor carries its sunset and link; api.yaml's cors reaches the APIDefinition")
    func descriptorDeprecationAndCORS() throws {
        var files = SnippetSchema.files.filter { $0.name != "schema/swarms.yaml" && $0.name != "schema/api.yaml" }
        files.append(("schema/swarms.yaml", SnippetSchema.swarms + "\ndeprecated: { sunset: 2027-06-30, link: https://example.com/migrate }\n"))
        files.append(("schema/api.yaml", SnippetSchema.api + "\ncors: { allowed_origins: [\"https://app.example.com\"], max_age: 2m }\n"))
        let generated = SnippetSchema.generate(try SnippetSchema.load(files))
        let lines = trimmedLines(try #require(generated.first { $0.name == "GeneratedDescriptors.swift" }?.contents))
        #expect(lines.contains(#"deprecation: ResourceDeprecation(sunset: "2027-06-30", link: "https://example.com/migrate")"#))
        #expect(lines.filter { $0.hasPrefix("deprecation:") }.count == 1, "only the deprecated resource")
        #expect(lines.contains(#"cors: CORSPolicy(allowedOrigins: ["https://app.example.com"], allowCredentials: false, maxAge: 120),"#))
        let plain = trimmedLines(try SnippetSchema.file("GeneratedDescriptors.swift"))
        #expect(!plain.contains { $0.hasPrefix("cors:") || $0.hasPrefix("deprecation:") })
    }

    @Test("api.yaml's dependencies reach the APIDefinition; without any, nothing is emitted")
    func descriptorDependencies() throws {
        var files = SnippetSchema.files.filter { $0.name != "schema/api.yaml" }
        files.append(("schema/api.yaml", SnippetSchema.api + "\ndependencies:\n  - { name: ai_provider, url: \"https://status.example.com/health\", timeout: 2s }\n"))
        let lines = trimmedLines(try SnippetSchema.file("GeneratedDescriptors.swift", try SnippetSchema.load(files)))
        #expect(containsLines(lines.joined(separator: "\n"), [
            "schedules: GeneratedJobs.schedules,",
            "dependencies: [",
            #"HealthDependency(name: "ai_provider", url: "https://status.example.com/health", interval: .seconds(30), timeout: .seconds(2)),"#,
            "]",
        ]))
        let plain = trimmedLines(try SnippetSchema.file("GeneratedDescriptors.swift"))
        #expect(plain.contains("schedules: GeneratedJobs.schedules"))
        #expect(!plain.contains { $0.hasPrefix("dependencies:") })
    }

    @Test("a resource's retention reaches the APIDefinition and its OpenAPI description")
    func descriptorRetention() throws {
        var files = SnippetSchema.files.filter { $0.name != "schema/swarms.yaml" }
        files.append(("schema/swarms.yaml", SnippetSchema.swarms + "\nretention: { archive_after: 30d }\n"))
        let schema = try SnippetSchema.load(files)
        let lines = trimmedLines(try SnippetSchema.file("GeneratedDescriptors.swift", schema))
        #expect(lines.contains(#"RetentionRule(resource: "swarms", table: "swarms", action: .archive, after: .seconds(2592000)),"#))
        let document = try OpenAPIGenerator.json(for: schema)
        #expect(document.contains("Retention: objects are archived (moved out of the API) 30 days after `created_at`, within the hour."))
        #expect(!trimmedLines(try SnippetSchema.file("GeneratedDescriptors.swift")).contains { $0.hasPrefix("retention:") })
    }

    // MARK: Whole-output properties

    @Test("every file named in OutputFiles.swiftFiles is produced exactly once, and nothing else")
    func outputNames() throws {
        let names = SnippetSchema.generate(try SnippetSchema.load()).map(\.name)
        for name in OutputFiles.swiftFiles {
            #expect(names.filter { $0 == name }.count == 1, "\(name)")
        }
        #expect(names.sorted() == OutputFiles.swiftFiles.sorted())
        #expect(Set(OutputFiles.swiftFiles).count == OutputFiles.swiftFiles.count)
    }

    @Test("every file starts with the do-not-edit header and ends with one newline")
    func headers() throws {
        for file in SnippetSchema.generate(try SnippetSchema.load()) {
            #expect(file.contents.hasPrefix("// Generated by trellis-codegen from schema/. Do not edit"), "\(file.name)")
            #expect(file.contents.hasSuffix("}\n") && !file.contents.hasSuffix("\n\n"), "\(file.name)")
            #expect(!file.contents.contains(" \n"), "\(file.name) has trailing spaces")
            #expect(!file.contents.contains("\t"), "\(file.name) has tabs")
        }
    }

    @Test("an empty schema still produces every file")
    func emptySchema() throws {
        let empty = try SnippetSchema.load([("schema/api.yaml", SnippetSchema.api)])
        let files = SnippetSchema.generate(empty)
        #expect(files.map(\.name).sorted() == OutputFiles.swiftFiles.sorted())
        #expect(files.allSatisfy { !$0.contents.isEmpty })
    }

    @Test("deterministic: the same schema twice gives byte-identical files")
    func deterministic() throws {
        let first = SnippetSchema.generate(try SnippetSchema.load())
        let second = SnippetSchema.generate(try SnippetSchema.load())
        #expect(first.map(\.name) == second.map(\.name))
        #expect(first.map(\.contents) == second.map(\.contents))
    }

    @Test("the order of schema files does not matter")
    func fileOrderIrrelevant() throws {
        let expected = SnippetSchema.generate(try SnippetSchema.load()).map(\.contents)
        var rng = CodegenSeededGenerator(seed: 2026)
        for _ in 0..<8 {
            let shuffled = SnippetSchema.files.shuffled(using: &rng)
            let output = SnippetSchema.generate(try SnippetSchema.load(shuffled)).map(\.contents)
            #expect(output == expected, "order \(shuffled.map(\.name))")
        }
    }

    @Test("the whole sample schema, shuffled, gives the same files")
    func fixtureOrderIrrelevant() throws {
        let directory = try CodegenFixtures.schemaDirectory()
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".yaml") }.sorted()
        let files = try names.map { (name: "schema/" + $0, contents: try String(contentsOf: directory.appendingPathComponent($0), encoding: .utf8)) }
        let expected = SnippetSchema.generate(try SnippetSchema.load(files)).map(\.contents)
        var rng = CodegenSeededGenerator(seed: 7)
        for _ in 0..<5 {
            #expect(SnippetSchema.generate(try SnippetSchema.load(files.shuffled(using: &rng))).map(\.contents) == expected)
        }
    }

    // MARK: Helpers of the renderer

    @Test("raw string literals get enough # to hold any text")
    func rawLiterals() {
        #expect(SwiftGenerator.rawLiteral("a: b\n") == "#\"\"\"\na: b\n\"\"\"#")
        let tricky = "x: \"\"\"# and \\# here"
        let literal = SwiftGenerator.rawLiteral(tricky)
        #expect(literal == "##\"\"\"\n" + tricky + "\n\"\"\"##")
        let trickier = tricky + " \\## too"
        #expect(SwiftGenerator.rawLiteral(trickier).hasPrefix("###\"\"\"\n"))
    }

    @Test("Swift naming: initialisms, keywords and string escapes")
    func naming() {
        #expect(SwiftNaming.property("swarm_id") == "swarmID")
        #expect(SwiftNaming.property("api_url") == "apiURL")
        #expect(SwiftNaming.property("system_prompt") == "systemPrompt")
        #expect(SwiftNaming.property("default") == "`default`")
        #expect(SwiftNaming.type("is_active") == "IsActive")
        #expect(SwiftNaming.literal("a\"b\\c\nd\u{1}") == #""a\"b\\c\nd\u{1}""#)
    }
}
