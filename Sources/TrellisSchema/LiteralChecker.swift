import Foundation
import TrellisContract
import Yams

/// Type-checks a literal (`default:`, `example:`) against a value spec and its constraints, and
/// converts it to a ``JSONLiteral``. Problems are reported at the offending node (an array's item,
/// not the whole array).
struct LiteralChecker {
    let reader: NodeReader

    /// - Parameter label: how the literal is named in messages, e.g. `default of 'name'`.
    func check(_ node: Node, against spec: ValueSpec, nullable: Bool, label: String) -> JSONLiteral? {
        if node.scalarKind == .null {
            guard nullable else {
                reader.error("\(label) is null, but the field is not nullable", at: node)
                return nil
            }
            return .null
        }
        switch spec.type {
        case .string, .text, .email, .url:
            return checkString(node, spec: spec, label: label)
        case .integer:
            guard node.scalarKind == .integer else { return mismatch(node, expected: "an integer", label: label) }
            guard let value = node.intValue else {
                return mismatch(node, expected: "a 64-bit integer", label: label)
            }
            guard checkRange(Double(value), node: node, spec: spec, label: label) else { return nil }
            return .integer(Int64(value))
        case .number:
            guard let value = node.doubleValue, value.isFinite else {
                return mismatch(node, expected: "a number", label: label)
            }
            guard checkRange(value, node: node, spec: spec, label: label) else { return nil }
            return .number(value)
        case .boolean:
            guard let value = node.boolValue else { return mismatch(node, expected: "true or false", label: label) }
            return .bool(value)
        case .uuid:
            return checkFormat(node, label: label, expected: "a UUID") { UUID(uuidString: $0) != nil }
        case .date:
            return checkFormat(node, label: label, expected: "a date (YYYY-MM-DD)", ValueSyntax.isDate)
        case .datetime:
            return checkFormat(node, label: label, expected: "a date-time (e.g. 2026-01-31T12:00:00Z)",
                               ValueSyntax.isDateTime)
        case let .enumeration(values):
            guard node.scalarKind == .string, let value = node.scalarText else {
                return mismatch(node, expected: "one of \(values.joined(separator: ", "))", label: label)
            }
            guard values.contains(value) else {
                reader.error(
                    "\(label) is '\(value)', which is not one of \(values.joined(separator: ", "))\(Suggestions.didYouMean(value, in: values))",
                    at: node)
                return nil
            }
            return .string(value)
        case .object:
            guard case .mapping = node else { return mismatch(node, expected: "a mapping", label: label) }
            return json(node, label: label)
        case let .array(items):
            return checkArray(node, items: items, spec: spec, label: label)
        }
    }

    private func checkString(_ node: Node, spec: ValueSpec, label: String) -> JSONLiteral? {
        guard node.scalarKind == .string, let value = node.scalarText else {
            return mismatch(node, expected: "a string", label: label)
        }
        let length = value.unicodeScalars.count
        if let minLength = spec.minLength, length < minLength {
            reader.error("\(label) is too short: \(length) characters, min_length is \(minLength)", at: node)
            return nil
        }
        if let maxLength = spec.maxLength, length > maxLength {
            reader.error("\(label) is too long: \(length) characters, max_length is \(maxLength)", at: node)
            return nil
        }
        if let pattern = spec.pattern, let regex = try? NSRegularExpression(pattern: pattern),
           regex.firstMatch(in: value, range: NSRange(value.startIndex..., in: value)) == nil {
            reader.error("\(label) is '\(value)', which does not match pattern '\(pattern)'", at: node)
            return nil
        }
        if case .email = spec.type, !ValueSyntax.isEmail(value) {
            reader.error("\(label) is '\(value)', which is not an email address", at: node)
            return nil
        }
        if case .url = spec.type, !ValueSyntax.isAbsoluteURL(value) {
            reader.error("\(label) is '\(value)', which is not an absolute URL", at: node)
            return nil
        }
        return .string(value)
    }

    private func checkFormat(
        _ node: Node, label: String, expected: String, _ isValid: (String) -> Bool
    ) -> JSONLiteral? {
        guard node.scalarKind == .string, let value = node.scalarText, isValid(value) else {
            return mismatch(node, expected: expected, label: label)
        }
        return .string(value)
    }

    private func checkRange(_ value: Double, node: Node, spec: ValueSpec, label: String) -> Bool {
        if let minimum = spec.minimum, value < minimum {
            reader.error("\(label) is too small: \(format(value)), minimum is \(format(minimum))", at: node)
            return false
        }
        if let maximum = spec.maximum, value > maximum {
            reader.error("\(label) is too large: \(format(value)), maximum is \(format(maximum))", at: node)
            return false
        }
        return true
    }

    private func checkArray(_ node: Node, items: ValueSpec, spec: ValueSpec, label: String) -> JSONLiteral? {
        guard case let .sequence(sequence) = node else { return mismatch(node, expected: "a list", label: label) }
        if let minItems = spec.minItems, sequence.count < minItems {
            reader.error("\(label) has \(sequence.count) items, min_items is \(minItems)", at: node)
            return nil
        }
        if let maxItems = spec.maxItems, sequence.count > maxItems {
            reader.error("\(label) has \(sequence.count) items, max_items is \(maxItems)", at: node)
            return nil
        }
        var values: [JSONLiteral] = []
        var valid = true
        for (index, item) in sequence.enumerated() {
            if let value = check(item, against: items, nullable: false, label: "\(label) item \(index)") {
                values.append(value)
            } else {
                valid = false
            }
        }
        return valid ? .array(values) : nil
    }

    private func mismatch(_ node: Node, expected: String, label: String) -> JSONLiteral? {
        reader.error("\(label) must be \(expected), found \(node.kindDescription)", at: node)
        return nil
    }

    /// Any YAML value as JSON (for `object` literals); mapping keys must be scalars.
    private func json(_ node: Node, label: String) -> JSONLiteral? {
        switch node {
        case .alias:
            return mismatch(node, expected: "a plain value", label: label)
        case let .sequence(sequence):
            let items = sequence.map { json($0, label: label) }
            return items.contains { $0 == nil } ? nil : .array(items.compactMap { $0 })
        case let .mapping(mapping):
            var pairs: [(String, JSONLiteral)] = []
            var valid = true
            for (key, value) in mapping {
                guard case let .scalar(scalar) = key else {
                    reader.error("keys in \(label) must be plain names, found \(key.kindDescription)", at: key)
                    valid = false
                    continue
                }
                if let converted = json(value, label: label) { pairs.append((scalar.string, converted)) } else {
                    valid = false
                }
            }
            return valid ? .object(pairs) : nil
        case .scalar:
            switch node.scalarKind {
            case .null: return .null
            case .bool:
                guard let value = node.boolValue else { return mismatch(node, expected: "true or false", label: label) }
                return .bool(value)
            case .integer:
                guard let value = node.intValue else { return mismatch(node, expected: "a 64-bit integer", label: label) }
                return .integer(Int64(value))
            case .float:
                guard let value = node.doubleValue, value.isFinite else {
                    return mismatch(node, expected: "a finite number", label: label)
                }
                return .number(value)
            case .string, nil:
                return node.scalarText.map(JSONLiteral.string)
            }
        }
    }
}
