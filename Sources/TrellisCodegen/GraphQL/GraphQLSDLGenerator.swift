import TrellisContract
import TrellisSchema

/// Writes the GraphQL schema (SDL) of the API from `schema/` (issue 9, DESIGN.md §5): per
/// resource an object type with camelCase fields, its enums, create and patch inputs, a
/// filter input and a sort enum (only the fields marked `filter` / `sort`), Relay connections,
/// relations both ways, and the operations its YAML lists as `Query` and `Mutation` fields.
/// Committed at `openapi/schema.graphql`; the same schema always gives the same text.
public enum GraphQLSDLGenerator {
    public static func sdl(for schema: SchemaModel) -> String {
        let resources = schema.resources.sorted { $0.name < $1.name }
        var out = SDLWriter()
        out.description("\(schema.api.title), version \(schema.api.version), generated from schema/. `id` is the row's UUID, as on REST; `nodeId` is the Relay global id `node(nodeId:)` answers.")
        out.line("schema {")
        out.line("  query: Query")
        let hasJobs = !schema.jobs.isEmpty
        if hasJobs || resources.contains(where: { !$0.operations.filter(\.isWrite).isEmpty }) { out.line("  mutation: Mutation") }
        let streamed = resources.filter(\.events)
        if hasJobs || !streamed.isEmpty { out.line("  subscription: Subscription") }
        out.line("}")
        out.blank()

        out.description("An RFC 3339 timestamp with a time zone, such as `2026-01-31T09:30:00.000Z`.")
        out.line("scalar DateTime")
        out.blank()
        if resources.contains(where: { $0.fields.contains { field in field.usesScalar("Date") } }) {
            out.description("A calendar date, `YYYY-MM-DD`.")
            out.line("scalar Date")
            out.blank()
        }
        out.description("Any JSON value (an `object` field of the schema).")
        out.line("scalar JSON")
        out.blank()
        if resources.contains(where: { $0.fields.contains { field in field.usesScalar("BigInt") } }) {
            out.description("A 64-bit integer, written as a JSON number (GraphQL's `Int` has 32 bits).")
            out.line("scalar BigInt")
            out.blank()
        }
        out.description("An object with a Relay global id.")
        out.line("interface Node {")
        out.line("  nodeId: ID!")
        out.line("}")
        out.blank()
        out.description("Where a connection's page ends.")
        out.line("type PageInfo {")
        out.line("  hasNextPage: Boolean!")
        out.description("Pass as `after` for the next page; null on the last.", indent: "  ")
        out.line("  endCursor: String")
        out.line("}")
        out.blank()
        out.description("What a delete removed.")
        out.line("type Deleted {")
        out.line("  id: ID!")
        out.line("  deleted: Boolean!")
        out.line("}")
        out.blank()

        var query: [String] = ["  \"Any object by its Relay global id; another workspace's is null.\"", "  node(nodeId: ID!): Node"]
        var mutation: [String] = []
        for resource in resources {
            let model = GraphQLResource(resource, in: schema)
            model.writeTypes(into: &out)
            query += model.queryFields
            mutation += model.mutationFields
        }
        if hasJobs {
            GraphQLJobs(schema.jobs).writeTypes(into: &out)
            query += GraphQLJobs.queryFields
            mutation += GraphQLJobs.mutationFields
        }
        out.line("type Query {")
        for line in query { out.line(line) }
        out.line("}")
        if !mutation.isEmpty {
            out.blank()
            out.line("type Mutation {")
            for line in mutation { out.line(line) }
            out.line("}")
        }
        if hasJobs || !streamed.isEmpty {
            writeSubscription(streamed.map { GraphQLNames.eventTopic(path: $0.path) } + (hasJobs ? [GraphQLJobs.eventTopic] : []), into: &out)
        }
        return out.text
    }

    /// The fields of `Event`, each with its description (nil: none): the event JSON of
    /// `GET /v1/events`, camel-cased.
    static let eventFields: [(field: String, description: String?)] = [
        ("id: String!", "The stream id: pass it as `after` to resume after this event."),
        ("type: String!", "`<resource>.<created|updated|deleted>`, such as `agent.created`; `job.progress`; or `reset`."),
        ("eventId: ID", nil),
        ("resource: String", "The resource's path, such as `agents`."),
        ("resourceId: ID", nil),
        ("workspaceId: ID", nil),
        ("actor: String", "Who made the write: `api_key:<id>`, `user:<id>`, `jwt:<subject>`."),
        ("occurredAt: DateTime", nil),
        ("data: JSON", "The object as REST returns it (for a delete, as it was)."),
    ]

    /// The realtime stream as a subscription over `graphql-transport-ws` (the same events as
    /// `GET /v1/events`): one `events` field, its topics an enum of the resources with events
    /// (and `JOBS`, job progress, when the API has job types).
    static func writeSubscription(_ topics: [String], into out: inout SDLWriter) {
        out.blank()
        out.description("A resource whose writes are streamed (`events: true` in its schema), or `JOBS`: the progress of the workspace's jobs (`job.progress` events, needing `jobs:read`).")
        out.line("enum EventTopic {")
        for topic in topics { out.line("  " + topic) }
        out.line("}")
        out.blank()
        out.description("One committed create, update or delete, or a job's progress (`job.progress`, its `data` the job as `GET /v1/jobs/{id}` shows it), as `GET /v1/events` sends it; or, with `type` `reset` and no object, word that some events have left the kept history (fetch what you show again).")
        out.line("type Event {")
        for (field, description) in eventFields {
            out.description(description, indent: "  ")
            out.line("  " + field)
        }
        out.line("}")
        out.blank()
        out.line("type Subscription {")
        out.description("The caller's workspace's events, over `graphql-transport-ws` at `/v1/graphql`. Needs `events:read` and each topic's read scope; without `topics`, every topic the caller may read. `after` resumes after that event within the kept history.", indent: "  ")
        out.line("  events(topics: [EventTopic!], after: String): Event!")
        out.line("}")
    }
}

extension TrellisSchema.Operation {
    var isWrite: Bool { self == .create || self == .update || self == .delete }
}

/// Text with GraphQL descriptions.
struct SDLWriter {
    private(set) var text = ""

    mutating func line(_ line: String) { text += line + "\n" }
    mutating func blank() { text += "\n" }

    /// A description line: `"…"`, escaped.
    mutating func description(_ description: String?, indent: String = "") {
        guard let description, !description.isEmpty else { return }
        line(indent + SDLWriter.quoted(description))
    }

    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

extension Field {
    /// Whether this field's GraphQL type uses the named custom scalar.
    func usesScalar(_ name: String) -> Bool {
        GraphQLFieldType.base(spec, enumName: nil).contains(name)
    }
}

/// GraphQL type expressions for schema fields.
enum GraphQLFieldType {
    /// The named type of a value (no `!`): `String`, `[String!]`, `AgentModel`, …
    static func base(_ spec: ValueSpec, enumName: String?) -> String {
        switch spec.type {
        case .string, .text, .email, .url: return "String"
        case .integer:
            let fits = (spec.minimum.map { $0 >= Double(Int32.min) } ?? false) && (spec.maximum.map { $0 <= Double(Int32.max) } ?? false)
            return fits ? "Int" : "BigInt"
        case .number: return "Float"
        case .boolean: return "Boolean"
        case .uuid: return "ID"
        case .datetime: return "DateTime"
        case .date: return "Date"
        case .enumeration: return enumName ?? "String"
        case .object: return "JSON"
        case let .array(items): return "[" + base(items, enumName: enumName) + "!]"
        }
    }
}

/// One resource's GraphQL names and types.
struct GraphQLResource {
    let resource: Resource
    let schema: SchemaModel

    init(_ resource: Resource, in schema: SchemaModel) {
        self.resource = resource
        self.schema = schema
    }

    var name: String { resource.name }
    var singular: String { GraphQLNames.singular(type: resource.name) }
    var plural: String { GraphQLNames.plural(path: resource.path, type: resource.name) }

    func has(_ operation: TrellisSchema.Operation) -> Bool { resource.operations.contains(operation) }

    /// The enum type of an `enum` field (or of an array of them), when its values can be
    /// GraphQL enum values; such a field is a `String` otherwise.
    func enumName(_ field: Field) -> String? {
        let values: [String]
        switch field.type {
        case let .enumeration(list): values = list
        case let .array(items):
            guard case let .enumeration(list) = items.type else { return nil }
            values = list
        default: return nil
        }
        return values.allSatisfy(GraphQLNames.isValidEnumValue) ? name + GraphQLNames.pascal(field.name) : nil
    }

    func enumValues(_ field: Field) -> [String] {
        switch field.type {
        case let .enumeration(list): return list
        case let .array(items): if case let .enumeration(list) = items.type { return list } else { return [] }
        default: return []
        }
    }

    /// Fields that filter the list by equality (`filter: true`, not objects or arrays).
    var filterFields: [Field] {
        resource.fields.filter { field in
            guard field.filter else { return false }
            switch field.type {
            case .object, .array: return false
            default: return true
            }
        }
    }

    var sortKeys: [String] { Set(resource.sort + ["created_at"]).sorted() }

    /// The references this resource makes to another that serves `get`.
    var forwardRelations: [(field: Field, target: Resource)] {
        resource.fields.compactMap { field in
            guard let table = field.references, let target = schema.resource(table: table), target.operations.contains(.get) else { return nil }
            return (field, target)
        }
    }

    /// Resources that reference this one and serve `list`: each gives a connection field here.
    var reverseRelations: [(name: String, source: Resource, field: Field)] {
        var out: [(String, Resource, Field)] = []
        for source in schema.resources.sorted(by: { $0.name < $1.name }) where source.operations.contains(.list) {
            let references = source.fields.filter { $0.references == resource.table }
            for field in references {
                out.append((GraphQLNames.reverseRelation(path: source.path, field: field.name, isOnlyReference: references.count == 1), source, field))
            }
        }
        return out
    }

    var deprecation: String {
        guard let deprecated = resource.deprecated else { return "" }
        return " @deprecated(reason: " + SDLWriter.quoted("Sunset \(deprecated.sunset)" + (deprecated.link.map { "; see \($0)" } ?? "")) + ")"
    }

    func writeTypes(into out: inout SDLWriter) {
        // Enums of the fields.
        for field in resource.fields {
            guard let enumName = enumName(field) else { continue }
            out.description("Values of `\(name).\(GraphQLNames.camel(field.name))`.")
            out.line("enum \(enumName) {")
            for value in enumValues(field) { out.line("  \(value)") }
            out.line("}")
            out.blank()
        }
        // The object.
        out.description(resource.description)
        out.line("type \(name) implements Node {")
        out.line("  nodeId: ID!")
        out.description("The row's UUID, the same as on REST.", indent: "  ")
        out.line("  id: ID!")
        if resource.tenancy == .workspace { out.line("  workspaceId: ID!") }
        out.line("  createdAt: DateTime!")
        out.line("  updatedAt: DateTime!")
        out.description("Bumped by every update; `ifVersion` of an update or delete must match it.", indent: "  ")
        out.line("  version: Int!")
        for field in resource.fields {
            out.description(field.description, indent: "  ")
            let type = GraphQLFieldType.base(field.spec, enumName: enumName(field)) + (field.isOptional ? "" : "!")
            out.line("  \(GraphQLNames.camel(field.name)): \(type)" + (field.deprecated ? " @deprecated" : ""))
        }
        for (field, target) in forwardRelations {
            out.description("The `\(target.name)` that `\(GraphQLNames.camel(field.name))` names.", indent: "  ")
            out.line("  \(GraphQLNames.forwardRelation(field: field.name)): \(target.name)" + (field.isOptional ? "" : "!"))
        }
        for (relation, source, field) in reverseRelations {
            let other = GraphQLResource(source, in: schema)
            out.description("The `\(source.name)` objects whose `\(GraphQLNames.camel(field.name))` is this one.", indent: "  ")
            out.line("  \(relation)(first: Int, after: String, filter: \(source.name)Filter, sort: \(source.name)Sort = CREATED_AT_DESC): \(source.name)Connection!" + other.deprecation)
        }
        out.line("}")
        out.blank()

        if has(.list) { writeConnection(into: &out) }
        if has(.search) {
            out.line("type \(name)SearchEdge {")
            out.line("  cursor: String!")
            out.line("  node: \(name)!")
            out.description("How well the object matches (`ts_rank` with the field weights).", indent: "  ")
            out.line("  rank: Float!")
            out.line("}")
            out.blank()
            out.line("type \(name)SearchConnection {")
            out.line("  edges: [\(name)SearchEdge!]!")
            out.line("  pageInfo: PageInfo!")
            out.line("}")
            out.blank()
        }
        if has(.create) {
            out.description("The input of `create\(name)`.")
            out.line("input \(name)CreateInput {")
            for field in resource.fields where !field.readOnly {
                out.description(field.description, indent: "  ")
                let required = field.required && field.defaultValue == nil
                var line = "  \(GraphQLNames.camel(field.name)): " + GraphQLFieldType.base(field.spec, enumName: enumName(field)) + (required ? "!" : "")
                if let value = field.defaultValue.flatMap({ literal($0, field: field) }) { line += " = " + value }
                out.line(line)
            }
            out.line("}")
            out.blank()
        }
        if has(.update) {
            out.description("The input of `update\(name)`: a merge patch; an absent field is left alone, `null` clears an optional one.")
            out.line("input \(name)PatchInput {")
            for field in resource.fields where !field.readOnly && !field.writeOnce {
                out.line("  \(GraphQLNames.camel(field.name)): " + GraphQLFieldType.base(field.spec, enumName: enumName(field)))
            }
            out.line("}")
            out.blank()
        }
    }

    func writeConnection(into out: inout SDLWriter) {
        out.line("type \(name)Edge {")
        out.line("  cursor: String!")
        out.line("  node: \(name)!")
        out.line("}")
        out.blank()
        out.line("type \(name)Connection {")
        out.line("  edges: [\(name)Edge!]!")
        out.line("  pageInfo: PageInfo!")
        out.description("How many objects match, over all pages (counted only when asked for).", indent: "  ")
        out.line("  totalCount: Int!")
        out.line("}")
        out.blank()
        out.description("Equality filters on `\(name)` fields marked `filter`, and the creation window (exclusive).")
        out.line("input \(name)Filter {")
        for field in filterFields {
            out.line("  \(GraphQLNames.camel(field.name)): " + GraphQLFieldType.base(field.spec, enumName: enumName(field)))
        }
        out.line("  createdAfter: DateTime")
        out.line("  createdBefore: DateTime")
        out.line("}")
        out.blank()
        out.description("The order of `\(name)` connections; `id` breaks ties.")
        out.line("enum \(name)Sort {")
        for key in sortKeys {
            out.line("  " + GraphQLNames.sortValue(key, descending: false))
            out.line("  " + GraphQLNames.sortValue(key, descending: true))
        }
        out.line("}")
        out.blank()
    }

    /// A default value as a GraphQL literal, when it has one.
    func literal(_ value: JSONLiteral, field: Field) -> String? {
        switch value {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .integer(i): return String(i)
        case let .number(d): return d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) + ".0" : String(d)
        case let .string(s): return enumName(field) != nil ? s : SDLWriter.quoted(s)
        case .array, .object: return nil
        }
    }

    var queryFields: [String] {
        var lines: [String] = []
        let connectionArguments = "first: Int, after: String, filter: \(name)Filter, sort: \(name)Sort = CREATED_AT_DESC"
        if has(.get) {
            lines.append("  " + SDLWriter.quoted("One `\(name)` by its `id`; another workspace's is null. Needs `\(resource.scopes.read)`."))
            lines.append("  \(singular)(id: ID!): \(name)" + deprecation)
        }
        if has(.list) {
            lines.append("  " + SDLWriter.quoted("`\(name)` objects, newest first by default. Needs `\(resource.scopes.read)`."))
            lines.append("  \(plural)(\(connectionArguments)): \(name)Connection!" + deprecation)
        }
        if has(.search) {
            lines.append("  " + SDLWriter.quoted("Full-text search of `\(name)` objects, best match first. Needs `\(resource.scopes.read)`."))
            lines.append("  \(GraphQLNames.search(path: resource.path))(q: String!, first: Int, after: String): \(name)SearchConnection!" + deprecation)
        }
        return lines
    }

    var mutationFields: [String] {
        var lines: [String] = []
        if has(.create) {
            lines.append("  " + SDLWriter.quoted("Creates \(article) `\(name)`. Needs `\(resource.scopes.write)`."))
            lines.append("  create\(name)(input: \(name)CreateInput!): \(name)!" + deprecation)
        }
        if has(.update) {
            lines.append("  " + SDLWriter.quoted("Merges `input` into the `\(name)`; with `ifVersion`, only if it is still at that version. Needs `\(resource.scopes.write)`."))
            lines.append("  update\(name)(id: ID!, input: \(name)PatchInput!, ifVersion: Int): \(name)!" + deprecation)
        }
        if has(.delete) {
            lines.append("  " + SDLWriter.quoted("Deletes the `\(name)`; with `ifVersion`, only if it is still at that version. Needs `\(resource.scopes.write)`."))
            lines.append("  delete\(name)(id: ID!, ifVersion: Int): Deleted!" + deprecation)
        }
        return lines
    }

    var article: String { "AEIOU".contains(name.first ?? "x") ? "an" : "a" }
}
