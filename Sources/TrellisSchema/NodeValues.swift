import Foundation
import Yams

/// What a YAML scalar resolves to under YAML's core schema.
enum ScalarKind {
    case null, bool, integer, float, string
}

extension Node {
    /// The kind of a scalar node, nil for mappings, sequences and aliases.
    var scalarKind: ScalarKind? {
        guard case .scalar = self else { return nil }
        switch tag.rawValue {
        case Tag.Name.null.rawValue: return .null
        case Tag.Name.bool.rawValue: return .bool
        case Tag.Name.int.rawValue: return .integer
        case Tag.Name.float.rawValue: return .float
        default: return .string
        }
    }

    var isMapping: Bool {
        if case .mapping = self { return true }
        return false
    }

    /// The text of a scalar node.
    var scalarText: String? {
        guard case let .scalar(scalar) = self else { return nil }
        return scalar.string
    }

    /// How the node is named in "found …" messages: `the string 'ten'`, `a list`, `null`.
    var kindDescription: String {
        switch self {
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        case .alias: return "an alias"
        case let .scalar(scalar):
            let text = scalar.string.count > 60 ? String(scalar.string.prefix(57)) + "..." : scalar.string
            switch scalarKind {
            case .null: return text.isEmpty ? "nothing" : "null"
            case .bool: return "the boolean \(text)"
            case .integer: return "the integer \(text)"
            case .float: return "the number \(text)"
            case .string, nil: return "the string '\(text)'"
            }
        }
    }

    /// The scalar's text in quotes (`'5 minutes'`), else the kind description.
    var quotedText: String {
        if case let .scalar(scalar) = self, scalarKind != .null { return "'\(scalar.string)'" }
        return kindDescription
    }

    var boolValue: Bool? {
        guard scalarKind == .bool, case let .scalar(scalar) = self else { return nil }
        return Bool.construct(from: scalar)
    }

    /// The value of an integer scalar; nil when it is not one or does not fit in `Int`.
    /// Parsed here rather than by Yams, whose sexagesimal parser traps on overflow.
    var intValue: Int? {
        guard scalarKind == .integer, let text = scalarText else { return nil }
        return ValueSyntax.integer(text)
    }

    /// The value of an integer or float scalar.
    var doubleValue: Double? {
        switch scalarKind {
        case .integer:
            if let value = intValue { return Double(value) }
            return scalarText.flatMap { Double($0.replacingOccurrences(of: "_", with: "")) }
        case .float:
            guard case let .scalar(scalar) = self else { return nil }
            return Double.construct(from: scalar)
        default:
            return nil
        }
    }
}
