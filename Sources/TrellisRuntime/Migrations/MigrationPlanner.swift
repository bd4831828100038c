import Foundation
import Logging
import PostgresNIO

/// Compares the tables the schema needs (``TableSpec``, generated) with what the database
/// has, by name, and writes the DDL for what is missing: tables, columns, constraints,
/// indexes, row-level security policies and row triggers. It never drops anything on its
/// own: columns and tables that the schema no longer has are listed as commented-out
/// statements for a human to decide.
public struct MigrationPlanner: Sendable {
    /// The SQL for a new migration file.
    public struct Plan: Sendable, Hashable {
        public var up: String
        public var down: String
        /// True when the database already matches the schema.
        public var isEmpty: Bool
    }

    /// What the database has, read from the catalog.
    struct Catalog {
        var columns: [String: Set<String>] = [:]
        var constraints: [String: Set<String>] = [:]
        var indexes: Set<String> = []
        /// Table -> policy names.
        var policies: [String: Set<String>] = [:]
        /// Tables with row-level security both enabled and forced.
        var forcedRowSecurity: Set<String> = []
        /// Table -> names of its own (not constraint-made) triggers.
        var triggers: [String: Set<String>] = [:]
    }

    /// Tables that belong to the platform, never to a resource.
    static let platformTables: Set<String> = ["workspaces", "trellis_migrations"]

    public init() {}

    public func plan(_ tables: [TableSpec], client: PostgresClient, logger: Logger) async throws -> Plan {
        plan(tables, catalog: try await readCatalog(client: client, logger: logger))
    }

    func plan(_ tables: [TableSpec], catalog: Catalog) -> Plan {
        var up: [String] = []
        var down: [String] = []
        var foreignKeys: [String] = []
        for table in tables {
            let t = quote(table.name)
            guard let existing = catalog.columns[table.name] else {
                var lines = table.columns.map { "    \(quote($0.name)) \($0.definition)" }
                lines += table.constraints.filter { !$0.isForeignKey }.map { "    CONSTRAINT \($0.name) \($0.definition)" }
                up.append("CREATE TABLE \(t) (\n" + lines.joined(separator: ",\n") + "\n);")
                up += table.indexes.map { $0.create + ";" }
                up += rowSecurity(table, catalog: catalog)
                up += table.triggers.map { $0.create + ";" }
                foreignKeys += table.constraints.filter(\.isForeignKey).map { "ALTER TABLE \(t) ADD CONSTRAINT \($0.name) \($0.definition);" }
                down.insert("DROP TABLE IF EXISTS \(t) CASCADE;", at: 0)
                continue
            }
            let constraints = catalog.constraints[table.name] ?? []
            for column in table.columns where !existing.contains(column.name) {
                if column.definition.contains("NOT NULL"), !column.definition.contains("DEFAULT"), !column.definition.contains("GENERATED") {
                    up.append("-- \(table.name).\(column.name) is required and has no default: this fails if the table has rows.")
                }
                up.append("ALTER TABLE \(t) ADD COLUMN \(quote(column.name)) \(column.definition);")
                down.insert("ALTER TABLE \(t) DROP COLUMN IF EXISTS \(quote(column.name));", at: 0)
            }
            for constraint in table.constraints where !constraints.contains(constraint.name) {
                let statement = "ALTER TABLE \(t) ADD CONSTRAINT \(constraint.name) \(constraint.definition);"
                if constraint.isForeignKey { foreignKeys.append(statement) } else { up.append(statement) }
                down.insert("ALTER TABLE \(t) DROP CONSTRAINT IF EXISTS \(constraint.name);", at: 0)
            }
            for index in table.indexes where !catalog.indexes.contains(index.name) {
                up.append(index.create + ";")
                down.insert("DROP INDEX IF EXISTS \(index.name);", at: 0)
            }
            up += rowSecurity(table, catalog: catalog)
            if !table.policies.isEmpty, !catalog.forcedRowSecurity.contains(table.name) {
                down.insert("ALTER TABLE \(t) NO FORCE ROW LEVEL SECURITY;\nALTER TABLE \(t) DISABLE ROW LEVEL SECURITY;", at: 0)
            }
            for policy in table.policies where !(catalog.policies[table.name] ?? []).contains(policy.name) {
                down.insert("DROP POLICY IF EXISTS \(policy.name) ON \(t);", at: 0)
            }
            for trigger in table.triggers where !(catalog.triggers[table.name] ?? []).contains(trigger.name) {
                up.append(trigger.create + ";")
                down.insert("DROP TRIGGER IF EXISTS \(trigger.name) ON \(t);", at: 0)
            }
            let wanted = Set(table.columns.map(\.name))
            for column in existing.subtracting(wanted).sorted() {
                up.append("-- \(table.name).\(column) is no longer in the schema; to drop it: ALTER TABLE \(t) DROP COLUMN \(quote(column));")
            }
        }
        up += foreignKeys
        let wantedTables = Set(tables.map(\.name))
        for table in catalog.columns.keys.sorted() where !wantedTables.contains(table) && !Self.platformTables.contains(table) {
            if catalog.columns[table]?.isSuperset(of: ["id", "created_at", "updated_at", "version"]) == true {
                up.append("-- Table \(table) is no longer in the schema; to drop it: DROP TABLE \(quote(table));")
            }
        }
        let changes = up.contains { !$0.hasPrefix("--") }
        return Plan(up: up.joined(separator: "\n\n") + "\n", down: down.joined(separator: "\n") + "\n", isEmpty: !changes)
    }

    /// ENABLE + FORCE row-level security and the policies the table lacks.
    private func rowSecurity(_ table: TableSpec, catalog: Catalog) -> [String] {
        guard !table.policies.isEmpty else { return [] }
        let t = quote(table.name)
        var statements: [String] = []
        if !catalog.forcedRowSecurity.contains(table.name) {
            statements.append("ALTER TABLE \(t) ENABLE ROW LEVEL SECURITY;")
            statements.append("ALTER TABLE \(t) FORCE ROW LEVEL SECURITY;")
        }
        let existing = catalog.policies[table.name] ?? []
        statements += table.policies.filter { !existing.contains($0.name) }.map { $0.create + ";" }
        return statements
    }

    func readCatalog(client: PostgresClient, logger: Logger) async throws -> Catalog {
        var catalog = Catalog()
        let columns = try await client.query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns WHERE table_schema = current_schema()",
            logger: logger)
        for try await (table, column) in columns.decode((String, String).self) {
            catalog.columns[table, default: []].insert(column)
        }
        let constraints = try await client.query(
            """
            SELECT c.conrelid::regclass::text, c.conname::text FROM pg_constraint c
            JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = current_schema()
            """, logger: logger)
        for try await (table, name) in constraints.decode((String, String).self) {
            catalog.constraints[table.replacingOccurrences(of: "\"", with: ""), default: []].insert(name)
        }
        let indexes = try await client.query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema()", logger: logger)
        for try await name in indexes.decode(String.self) {
            catalog.indexes.insert(name)
        }
        let policies = try await client.query(
            "SELECT tablename::text, policyname::text FROM pg_policies WHERE schemaname = current_schema()", logger: logger)
        for try await (table, name) in policies.decode((String, String).self) {
            catalog.policies[table, default: []].insert(name)
        }
        let forced = try await client.query(
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND c.relrowsecurity AND c.relforcerowsecurity
            """, logger: logger)
        for try await name in forced.decode(String.self) {
            catalog.forcedRowSecurity.insert(name)
        }
        let triggers = try await client.query(
            """
            SELECT c.relname::text, t.tgname::text FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = current_schema() AND NOT t.tgisinternal
            """, logger: logger)
        for try await (table, name) in triggers.decode((String, String).self) {
            catalog.triggers[table, default: []].insert(name)
        }
        return catalog
    }

    private func quote(_ name: String) -> String {
        name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } ? name : "\"" + name + "\""
    }
}
