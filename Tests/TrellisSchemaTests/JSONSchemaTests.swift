import Foundation
import Testing
@testable import TrellisSchema

/// The published JSON Schemas must agree with the loader: same keys, closed objects, and the
/// sample files must validate.
@Suite("JSON Schema of the schema language")
struct JSONSchemaTests {
    static func object(_ text: String) throws -> [String: Any] {
        let value = try JSONSerialization.jsonObject(with: Data(text.utf8))
        return try #require(value as? [String: Any])
    }

    static func propertyNames(_ schema: [String: Any]) -> Set<String> {
        Set((schema["properties"] as? [String: Any] ?? [:]).keys)
    }

    @Test func resourceSchemaListsExactlyTheParsersKeys() throws {
        let schema = try Self.object(SchemaJSONSchema.resourceFile)
        #expect(Self.propertyNames(schema) == Set(SchemaVocabulary.resourceKeys))
        let defs = try #require(schema["$defs"] as? [String: Any])
        #expect(Self.propertyNames(try #require(defs["field"] as? [String: Any])) == Set(SchemaVocabulary.fieldKeys))
        #expect(Self.propertyNames(try #require(defs["valueSpec"] as? [String: Any]))
            == Set(SchemaVocabulary.valueSpecKeys))
        #expect(schema["required"] as? [String] == ["resource", "fields"])
    }

    @Test func jobsAndAPISchemasListExactlyTheParsersKeys() throws {
        let jobs = try Self.object(SchemaJSONSchema.jobsFile)
        #expect(Self.propertyNames(jobs) == Set(SchemaVocabulary.jobsFileKeys))
        let defs = try #require(jobs["$defs"] as? [String: Any])
        let payload = Self.propertyNames(try #require(defs["payloadField"] as? [String: Any]))
        #expect(payload == Set(SchemaVocabulary.payloadFieldKeys))
        #expect(payload.isDisjoint(with: SchemaVocabulary.columnOnlyFieldKeys))
        let api = try Self.object(SchemaJSONSchema.apiFile)
        #expect(Self.propertyNames(api) == Set(SchemaVocabulary.apiKeys))
    }

    @Test func everyObjectIsClosedAndEveryPropertyHasASchema() throws {
        for text in [SchemaJSONSchema.resourceFile, SchemaJSONSchema.jobsFile, SchemaJSONSchema.apiFile] {
            try Self.walk(Self.object(text)) { schema in
                if let properties = schema["properties"] as? [String: Any] {
                    #expect(schema["additionalProperties"] as? Bool == false)
                    for (key, value) in properties where key != "default" && key != "example" {
                        #expect((value as? [String: Any])?.isEmpty == false, "property '\(key)' has no schema")
                    }
                }
            }
        }
    }

    @Test func sampleFilesValidateAgainstTheirSchema() throws {
        for (name, text) in RobustnessTests.sampleFiles {
            let document = try #require(YAMLDocument.jsonValue(of: text))
            let schemaText = name.hasSuffix("/api.yaml") ? SchemaJSONSchema.apiFile
                : name.hasSuffix("/jobs.yaml") ? SchemaJSONSchema.jobsFile : SchemaJSONSchema.resourceFile
            let schema = try Self.object(schemaText)
            var validator = MiniValidator(root: schema)
            validator.validate(document, against: schema, at: "")
            #expect(validator.problems.isEmpty, "\(name): \(validator.problems)")
        }
    }

    @Test func unknownKeysFailTheSchemaAsTheyFailTheLoader() throws {
        let yaml = "resource: Agent\nfields:\n  name: { type: string, max_lenght: 3 }\n"
        #expect(!Fixture.diagnostics(agents: yaml).isEmpty)
        let schema = try Self.object(SchemaJSONSchema.resourceFile)
        var validator = MiniValidator(root: schema)
        validator.validate(try #require(YAMLDocument.jsonValue(of: yaml)), against: schema, at: "")
        #expect(validator.problems == ["/fields/name: unknown key 'max_lenght'"])
    }

    static func walk(_ schema: [String: Any], _ visit: ([String: Any]) -> Void) {
        visit(schema)
        for value in schema.values {
            if let child = value as? [String: Any] { walk(child, visit) }
            if let list = value as? [Any] {
                for case let child as [String: Any] in list { walk(child, visit) }
            }
        }
    }
}

/// Just enough of JSON Schema for the documents ``SchemaJSONSchema`` produces.
struct MiniValidator {
    let root: [String: Any]
    var problems: [String] = []

    mutating func validate(_ value: Any, against schema: [String: Any], at path: String) {
        if let ref = schema["$ref"] as? String {
            let name = String(ref.dropFirst("#/$defs/".count))
            let target = (root["$defs"] as? [String: Any])?[name] as? [String: Any] ?? [:]
            return validate(value, against: target, at: path)
        }
        if let options = schema["anyOf"] as? [[String: Any]] {
            let matches = options.contains { option in
                var probe = MiniValidator(root: root)
                probe.validate(value, against: option, at: path)
                return probe.problems.isEmpty
            }
            if !matches { problems.append("\(path): matches no alternative") }
            return
        }
        if let allowed = schema["enum"] as? [String], !allowed.contains(value as? String ?? "\u{0}") {
            problems.append("\(path): '\(value)' is not one of \(allowed)")
        }
        if let type = schema["type"] as? String, !Self.has(type: type, value) {
            problems.append("\(path): expected \(type)")
            return
        }
        if let text = value as? String, let pattern = schema["pattern"] as? String,
           text.range(of: pattern, options: .regularExpression) == nil {
            problems.append("\(path): '\(text)' does not match \(pattern)")
        }
        if let list = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, item) in list.enumerated() { validate(item, against: items, at: "\(path)/\(index)") }
        }
        guard let object = value as? [String: Any] else { return }
        for key in schema["required"] as? [String] ?? [] where object[key] == nil {
            problems.append("\(path): missing '\(key)'")
        }
        let properties = schema["properties"] as? [String: Any] ?? [:]
        for (key, child) in object.sorted(by: { $0.key < $1.key }) {
            if let propertySchema = properties[key] as? [String: Any] {
                validate(child, against: propertySchema, at: "\(path)/\(key)")
            } else if let additional = schema["additionalProperties"] as? [String: Any] {
                validate(child, against: additional, at: "\(path)/\(key)")
            } else if schema["additionalProperties"] as? Bool == false {
                problems.append("\(path): unknown key '\(key)'")
            }
        }
    }

    static func has(type: String, _ value: Any) -> Bool {
        switch type {
        case "object": value is [String: Any]
        case "array": value is [Any]
        case "string": value is String
        case "boolean": value is Bool
        case "integer": value is Int
        case "number": value is Int || value is Double
        default: true
        }
    }
}
