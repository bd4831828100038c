import GraphQL

/// A GraphQL argument or input value as written in a document: literals, or a reference to a
/// variable resolved per request.
indirect enum GraphQLInput: Sendable, Hashable {
    case variable(String)
    case null
    case int(String)
    case float(String)
    case string(String)
    case bool(Bool)
    case enumValue(String)
    case list([GraphQLInput])
    case object([String: GraphQLInput], order: [String])

    init(_ value: any Value) {
        switch value {
        case let v as Variable: self = .variable(v.name.value)
        case is NullValue: self = .null
        case let v as IntValue: self = .int(v.value)
        case let v as FloatValue: self = .float(v.value)
        case let v as StringValue: self = .string(v.value)
        case let v as BooleanValue: self = .bool(v.value)
        case let v as EnumValue: self = .enumValue(v.value)
        case let v as ListValue: self = .list(v.values.map(GraphQLInput.init))
        case let v as ObjectValue:
            var members: [String: GraphQLInput] = [:]
            for field in v.fields { members[field.name.value] = GraphQLInput(field.value) }
            self = .object(members, order: v.fields.map(\.name.value))
        default: self = .null
        }
    }

    /// The value with its variables filled in, as JSON (an absent variable is absent: nil).
    func resolved(_ variables: JSONObject) -> JSONValue? {
        switch self {
        case let .variable(name): return variables[name]
        case .null: return .null
        case let .int(text): return Int64(text).map(JSONValue.integer) ?? Double(text).map(JSONValue.double)
        case let .float(text): return Double(text).map(JSONValue.double)
        case let .string(text): return .string(text)
        case let .bool(value): return .bool(value)
        case let .enumValue(name): return .string(name)
        case let .list(values): return .array(values.map { $0.resolved(variables) ?? .null })
        case let .object(members, order):
            return .object(JSONObject(order.compactMap { key in members[key]!.resolved(variables).map { JSONObject.Member(key: key, value: $0) } }))
        }
    }
}

/// One field to answer, with fragments flattened into their parent's list.
struct GraphQLSelection: Sendable {
    /// The alias, or the field's name: the key in the answer.
    var responseKey: String
    var name: String
    var arguments: [String: GraphQLInput]
    /// `@skip(if:)` / `@include(if:)` with variables, decided per request (literals are decided when compiled).
    var conditions: [(include: Bool, value: GraphQLInput)]
    /// Set when the field came from a fragment on a type: answered only for objects of it.
    var typeCondition: String?
    var children: [GraphQLSelection]
    var line: Int
    var column: Int

    func isIncluded(_ variables: JSONObject) -> Bool {
        conditions.allSatisfy { condition in
            let value = condition.value.resolved(variables)
            return condition.include ? value == .bool(true) : value != .bool(true)
        }
    }
}

/// A validated document's operation, compiled once and cached (``GraphQLDocumentCache``):
/// what to run, and the measures its limits are checked against.
struct GraphQLPlan: Sendable {
    var operation: OperationType
    var selections: [GraphQLSelection]
    /// Asks for `__schema` or `__type`: answered by the GraphQL library's introspection.
    var isIntrospection: Bool
    /// Deepest field nesting, counting the root fields as 1.
    var depth: Int
    var aliases: Int
    /// The document, for introspection (which the library executes itself).
    let document: UncheckedSendable<Document>

    /// The most fields an operation may expand to once its fragments are spread: a document
    /// of a few kilobytes can spread one fragment twice in another, twenty times over, and ask
    /// for a million fields.
    static let maxFields = 10_000

    /// Compiles the operation `operationName` (or the only one) of a validated document.
    static func compile(_ document: Document, operationName: String?) throws(GraphQLRequestError) -> GraphQLPlan {
        let operations = document.definitions.compactMap { $0 as? OperationDefinition }
        let operation: OperationDefinition
        if let operationName {
            guard let named = operations.first(where: { $0.name?.value == operationName }) else {
                throw GraphQLRequestError("No operation named \"\(operationName.prefix(100))\" in the document")
            }
            operation = named
        } else {
            guard operations.count == 1, let only = operations.first else {
                throw GraphQLRequestError("The document holds \(operations.count) operations: name one with operationName")
            }
            operation = only
        }
        let fragments = Dictionary(
            document.definitions.compactMap { $0 as? FragmentDefinition }.map { ($0.name.value, $0) }, uniquingKeysWith: { a, _ in a })
        var aliases = 0
        var depth = 0
        var fields = 0
        var introspection = false
        func compile(_ set: SelectionSet, level: Int, typeCondition: String?, visiting: Set<String>) -> [GraphQLSelection] {
            depth = max(depth, level)
            var out: [GraphQLSelection] = []
            for selection in set.selections {
                guard fields <= Self.maxFields else { return out }
                switch selection {
                case let field as Field:
                    fields += 1
                    guard let conditions = Self.conditions(field.directives) else { continue }
                    if field.alias != nil { aliases += 1 }
                    if level == 1, field.name.value == "__schema" || field.name.value == "__type" { introspection = true }
                    var arguments: [String: GraphQLInput] = [:]
                    for argument in field.arguments { arguments[argument.name.value] = GraphQLInput(argument.value) }
                    let location = field.loc.map { Self.location($0) } ?? (0, 0)
                    out.append(GraphQLSelection(
                        responseKey: field.alias?.value ?? field.name.value, name: field.name.value, arguments: arguments,
                        conditions: conditions, typeCondition: typeCondition,
                        children: field.selectionSet.map { compile($0, level: level + 1, typeCondition: nil, visiting: visiting) } ?? [],
                        line: location.0, column: location.1))
                case let inline as InlineFragment:
                    guard let conditions = Self.conditions(inline.directives) else { continue }
                    let condition = inline.typeCondition?.name.value ?? typeCondition
                    out += compile(inline.selectionSet, level: level, typeCondition: condition, visiting: visiting).map { child in
                        var child = child
                        child.conditions += conditions
                        return child
                    }
                case let spread as FragmentSpread:
                    // Validation has refused cycles; `visiting` keeps a bug from recursing forever.
                    guard let conditions = Self.conditions(spread.directives), let fragment = fragments[spread.name.value],
                        !visiting.contains(spread.name.value)
                    else { continue }
                    out += compile(
                        fragment.selectionSet, level: level, typeCondition: fragment.typeCondition.name.value,
                        visiting: visiting.union([spread.name.value])
                    ).map { child in
                        var child = child
                        child.conditions += conditions
                        return child
                    }
                default: continue
                }
            }
            return out
        }
        let selections = compile(operation.selectionSet, level: 1, typeCondition: nil, visiting: [])
        guard fields <= Self.maxFields else {
            throw GraphQLRequestError(
                "The query expands to more than \(Self.maxFields) fields once its fragments are spread", code: "QUERY_TOO_LARGE")
        }
        return GraphQLPlan(
            operation: operation.operation, selections: selections, isIntrospection: introspection, depth: depth,
            aliases: aliases, document: UncheckedSendable(document))
    }

    /// `@skip` / `@include` with variables as conditions; nil when a literal excludes the selection.
    private static func conditions(_ directives: [Directive]) -> [(include: Bool, value: GraphQLInput)]? {
        var out: [(include: Bool, value: GraphQLInput)] = []
        for directive in directives where directive.name.value == "skip" || directive.name.value == "include" {
            let include = directive.name.value == "include"
            guard let argument = directive.arguments.first(where: { $0.name.value == "if" }) else { continue }
            let value = GraphQLInput(argument.value)
            switch value {
            case let .bool(flag): if flag != include { return nil }
            default: out.append((include, value))
            }
        }
        return out
    }

    private static func location(_ loc: Location) -> (Int, Int) {
        (loc.startToken.line, loc.startToken.column)
    }
}

/// A request the GraphQL endpoint refuses before running anything: a bad envelope, a
/// document that does not parse or validate, a limit exceeded. Answered as `{"errors": […]}`.
struct GraphQLRequestError: Error, Sendable {
    var message: String
    var code: String
    var locations: [(line: Int, column: Int)]

    init(_ message: String, code: String = "BAD_REQUEST", locations: [(line: Int, column: Int)] = []) {
        self.message = message
        self.code = code
        self.locations = locations
    }
}
