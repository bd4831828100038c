import TrellisSchema

/// Renders schema literals (`default:`) as Swift expressions of the field's Swift type.
/// The schema loader has already checked each default against its field.
enum SwiftLiterals {
    static func value(_ literal: JSONLiteral, mapping: ValueMapping) -> String {
        switch (mapping.storage, literal) {
        case (.json, _), (.jsonArray, _):
            return mapping.storage == .jsonArray ? arrayOfJSON(literal) : json(literal)
        case let (.enumText, .string(s)):
            return "." + SwiftNaming.enumCase(s)
        case let (.text, .string(s)):
            return SwiftNaming.literal(s)
        case let (.integer, .integer(i)):
            return String(i)
        case let (.double, .integer(i)):
            return String(i) + ".0"
        case let (.double, .number(d)):
            return ValueMapping.double(d)
        case let (.bool, .bool(b)):
            return b ? "true" : "false"
        case let (.uuid, .string(s)):
            return "UUID(uuidString: \(SwiftNaming.literal(s)))!"
        case let (.timestamp, .string(s)):
            return "RFC3339.parse(\(SwiftNaming.literal(s)))!"
        case let (.date, .string(s)):
            return "RFC3339.parseDate(\(SwiftNaming.literal(s)))!"
        case let (.scalarArray, .array(items)):
            guard let item = mapping.itemMapping else { return "[]" }
            let itemMapping = item.storage == .timestamp || item.storage == .date
                ? ValueMapping(spec: ValueSpec(type: .string), enumTypeName: nil, patternSymbol: nil) : item
            return "[" + items.map { value($0, mapping: itemMapping) }.joined(separator: ", ") + "]"
        default:
            return json(literal)
        }
    }

    /// A `JSONValue` expression.
    static func json(_ literal: JSONLiteral) -> String {
        switch literal {
        case .null: return ".null"
        case let .bool(b): return ".bool(\(b))"
        case let .integer(i): return ".integer(\(i))"
        case let .number(d): return ".double(\(d))"
        case let .string(s): return ".string(\(SwiftNaming.literal(s)))"
        case let .array(items): return ".array([" + items.map(json).joined(separator: ", ") + "])"
        case let .object(members):
            return ".object(JSONObject([" + members.map {
                "JSONObject.Member(key: \(SwiftNaming.literal($0.0)), value: \(json($0.1)))"
            }.joined(separator: ", ") + "]))"
        }
    }

    private static func arrayOfJSON(_ literal: JSONLiteral) -> String {
        guard case let .array(items) = literal else { return "[]" }
        return "[" + items.map(json).joined(separator: ", ") + "]"
    }
}
