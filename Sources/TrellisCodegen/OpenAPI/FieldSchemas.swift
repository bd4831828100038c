import OpenAPIKit
import TrellisSchema

extension OpenAPIGenerator {
    /// Presentation details applied on top of a value's type when it becomes a JSON Schema.
    struct SchemaTraits {
        /// Whether the parent object lists the property in `required`.
        var required = true
        /// Adds `null` to the allowed types.
        var nullable = false
        var readOnly = false
        var deprecated = false
        var description: String?
        var defaultValue: AnyCodable?
        var examples: [AnyCodable] = []
        var extensions: [String: AnyCodable] = [:]
    }

    /// Where a field's schema is used: the properties differ a little between them.
    enum FieldUsage {
        /// The object as the server returns it.
        case model
        /// The body of `POST` (defaults shown, because an absent field takes them).
        case create
        /// The merge patch of `PATCH` (nothing required, no defaults: absent means unchanged).
        case update
        /// A query parameter (equality filter).
        case query
    }

    /// Field types -> JSON Schema, per the mapping table of DESIGN.md §3.
    enum FieldSchemas {
        /// The component name of the enum schema of `field` (e.g. `AgentModel`), or of its
        /// items (`AgentTagsItem`) for an array of enum values; nil when no enum is involved.
        static func enumComponentName(resource: Resource, field: Field) -> String? {
            switch field.type {
            case .enumeration: return resource.name + Naming.pascalCase(field.name)
            case let .array(items):
                if case .enumeration = items.type { return resource.name + Naming.pascalCase(field.name) + "Item" }
                return nil
            default: return nil
            }
        }

        /// Every enum component a resource needs, keyed by component name.
        static func enumComponents(for resource: Resource) -> [(name: String, schema: JSONSchema)] {
            resource.fields.compactMap { field in
                guard let name = enumComponentName(resource: resource, field: field) else { return nil }
                let values: [String]
                switch field.type {
                case let .enumeration(v): values = v
                case let .array(items):
                    guard case let .enumeration(v) = items.type else { return nil }
                    values = v
                default: return nil
                }
                let schema = JSONSchema.string(
                    description: "Allowed values of `\(resource.name).\(field.name)`.",
                    allowedValues: values.map { AnyCodable($0) }
                )
                return (name, schema)
            }
        }

        /// The schema of `field` in the given usage.
        static func schema(for field: Field, in resource: Resource, usage: FieldUsage) -> JSONSchema {
            var traits = SchemaTraits()
            traits.description = fieldDescription(field, resource: resource)
            traits.deprecated = field.deprecated
            if field.pii { traits.extensions["x-pii"] = AnyCodable(true) }
            switch usage {
            case .model:
                traits.required = field.required || field.defaultValue != nil
                traits.nullable = field.isOptional
                traits.readOnly = field.readOnly
                traits.defaultValue = field.defaultValue.map(JSONValues.anyCodable)
            case .create:
                traits.required = field.required && field.defaultValue == nil
                traits.nullable = field.isOptional
                traits.defaultValue = field.defaultValue.map(JSONValues.anyCodable)
            case .update:
                traits.required = false
                traits.nullable = field.isOptional
            case .query:
                traits.required = false
                traits.extensions = [:]
            }
            if let example = field.example {
                traits.examples = [JSONValues.anyCodable(example)]
            }
            return schema(for: field.spec, enumComponent: enumComponentName(resource: resource, field: field), traits: traits)
        }

        /// The description of a field, with the facts a client needs that the schema cannot say.
        static func fieldDescription(_ field: Field, resource: Resource) -> String? {
            var notes: [String] = []
            if let description = field.description, !description.isEmpty { notes.append(description) }
            if field.readOnly { notes.append("Set by the server.") }
            if field.writeOnce { notes.append("Can be set on create only.") }
            if field.unique { notes.append("Unique within the workspace.") }
            if let table = field.references {
                notes.append("References the `id` of a `\(table)` object.")
            }
            if field.pii { notes.append("Personal data: redacted in logs and audit entries.") }
            return notes.isEmpty ? nil : notes.joined(separator: " ")
        }

        /// The schema of a value of `spec`, with `traits` applied. Enum values are a `$ref`
        /// to `enumComponent` (`anyOf` with `null` when nullable).
        static func schema(for spec: ValueSpec, enumComponent: String?, traits: SchemaTraits) -> JSONSchema {
            let permissions: JSONSchema.Permissions? = traits.readOnly ? .readOnly : nil
            let deprecated: Bool? = traits.deprecated ? true : nil
            let schema: JSONSchema
            switch spec.type {
            case .string, .text, .email, .url, .uuid, .datetime, .date:
                schema = .string(
                    format: stringFormat(spec.type), required: traits.required, nullable: traits.nullable,
                    permissions: permissions, deprecated: deprecated, description: traits.description,
                    minLength: spec.minLength, maxLength: spec.maxLength, pattern: spec.pattern,
                    allowedValues: nil, defaultValue: traits.defaultValue, examples: traits.examples
                )
            case .integer:
                schema = .integer(
                    format: .int64, required: traits.required, nullable: traits.nullable,
                    permissions: permissions, deprecated: deprecated, description: traits.description,
                    maximum: integerBound(spec.maximum, roundingUp: false).map { ($0, exclusive: false) },
                    minimum: integerBound(spec.minimum, roundingUp: true).map { ($0, exclusive: false) },
                    allowedValues: nil, defaultValue: traits.defaultValue, examples: traits.examples
                )
            case .number:
                schema = .number(
                    format: .double, required: traits.required, nullable: traits.nullable,
                    permissions: permissions, deprecated: deprecated, description: traits.description,
                    maximum: spec.maximum.map { ($0, exclusive: false) },
                    minimum: spec.minimum.map { ($0, exclusive: false) },
                    allowedValues: nil, defaultValue: traits.defaultValue, examples: traits.examples
                )
            case .boolean:
                schema = .boolean(
                    required: traits.required, nullable: traits.nullable, permissions: permissions,
                    deprecated: deprecated, description: traits.description,
                    allowedValues: nil, defaultValue: traits.defaultValue, examples: traits.examples
                )
            case .object:
                schema = .object(
                    required: traits.required, nullable: traits.nullable, permissions: permissions,
                    deprecated: deprecated, description: traits.description,
                    additionalProperties: .a(true),
                    allowedValues: nil, defaultValue: traits.defaultValue, examples: traits.examples
                )
            case let .array(items):
                let itemEnum = enumComponent.flatMap { name -> String? in
                    if case .enumeration = items.type { return name }
                    return nil
                }
                schema = .array(
                    required: traits.required, nullable: traits.nullable, permissions: permissions,
                    deprecated: deprecated, description: traits.description,
                    minItems: spec.minItems, maxItems: spec.maxItems,
                    items: Self.schema(for: items, enumComponent: itemEnum, traits: SchemaTraits()),
                    allowedValues: nil, defaultValue: traits.defaultValue, examples: traits.examples
                )
            case let .enumeration(values):
                let core = JSONSchema.CoreContext<JSONTypeFormat.AnyFormat>(
                    required: traits.required, permissions: permissions, deprecated: deprecated,
                    description: traits.description, defaultValue: traits.defaultValue, examples: traits.examples
                )
                guard let enumComponent else {
                    // Not reachable from a resource field; kept total for other callers.
                    schema = .string(
                        required: traits.required, nullable: traits.nullable, description: traits.description,
                        allowedValues: values.map { AnyCodable($0) }
                    )
                    break
                }
                let reference = JSONReference<JSONSchema>.component(named: enumComponent)
                if traits.nullable {
                    schema = .any(of: [.reference(reference, .init()), .null()], core: core)
                } else {
                    schema = .reference(reference, core)
                }
            }
            return traits.extensions.isEmpty ? schema : schema.with(vendorExtensions: traits.extensions)
        }

        private static func stringFormat(_ type: FieldType) -> JSONTypeFormat.StringFormat {
            switch type {
            case .uuid: .uuid
            case .email: .email
            case .url: .uri
            case .datetime: .dateTime
            case .date: .date
            default: .unspecified
            }
        }

        /// An integer bound from the schema's `Double` (rounded inward), nil when absent or out of range.
        private static func integerBound(_ value: Double?, roundingUp: Bool) -> Int? {
            guard let value, value.isFinite else { return nil }
            return Int(exactly: roundingUp ? value.rounded(.up) : value.rounded(.down))
        }
    }
}
