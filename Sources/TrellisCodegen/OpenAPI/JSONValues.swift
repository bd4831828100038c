import OpenAPIKit
import TrellisSchema

extension OpenAPIGenerator {
    /// Literal JSON values for the document: schema defaults, and the examples of request and
    /// response bodies (from each field's `example`, else its `default`, else a typed placeholder).
    enum JSONValues {
        /// A YAML literal as an encodable value.
        static func anyCodable(_ literal: JSONLiteral) -> AnyCodable {
            switch literal {
            case .null: return AnyCodable(nilLiteral: ())
            case let .bool(value): return AnyCodable(value)
            case let .integer(value): return AnyCodable(value)
            case let .number(value): return AnyCodable(value)
            case let .string(value): return AnyCodable(value)
            case let .array(values): return AnyCodable(values.map(anyCodable))
            case let .object(pairs):
                var object: [String: AnyCodable] = [:]
                for (key, value) in pairs { object[key] = anyCodable(value) }
                return AnyCodable(object)
            }
        }

        static let exampleID = "0190f3c2-7b1e-7a4c-9d2e-5f6a7b8c9d0e"
        /// The value of other uuid fields (references), distinct from the object's own `id`.
        static let exampleReferenceID = "0190f3b8-4d2a-7e61-8c3f-1a2b3c4d5e6f"
        static let exampleWorkspaceID = "0190f3c1-0000-7000-8000-000000000001"
        static let exampleTimestamp = "2025-01-15T09:30:00Z"
        static let exampleRequestID = "req_01J9Z3K4T5V6W7X8Y9Z0ABCD"
        static let exampleCursor = "eyJjcmVhdGVkX2F0IjoiMjAyNS0wMS0xNVQwOTozMDowMFoifQ"

        /// The value shown for `field` in examples.
        static func example(for field: Field) -> AnyCodable {
            if let example = field.example { return anyCodable(example) }
            if let value = field.defaultValue { return anyCodable(value) }
            return placeholder(for: field.spec)
        }

        /// A value of the right type that respects the simple constraints of `spec`.
        static func placeholder(for spec: ValueSpec) -> AnyCodable {
            switch spec.type {
            case .string, .text:
                var text = "example"
                if let max = spec.maxLength, max < text.count { text = String(text.prefix(max)) }
                if let min = spec.minLength, min > text.count {
                    text += String(repeating: "x", count: min - text.count)
                }
                return AnyCodable(text)
            case .integer:
                var value: Int64 = 1
                if let min = spec.minimum, Double(value) < min, let v = Int64(exactly: min.rounded(.up)) { value = v }
                if let max = spec.maximum, Double(value) > max, let v = Int64(exactly: max.rounded(.down)) { value = v }
                return AnyCodable(value)
            case .number:
                var value = 1.0
                if let min = spec.minimum, value < min { value = min }
                if let max = spec.maximum, value > max { value = max }
                return AnyCodable(value)
            case .boolean: return AnyCodable(true)
            case .uuid: return AnyCodable(exampleReferenceID)
            case .email: return AnyCodable("user@example.com")
            case .url: return AnyCodable("https://example.com")
            case .datetime: return AnyCodable(exampleTimestamp)
            case .date: return AnyCodable("2025-01-15")
            case let .enumeration(values): return values.first.map { AnyCodable($0) } ?? AnyCodable(nilLiteral: ())
            case .object: return AnyCodable([String: AnyCodable]())
            case let .array(items):
                if let max = spec.maxItems, max < 1 { return AnyCodable([AnyCodable]()) }
                let count = max(1, spec.minItems ?? 1)
                return AnyCodable(Array(repeating: placeholder(for: items), count: count))
            }
        }

        /// An object as the server returns it: implicit columns and every field.
        static func modelExample(for resource: Resource) -> [String: AnyCodable] {
            var object: [String: AnyCodable] = [
                "id": AnyCodable(exampleID),
                "created_at": AnyCodable(exampleTimestamp),
                "updated_at": AnyCodable(exampleTimestamp),
                "version": AnyCodable(Int64(1)),
            ]
            if resource.tenancy == .workspace { object["workspace_id"] = AnyCodable(exampleWorkspaceID) }
            for field in resource.fields { object[field.name] = example(for: field) }
            return object
        }

        /// A `POST` body: the required fields and those with an `example`; every writable field
        /// when that leaves nothing.
        static func createExample(for resource: Resource) -> [String: AnyCodable] {
            let writable = resource.fields.filter { !$0.readOnly }
            var chosen = writable.filter { ($0.required && $0.defaultValue == nil) || $0.example != nil }
            if chosen.isEmpty { chosen = writable }
            var object: [String: AnyCodable] = [:]
            for field in chosen { object[field.name] = example(for: field) }
            return object
        }

        /// A `PATCH` body: the updatable fields with an `example`, else the first updatable field.
        static func updateExample(for resource: Resource) -> [String: AnyCodable] {
            let updatable = resource.fields.filter { !$0.readOnly && !$0.writeOnce }
            var chosen = updatable.filter { $0.example != nil }
            if chosen.isEmpty { chosen = Array(updatable.prefix(1)) }
            var object: [String: AnyCodable] = [:]
            for field in chosen { object[field.name] = example(for: field) }
            return object
        }
    }

    /// Names derived from the schema: component names and operationIds.
    enum Naming {
        /// `is_active` -> `IsActive`, `api-keys` -> `ApiKeys`.
        static func pascalCase(_ name: String) -> String {
            name.split(whereSeparator: { !$0.isLetter && !$0.isNumber })
                .map { $0.prefix(1).uppercased() + $0.dropFirst() }
                .joined()
        }

        /// `a Swarm`, `an Agent`.
        static func withArticle(_ name: String, capitalized: Bool = false) -> String {
            guard let first = name.lowercased().first else { return name }
            let article = "aeiou".contains(first) ? "an" : "a"
            return (capitalized ? (article == "an" ? "An" : "A") : article) + " " + name
        }

        /// A valid component key (`[A-Za-z0-9._-]+`); other characters are dropped.
        static func componentKey(_ name: String) -> OpenAPI.ComponentKey {
            let cleaned = String(name.unicodeScalars.filter {
                (("0"..."9").contains($0) || ("a"..."z").contains($0) || ("A"..."Z").contains($0)
                    || $0 == "." || $0 == "-" || $0 == "_")
            }.map(Character.init))
            return OpenAPI.ComponentKey(rawValue: cleaned.isEmpty ? "Unnamed" : cleaned) ?? "Unnamed"
        }
    }
}
