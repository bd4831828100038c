import Foundation
import Yams

/// Turns a file's text into a YAML node tree with marks, reporting empty files and YAML syntax
/// errors with the best position Yams gives.
enum YAMLDocument {
    /// The root mapping's node, or nil after reporting why there is none.
    /// - Parameter expected: what the file should hold, for the empty-file message.
    static func root(of contents: String, expected: String, reader: NodeReader) -> Node? {
        let root: Node?
        do {
            root = try Yams.compose(yaml: contents)
        } catch let error as YamlError {
            report(error, reader: reader)
            return nil
        } catch {
            reader.error("invalid YAML: \(error)", at: reader.fileStart)
            return nil
        }
        guard let root, root.scalarKind != .null else {
            reader.error("file is empty; expected \(expected)", at: root.map(reader.location(of:)) ?? reader.fileStart)
            return nil
        }
        guard countNodes(root, limit: maxNodes) <= maxNodes else {
            reader.error("the document has more than \(maxNodes) values once aliases are expanded", at: root)
            return nil
        }
        guard root.isMapping else {
            reader.error("the top level of \(reader.file) must be a mapping of keys, found \(root.kindDescription)",
                         at: root)
            return nil
        }
        return root
    }

    /// Guards against alias bombs ("billion laughs"): Yams expands aliases into copies.
    static let maxNodes = 100_000

    /// The number of nodes in the tree, counting stops a little past `limit`.
    private static func countNodes(_ root: Node, limit: Int) -> Int {
        var count = 0
        var stack = [root]
        while let node = stack.popLast(), count <= limit {
            count += 1
            switch node {
            case let .mapping(mapping):
                for (key, value) in mapping {
                    stack.append(key)
                    stack.append(value)
                }
            case let .sequence(sequence): stack.append(contentsOf: sequence)
            case .scalar, .alias: break
            }
        }
        return count
    }

    private static func report(_ error: YamlError, reader: NodeReader) {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            var message = "invalid YAML: \(problem)"
            if problem == "but found another document" {
                message = "invalid YAML: a schema file must hold a single YAML document, but found another one"
            } else if let context, !context.text.isEmpty {
                message += " (\(context.text) that starts at line \(context.mark.line), column \(context.mark.column))"
            }
            reader.error(message, at: location(mark, reader))
        case let .reader(problem, offset, _, yaml):
            let location = offset.map { characterLocation($0, in: yaml, file: reader.file) } ?? reader.fileStart
            reader.error("invalid YAML: \(problem)", at: location)
        case let .duplicatedKeysInMapping(duplicates, context):
            let first = context.mark
            for key in duplicates {
                let message = "duplicate key '\(key)' (first at line \(first.line)); each key may appear only once"
                let at = secondOccurrence(of: key, after: first, in: context.text) ?? (first.line, first.column)
                reader.error(message, at: SourceLocation(file: reader.file, line: max(1, at.line), column: max(1, at.column)))
            }
        default:
            reader.error("invalid YAML: \(error)", at: reader.fileStart)
        }
    }

    /// Where a duplicated key appears again: on a later line at the same column, or later on the
    /// same line in a flow mapping. Yams only reports the first occurrence.
    private static func secondOccurrence(of key: String, after first: Mark, in text: String) -> (line: Int, column: Int)? {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Array($0.unicodeScalars) }
        let keyScalars = Array(key.unicodeScalars)
        func keyStarts(_ line: [Unicode.Scalar], at index: Int) -> Bool {
            guard index >= 0, index + keyScalars.count <= line.count,
                  Array(line[index..<index + keyScalars.count]) == keyScalars
            else { return false }
            let rest = line[(index + keyScalars.count)...].drop { $0 == " " }
            return rest.first == ":"
        }
        guard first.line >= 1, first.line <= lines.count else { return nil }
        let firstLine = lines[first.line - 1]
        var index = first.column
        while index < firstLine.count {
            let before = firstLine[..<index].reversed().drop { $0 == " " }.first
            if (before == "," || before == "{"), keyStarts(firstLine, at: index) {
                return (first.line, index + 1)
            }
            index += 1
        }
        let column = first.column - 1
        for lineIndex in first.line..<lines.count {
            let line = lines[lineIndex]
            guard column < line.count, line[..<column].allSatisfy({ $0 == " " }) else { continue }
            if keyStarts(line, at: column) { return (lineIndex + 1, first.column) }
        }
        return nil
    }

    private static func location(_ mark: Mark, _ reader: NodeReader) -> SourceLocation {
        SourceLocation(file: reader.file, line: max(1, mark.line), column: max(1, mark.column))
    }

    /// Line and column (1-based, in Unicode scalars) of a character offset.
    private static func characterLocation(_ offset: Int, in text: String, file: String) -> SourceLocation {
        var line = 1
        var column = 1
        for character in text.prefix(offset) {
            if character == "\n" {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return SourceLocation(file: file, line: line, column: column)
    }
}

extension YAMLDocument {
    /// The document as JSON-like Foundation values (`[String: Any]`, `[Any]`, `String`, `Int`,
    /// `Double`, `Bool`, `NSNull`), or nil when it is not valid YAML. For checking files against
    /// ``SchemaJSONSchema``.
    static func jsonValue(of contents: String) -> Any? {
        guard let root = try? Yams.compose(yaml: contents) else { return nil }
        return jsonValue(root)
    }

    private static func jsonValue(_ node: Node) -> Any {
        switch node {
        case let .mapping(mapping):
            var object: [String: Any] = [:]
            for (key, value) in mapping { object[key.scalarText ?? "\(key)"] = jsonValue(value) }
            return object
        case let .sequence(sequence):
            return sequence.map(jsonValue)
        case .alias:
            return NSNull()
        case .scalar:
            switch node.scalarKind {
            case .null: return NSNull()
            case .bool: return node.boolValue ?? false
            case .integer:
                if let value = node.intValue { return value }
                return node.doubleValue ?? 0
            case .float: return node.doubleValue ?? 0
            case .string, nil: return node.scalarText ?? ""
            }
        }
    }
}
