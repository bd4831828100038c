import TrellisContract
import Yams

/// One `key: value` pair of a YAML mapping whose key is a scalar.
struct MappingEntry {
    let key: String
    let keyNode: Node
    let value: Node

    /// How the key is named in messages: `'max_length'`.
    var label: String { "'\(key)'" }
}

/// A YAML mapping whose keys were checked against a vocabulary.
struct MappingView {
    let node: Node
    let entries: [MappingEntry]

    subscript(key: String) -> MappingEntry? { entries.first { $0.key == key } }

    /// The same mapping without the given keys.
    func removing(_ keys: [String]) -> MappingView {
        MappingView(node: node, entries: entries.filter { !keys.contains($0.key) })
    }
}

/// Reads the YAML nodes of one file and reports problems at the nodes' marks.
struct NodeReader {
    /// The file's display name, e.g. `schema/agents.yaml`.
    let file: String
    let diagnostics: DiagnosticCollector

    func location(of node: Node) -> SourceLocation {
        guard let mark = node.mark else { return fileStart }
        return SourceLocation(file: file, line: mark.line, column: mark.column)
    }

    var fileStart: SourceLocation { SourceLocation(file: file, line: 1, column: 1) }

    func error(_ message: String, at node: Node) {
        diagnostics.error(message, at: location(of: node))
    }

    func error(_ message: String, at location: SourceLocation) {
        diagnostics.error(message, at: location)
    }

    // MARK: - Mappings and sequences

    /// The node as a mapping. With `allowed`, every other key is reported with a suggestion.
    /// - Parameter what: how the mapping is named in messages, e.g. `field 'name'`.
    func mapping(_ node: Node, what: String, allowed: [String]? = nil) -> MappingView? {
        guard case let .mapping(mapping) = node else {
            error("expected a mapping for \(what), found \(node.kindDescription)", at: node)
            return nil
        }
        var entries: [MappingEntry] = []
        for (keyNode, value) in mapping {
            guard case let .scalar(scalar) = keyNode else {
                error("keys in \(what) must be plain names, found \(keyNode.kindDescription)", at: keyNode)
                continue
            }
            let key = scalar.string
            if let allowed, !allowed.contains(key) {
                error("unknown key '\(key)' in \(what)\(Suggestions.didYouMean(key, in: allowed))", at: keyNode)
                continue
            }
            entries.append(MappingEntry(key: key, keyNode: keyNode, value: value))
        }
        return MappingView(node: node, entries: entries)
    }

    /// The entry for a key that must be present; reports it missing at `node` otherwise.
    func require(_ key: String, in view: MappingView, what: String, at node: Node? = nil) -> MappingEntry? {
        if let entry = view[key] { return entry }
        error("missing required key '\(key)' in \(what)", at: node ?? view.node)
        return nil
    }

    func sequence(_ node: Node, for label: String) -> [Node]? {
        guard case let .sequence(sequence) = node else {
            error("expected a list for \(label), found \(node.kindDescription)", at: node)
            return nil
        }
        return Array(sequence)
    }

    // MARK: - Scalars

    /// A string scalar. Numbers, booleans and null are rejected: YAML would silently turn
    /// `version: 1.0` into a number, so the user is asked to quote it.
    func string(_ node: Node, for label: String) -> String? {
        guard case let .scalar(scalar) = node, node.scalarKind == .string else {
            var message = "expected a string for \(label), found \(node.kindDescription)"
            if node.scalarKind == .integer || node.scalarKind == .float || node.scalarKind == .bool {
                message += " (quote it to make it a string)"
            }
            error(message, at: node)
            return nil
        }
        return scalar.string
    }

    func bool(_ node: Node, for label: String) -> Bool? {
        guard let value = node.boolValue else {
            error("expected true or false for \(label), found \(node.kindDescription)", at: node)
            return nil
        }
        return value
    }

    /// An integer scalar (decimal, `0x`, `0o`, `0b`, with `_` separators).
    func integer(_ node: Node, for label: String) -> Int? {
        guard node.scalarKind == .integer else {
            error("expected an integer for \(label), found \(node.kindDescription)", at: node)
            return nil
        }
        guard let value = node.intValue else {
            error("integer \(node.scalarText ?? "") for \(label) is out of range", at: node)
            return nil
        }
        return value
    }

    /// An integer that must be at least `minimum`.
    func integer(_ node: Node, for label: String, atLeast minimum: Int) -> Int? {
        guard let value = integer(node, for: label) else { return nil }
        guard value >= minimum else {
            let bound = minimum == 1 ? "a positive integer" : "an integer of at least \(minimum)"
            error("\(label) must be \(bound), found \(value)", at: node)
            return nil
        }
        return value
    }

    /// A finite integer or decimal number.
    func number(_ node: Node, for label: String) -> Double? {
        guard let value = node.doubleValue, value.isFinite else {
            error("expected a number for \(label), found \(node.kindDescription)", at: node)
            return nil
        }
        return value
    }

    /// One of a closed set of spellings, with a suggestion when it is not.
    /// - Parameter noun: how a value is named in the message, e.g. `operation`.
    func choice<T: RawRepresentable & CaseIterable>(
        _ node: Node, _ type: T.Type, noun: String, for label: String
    ) -> T? where T.RawValue == String {
        guard node.scalarKind != nil, node.scalarKind != .null, let raw = node.scalarText else {
            error("expected a string for \(label), found \(node.kindDescription)", at: node)
            return nil
        }
        if node.scalarKind == .string, let value = T(rawValue: raw) { return value }
        let names = T.allCases.map(\.rawValue)
        let list = names.joined(separator: ", ")
        error("unknown \(noun) '\(raw)'\(Suggestions.didYouMean(raw, in: names)); expected one of: \(list)", at: node)
        return nil
    }

    /// A duration: seconds as an integer, or `120s`, `5m`, `1h`, `2d`.
    func duration(_ node: Node, for label: String) -> Int? {
        if node.scalarKind == .integer, let seconds = node.intValue, seconds >= 0 { return seconds }
        if node.scalarKind == .string, let text = node.scalarText, let seconds = ValueSyntax.duration(text) {
            return seconds
        }
        error(
            "invalid duration \(node.quotedText) for \(label): use seconds or a number followed by s, m, h or d (e.g. 120s, 5m, 1h, 2d)",
            at: node)
        return nil
    }
}
