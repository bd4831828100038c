/// The names of the Postgres objects a resource's table gets (constraints, indexes, the
/// tenancy policy), made in one place: the DDL generator names objects with these, and the
/// schema loader checks each against Postgres's identifier limit, because Postgres
/// silently truncates a longer name (and `migrate plan` would then keep re-adding it).
public enum DatabaseNames {
    /// Postgres's identifier limit (NAMEDATALEN - 1), in bytes.
    public static let maximumBytes = 63

    public static func primaryKey(_ table: String) -> String { "\(table)_pkey" }
    /// `UNIQUE (workspace_id, id)`, which lets references stay inside one workspace.
    public static func workspaceIDKey(_ table: String) -> String { "\(table)_workspace_id_id_key" }
    public static func uniqueKey(_ table: String, field: String) -> String { "\(table)_\(field)_key" }
    public static func foreignKey(_ table: String, field: String) -> String { "\(table)_\(field)_fkey" }
    public static func foreignKeyIndex(_ table: String, field: String) -> String { index(table, suffix: field + "_fkey") }
    public static func check(_ table: String, field: String) -> String { "\(table)_\(field)_check" }
    public static func sortIndex(_ table: String, key: String) -> String { index(table, suffix: key + "_sort") }
    public static func searchIndex(_ table: String) -> String { index(table, suffix: "search_vector") }
    /// A declared `indexes:` entry: its columns joined, `_key` when unique.
    public static func declaredIndex(_ table: String, columns: [String], unique: Bool) -> String {
        "\(table)_\(columns.joined(separator: "_"))_\(unique ? "key" : "idx")"
    }
    public static func isolationPolicy(_ table: String) -> String { "\(table)_workspace_isolation" }
    /// The row trigger that bumps `version` on an update that left it unchanged.
    public static func versionTrigger(_ table: String) -> String { "\(table)_version_bump" }

    static func index(_ table: String, suffix: String) -> String { "\(table)_\(suffix)_idx" }
}

/// Reports every derived Postgres name of a resource that is longer than 63 bytes, at the
/// schema entry it comes from (the field, the index, or the table name).
struct IdentifierLengthCheck {
    let diagnostics: DiagnosticCollector

    func run(_ parsed: ParsedResource) {
        let r = parsed.resource
        let t = r.table
        var tableNames = [DatabaseNames.primaryKey(t), DatabaseNames.versionTrigger(t)]
        if r.tenancy == .workspace { tableNames += [DatabaseNames.workspaceIDKey(t), DatabaseNames.isolationPolicy(t)] }
        if r.fields.contains(where: { $0.search != nil }) { tableNames.append(DatabaseNames.searchIndex(t)) }
        for key in r.sort where !r.fields.contains(where: { $0.name == key }) {
            tableNames.append(DatabaseNames.sortIndex(t, key: key))  // created_at, updated_at
        }
        for name in tableNames {
            report(name, from: "table name '\(t)'", at: parsed.tableLocation)
        }
        for field in r.fields {
            var names = [DatabaseNames.check(t, field: field.name)]
            if field.unique { names.append(DatabaseNames.uniqueKey(t, field: field.name)) }
            if field.references != nil {
                names += [DatabaseNames.foreignKey(t, field: field.name), DatabaseNames.foreignKeyIndex(t, field: field.name)]
            }
            if r.sort.contains(field.name) { names.append(DatabaseNames.sortIndex(t, key: field.name)) }
            for name in names {
                report(name, from: "table '\(t)' and field '\(field.name)'", at: field.location)
            }
        }
        for index in r.indexes {
            let name = DatabaseNames.declaredIndex(t, columns: index.columns.map(\.name), unique: index.unique)
            report(name, from: "table '\(t)' and the index's columns", at: index.location)
        }
    }

    private func report(_ name: String, from source: String, at location: SourceLocation) {
        guard name.utf8.count > DatabaseNames.maximumBytes else { return }
        diagnostics.error(
            "the PostgreSQL name '\(name)' made from \(source) is \(name.utf8.count) bytes, over PostgreSQL's limit of "
                + "\(DatabaseNames.maximumBytes); shorten the name (or set a shorter 'table')",
            at: location)
    }
}
