import Foundation
import TrellisContract
import Yams

/// Reads the list-valued keys of a resource that refer to its columns: `indexes`, `sort`,
/// `operations`.
struct ResourceListsParser {
    let reader: NodeReader
    let resourceName: String
    let fields: ParsedFields
    let tenancy: Tenancy

    /// True when every declared field was valid, so that checks depending on field options
    /// (search weights, optionality) do not pile up errors on top of a broken field.
    private var fieldsAreComplete: Bool { fields.fields.count == fields.declaredNames.count }

    private var implicitColumns: [String] {
        SchemaVocabulary.implicitColumns.filter { tenancy == .workspace || $0 != "workspace_id" }
    }

    // MARK: - Indexes

    func indexes(_ entry: MappingEntry) -> [Index] {
        guard let items = reader.sequence(entry.value, for: entry.label) else { return [] }
        return items.compactMap(index)
    }

    private func index(_ node: Node) -> Index? {
        guard let view = reader.mapping(node, what: "an index", allowed: SchemaVocabulary.indexKeys),
              let fieldsEntry = reader.require("fields", in: view, what: "an index"),
              let items = reader.sequence(fieldsEntry.value, for: fieldsEntry.label)
        else { return nil }
        guard !items.isEmpty else {
            reader.error("an index needs at least one column in 'fields'", at: fieldsEntry.value)
            return nil
        }
        var columns: [IndexColumn] = []
        var valid = true
        for item in items {
            guard let column = indexColumn(item) else {
                valid = false
                continue
            }
            if columns.contains(where: { $0.name == column.name }) {
                reader.error("column '\(column.name)' appears twice in this index", at: item)
                valid = false
                continue
            }
            columns.append(column)
        }
        let unique = view["unique"].flatMap { reader.bool($0.value, for: $0.label) } ?? false
        var whereClause: String?
        if let whereEntry = view["where"] {
            whereClause = reader.string(whereEntry.value, for: whereEntry.label)
            if let clause = whereClause, clause.trimmingCharacters(in: .whitespaces).isEmpty || clause.contains(";") {
                reader.error("'where' must be a non-empty SQL condition without ';'", at: whereEntry.value)
                valid = false
            }
        }
        guard valid else { return nil }
        return Index(columns: columns, unique: unique, whereClause: whereClause, location: reader.location(of: node))
    }

    /// `name`, `name asc` or `name desc`.
    private func indexColumn(_ node: Node) -> IndexColumn? {
        guard let text = reader.string(node, for: "an index column") else { return nil }
        let parts = text.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard (1...2).contains(parts.count) else {
            reader.error("index column '\(text)' must be a column name, optionally followed by 'asc' or 'desc'",
                         at: node)
            return nil
        }
        var descending = false
        if parts.count == 2 {
            switch parts[1].lowercased() {
            case "asc": descending = false
            case "desc": descending = true
            default:
                reader.error(
                    "unknown index order '\(parts[1])'\(Suggestions.didYouMean(parts[1], in: ["asc", "desc"])); expected asc or desc",
                    at: node)
                return nil
            }
        }
        let name = parts[0]
        guard fields.declaredNames.contains(name) || implicitColumns.contains(name) else {
            let candidates = fields.declaredNames + implicitColumns
            reader.error(
                "index column '\(name)' is not a column of \(resourceName)\(Suggestions.didYouMean(name, in: candidates))",
                at: node)
            return nil
        }
        return IndexColumn(name: name, descending: descending)
    }

    // MARK: - Sort

    /// The allowed sort keys, with `created_at` first when it was not listed.
    func sort(_ entry: MappingEntry) -> [String] {
        guard let items = reader.sequence(entry.value, for: entry.label) else { return ["created_at"] }
        var keys: [String] = []
        for item in items {
            guard let key = reader.string(item, for: "a sort key") else { continue }
            if keys.contains(key) {
                reader.error("sort key '\(key)' is listed twice", at: item)
            } else if checkSortKey(key, at: item) {
                keys.append(key)
            }
        }
        if !keys.contains("created_at") { keys.insert("created_at", at: 0) }
        return keys
    }

    private func checkSortKey(_ key: String, at node: Node) -> Bool {
        if key == "created_at" || key == "updated_at" { return true }
        if key == "id" {
            reader.error("'id' is always the final tie-breaker and cannot be listed as a sort key", at: node)
            return false
        }
        guard fields.declaredNames.contains(key) else {
            let candidates = fields.declaredNames + ["created_at", "updated_at"]
            reader.error("sort key '\(key)' is not a field of \(resourceName)\(Suggestions.didYouMean(key, in: candidates))",
                         at: node)
            return false
        }
        guard let field = fields.fields.first(where: { $0.name == key }) else { return false }
        switch field.type {
        case .object, .array:
            reader.error("sort key '\(key)' has type \(field.type.name), which cannot be sorted", at: node)
            return false
        default: break
        }
        if field.isOptional {
            reader.error(
                "sort key '\(key)' must be required or have a default and not be nullable (keyset pagination cannot page over NULL values)",
                at: node)
            return false
        }
        return true
    }

    // MARK: - Operations

    /// The operations, in canonical order (list, get, create, update, delete, search).
    func operations(_ entry: MappingEntry) -> [Operation] {
        guard let items = reader.sequence(entry.value, for: entry.label) else { return [] }
        guard !items.isEmpty else {
            reader.error("'operations' must list at least one operation", at: entry.value)
            return []
        }
        var operations: Set<Operation> = []
        for item in items {
            guard let operation = reader.choice(item, Operation.self, noun: "operation", for: "an operation") else {
                continue
            }
            if operations.contains(operation) {
                reader.error("operation '\(operation.rawValue)' is listed twice", at: item)
            }
            operations.insert(operation)
            if operation == .search, fieldsAreComplete, fields.fields.allSatisfy({ $0.search == nil }) {
                reader.error(
                    "operation 'search' needs at least one field with a 'search' weight (A-D), e.g. name: { type: string, search: A }",
                    at: item)
            }
        }
        return operations.sorted()
    }
}
