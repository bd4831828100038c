import Foundation
import TrellisContract
import Yams

/// Reads the value part of a field or of array `items`: the type and the constraints on a value,
/// checking that each constraint applies to the type.
struct ValueSpecParser {
    let reader: NodeReader

    /// - Parameters:
    ///   - view: the mapping holding `type` and the constraint keys.
    ///   - owner: how the owner is named in messages, e.g. `field 'tags'` or `items of 'tags'`.
    ///   - anchor: where a missing `type` is reported (the field's name).
    /// - Returns: nil when the type is missing or unknown, or a nested spec is invalid.
    func parse(_ view: MappingView, owner: String, anchor: Node) -> ValueSpec? {
        let minLength = view["min_length"].flatMap { reader.integer($0.value, for: $0.label, atLeast: 0) }
        let maxLength = view["max_length"].flatMap { reader.integer($0.value, for: $0.label, atLeast: 0) }
        let pattern = view["pattern"].flatMap(readPattern)
        let minimum = view["minimum"].flatMap { reader.number($0.value, for: $0.label) }
        let maximum = view["maximum"].flatMap { reader.number($0.value, for: $0.label) }
        let minItems = view["min_items"].flatMap { reader.integer($0.value, for: $0.label, atLeast: 0) }
        let maxItems = view["max_items"].flatMap { reader.integer($0.value, for: $0.label, atLeast: 0) }

        checkOrder(view["min_length"], minLength.map(Double.init), view["max_length"], maxLength.map(Double.init))
        checkOrder(view["minimum"], minimum, view["maximum"], maximum)
        checkOrder(view["min_items"], minItems.map(Double.init), view["max_items"], maxItems.map(Double.init))

        guard let typeEntry = reader.require("type", in: view, what: owner, at: anchor),
              let typeName = reader.string(typeEntry.value, for: "'type'")
        else {
            return nil
        }
        guard FieldType.names.contains(typeName) else {
            let suggestion = SchemaVocabulary.typeAliases[typeName.lowercased()].map { " (did you mean '\($0)'?)" }
                ?? Suggestions.didYouMean(typeName, in: FieldType.names)
            reader.error("unknown field type '\(typeName)'\(suggestion)", at: typeEntry.value)
            return nil
        }

        let type: FieldType?
        switch typeName {
        case "enum": type = enumType(view, owner: owner, anchor: anchor).map(FieldType.enumeration)
        case "array": type = itemsSpec(view, owner: owner, anchor: anchor).map { FieldType.array(items: $0) }
        default: type = Self.simpleTypes[typeName]
        }
        checkApplicability(view, typeName: typeName)
        guard let type else { return nil }

        if case .integer = type {
            for entry in [view["minimum"], view["maximum"]].compactMap({ $0 }) {
                if let value = entry.value.doubleValue, value.rounded() != value {
                    reader.error("\(entry.label) of an integer field must be a whole number, found \(format(value))",
                                 at: entry.value)
                } else if let value = entry.value.doubleValue, !(value >= -0x1p63 && value < 0x1p63),
                    entry.value.scalarText.flatMap({ Int64($0) }) == nil {
                    // Integer fields are Int64 in Swift and bigint in Postgres.
                    reader.error(
                        "\(entry.label) of an integer field must be a 64-bit integer, from -9223372036854775808 to "
                            + "9223372036854775807; found \(format(value))",
                        at: entry.value)
                }
            }
        }
        return ValueSpec(
            type: type, minLength: minLength, maxLength: maxLength, pattern: pattern,
            minimum: minimum, maximum: maximum, minItems: minItems, maxItems: maxItems)
    }

    private static let simpleTypes: [String: FieldType] = [
        "string": .string, "text": .text, "integer": .integer, "number": .number, "boolean": .boolean,
        "uuid": .uuid, "email": .email, "url": .url, "datetime": .datetime, "date": .date, "object": .object,
    ]

    private func readPattern(_ entry: MappingEntry) -> String? {
        guard let pattern = reader.string(entry.value, for: entry.label) else { return nil }
        do {
            _ = try NSRegularExpression(pattern: pattern)
            return pattern
        } catch {
            reader.error("'pattern' is not a valid regular expression: '\(pattern)'", at: entry.value)
            return nil
        }
    }

    private func enumType(_ view: MappingView, owner: String, anchor: Node) -> [String]? {
        guard let entry = view["values"] else {
            reader.error("\(owner) has type 'enum' and needs 'values': a list of the allowed values", at: anchor)
            return nil
        }
        guard let items = reader.sequence(entry.value, for: entry.label) else { return nil }
        guard !items.isEmpty else {
            reader.error("'values' of an enum must list at least one value", at: entry.value)
            return nil
        }
        var values: [String] = []
        var valid = true
        for item in items {
            guard let value = reader.string(item, for: "an enum value") else {
                valid = false
                continue
            }
            if !ValueSyntax.isSnakeCase(value) {
                reader.error(
                    "enum value '\(value)' must be snake_case: a lowercase letter followed by lowercase letters, digits or '_'",
                    at: item)
                valid = false
            } else if values.contains(value) {
                reader.error("duplicate enum value '\(value)'", at: item)
                valid = false
            }
            values.append(value)
        }
        return valid ? values : nil
    }

    private func itemsSpec(_ view: MappingView, owner: String, anchor: Node) -> ValueSpec? {
        guard let entry = view["items"] else {
            reader.error("\(owner) has type 'array' and needs 'items', e.g. items: { type: string }", at: anchor)
            return nil
        }
        let itemsOwner = "items of \(owner)"
        guard let itemsView = reader.mapping(entry.value, what: itemsOwner, allowed: SchemaVocabulary.valueSpecKeys)
        else { return nil }
        return parse(itemsView, owner: itemsOwner, anchor: entry.keyNode)
    }

    /// Reports constraint keys that do not apply to the type, at the key.
    private func checkApplicability(_ view: MappingView, typeName: String) {
        let stringLike = ["string", "text", "email", "url"]
        let rules: [(keys: [String], types: [String], description: String)] = [
            (["min_length", "max_length", "pattern"], stringLike, "string, text, email and url"),
            (["minimum", "maximum"], ["integer", "number"], "integer and number"),
            (["min_items", "max_items", "items"], ["array"], "array"),
            (["values"], ["enum"], "enum"),
        ]
        for rule in rules where !rule.types.contains(typeName) {
            for key in rule.keys {
                guard let entry = view[key] else { continue }
                reader.error("\(entry.label) applies only to \(rule.description) values, not to '\(typeName)'",
                             at: entry.keyNode)
            }
        }
    }

    private func checkOrder(_ minEntry: MappingEntry?, _ min: Double?, _ maxEntry: MappingEntry?, _ max: Double?) {
        guard let minEntry, let maxEntry, let min, let max, min > max else { return }
        reader.error("\(minEntry.label) (\(format(min))) is greater than \(maxEntry.label) (\(format(max)))",
                     at: minEntry.value)
    }
}

/// `2` for 2.0, `0.7` for 0.7: numbers as the user wrote them.
func format(_ value: Double) -> String {
    if value.rounded() == value, abs(value) < 1e15 { return String(Int64(value)) }
    return "\(value)"
}
