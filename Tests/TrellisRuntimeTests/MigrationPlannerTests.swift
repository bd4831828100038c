import Foundation
import Testing

@testable import TrellisRuntime

/// `MigrationPlanner.plan(_:catalog:)`: the DDL it writes for each difference between the
/// tables the schema needs and a catalog, without a database.
@Suite("Migration planner")
struct MigrationPlannerTests {
    typealias Catalog = MigrationPlanner.Catalog

    /// `swarms`, and `agents` with a foreign key to it, a unique constraint, an index and a policy.
    static let swarms = TableSpec(
        name: "swarms",
        columns: [.init(name: "id", definition: "uuid PRIMARY KEY"), .init(name: "name", definition: "text NOT NULL")],
        constraints: [], indexes: [],
        policies: [.init(name: "swarms_isolation", create: "CREATE POLICY swarms_isolation ON swarms USING (true)")])
    static let agents = TableSpec(
        name: "agents",
        columns: [
            .init(name: "id", definition: "uuid PRIMARY KEY"),
            .init(name: "name", definition: "text NOT NULL"),
            .init(name: "swarm_id", definition: "uuid"),
        ],
        constraints: [
            .init(name: "agents_name_key", definition: "UNIQUE (name)"),
            .init(name: "agents_swarm_id_fkey", definition: "FOREIGN KEY (swarm_id) REFERENCES swarms (id)", isForeignKey: true),
        ],
        indexes: [.init(name: "agents_name_idx", create: "CREATE INDEX agents_name_idx ON agents (name)")],
        policies: [.init(name: "agents_isolation", create: "CREATE POLICY agents_isolation ON agents USING (true)")])

    /// A catalog that has exactly what `tables` need.
    static func catalog(matching tables: [TableSpec]) -> Catalog {
        var catalog = Catalog()
        for table in tables {
            catalog.columns[table.name] = Set(table.columns.map(\.name))
            catalog.constraints[table.name] = Set(table.constraints.map(\.name))
            catalog.indexes.formUnion(table.indexes.map(\.name))
            catalog.policies[table.name] = Set(table.policies.map(\.name))
            if !table.policies.isEmpty { catalog.forcedRowSecurity.insert(table.name) }
            catalog.triggers[table.name] = Set(table.triggers.map(\.name))
        }
        return catalog
    }

    /// The plan's non-empty statements (blank-line separated) in order.
    static func statements(_ sql: String) -> [String] {
        sql.components(separatedBy: "\n\n").map { $0.trimmingCharacters(in: .newlines) }.filter { !$0.isEmpty }
    }

    @Test func anEmptyDatabaseGetsEveryTableThenTheForeignKeys() {
        let plan = MigrationPlanner().plan([Self.agents, Self.swarms], catalog: Catalog())
        #expect(!plan.isEmpty)
        #expect(
            Self.statements(plan.up) == [
                "CREATE TABLE agents (\n    id uuid PRIMARY KEY,\n    name text NOT NULL,\n    swarm_id uuid,\n    CONSTRAINT agents_name_key UNIQUE (name)\n);",
                "CREATE INDEX agents_name_idx ON agents (name);",
                "ALTER TABLE agents ENABLE ROW LEVEL SECURITY;",
                "ALTER TABLE agents FORCE ROW LEVEL SECURITY;",
                "CREATE POLICY agents_isolation ON agents USING (true);",
                "CREATE TABLE swarms (\n    id uuid PRIMARY KEY,\n    name text NOT NULL\n);",
                "ALTER TABLE swarms ENABLE ROW LEVEL SECURITY;",
                "ALTER TABLE swarms FORCE ROW LEVEL SECURITY;",
                "CREATE POLICY swarms_isolation ON swarms USING (true);",
                // After both tables exist, whatever order the schema lists them in.
                "ALTER TABLE agents ADD CONSTRAINT agents_swarm_id_fkey FOREIGN KEY (swarm_id) REFERENCES swarms (id);",
            ])
        #expect(plan.down == "DROP TABLE IF EXISTS swarms CASCADE;\nDROP TABLE IF EXISTS agents CASCADE;\n")
    }

    @Test func aTableGetsItsTriggersAfterItsPoliciesAndAnExistingTableGetsTheMissingOnes() {
        var swarms = Self.swarms
        swarms.triggers = [.init(name: "swarms_version_bump", create: "CREATE TRIGGER swarms_version_bump BEFORE UPDATE ON swarms FOR EACH ROW EXECUTE FUNCTION f()")]
        let created = MigrationPlanner().plan([swarms], catalog: Catalog())
        #expect(
            Self.statements(created.up) == [
                "CREATE TABLE swarms (\n    id uuid PRIMARY KEY,\n    name text NOT NULL\n);",
                "ALTER TABLE swarms ENABLE ROW LEVEL SECURITY;",
                "ALTER TABLE swarms FORCE ROW LEVEL SECURITY;",
                "CREATE POLICY swarms_isolation ON swarms USING (true);",
                "CREATE TRIGGER swarms_version_bump BEFORE UPDATE ON swarms FOR EACH ROW EXECUTE FUNCTION f();",
            ])
        // The table exists without the trigger: only the trigger, and its drop in `down`.
        let added = MigrationPlanner().plan([swarms], catalog: Self.catalog(matching: [Self.swarms]))
        #expect(!added.isEmpty)
        #expect(Self.statements(added.up) == ["CREATE TRIGGER swarms_version_bump BEFORE UPDATE ON swarms FOR EACH ROW EXECUTE FUNCTION f();"])
        #expect(added.down == "DROP TRIGGER IF EXISTS swarms_version_bump ON swarms;\n")
        // With the trigger in place: nothing.
        var catalog = Self.catalog(matching: [swarms])
        catalog.triggers["swarms"] = ["swarms_version_bump"]
        #expect(MigrationPlanner().plan([swarms], catalog: catalog).isEmpty)
    }

    @Test func aDatabaseThatMatchesTheSchemaNeedsNothing() {
        let tables = [Self.swarms, Self.agents]
        let plan = MigrationPlanner().plan(tables, catalog: Self.catalog(matching: tables))
        #expect(plan.isEmpty)
        #expect(plan.up == "\n")
        #expect(plan.down == "\n")
    }

    @Test func missingColumnsAreAddedAndARequiredOneWithoutDefaultIsFlagged() {
        var catalog = Self.catalog(matching: [Self.swarms])
        catalog.columns["swarms"] = ["id"]
        var swarms = Self.swarms
        swarms.columns.append(.init(name: "goal", definition: "text NOT NULL DEFAULT ''"))
        let plan = MigrationPlanner().plan([swarms], catalog: catalog)
        #expect(!plan.isEmpty)
        #expect(
            Self.statements(plan.up) == [
                "-- swarms.name is required and has no default: this fails if the table has rows.",
                "ALTER TABLE swarms ADD COLUMN name text NOT NULL;",
                "ALTER TABLE swarms ADD COLUMN goal text NOT NULL DEFAULT '';",
            ])
        #expect(plan.down == "ALTER TABLE swarms DROP COLUMN IF EXISTS goal;\nALTER TABLE swarms DROP COLUMN IF EXISTS name;\n")
    }

    @Test func missingConstraintsAndIndexesAreAddedWithForeignKeysLast() {
        var catalog = Self.catalog(matching: [Self.swarms, Self.agents])
        catalog.constraints["agents"] = []
        catalog.indexes = []
        let plan = MigrationPlanner().plan([Self.agents, Self.swarms], catalog: catalog)
        #expect(
            Self.statements(plan.up) == [
                "ALTER TABLE agents ADD CONSTRAINT agents_name_key UNIQUE (name);",
                "CREATE INDEX agents_name_idx ON agents (name);",
                "ALTER TABLE agents ADD CONSTRAINT agents_swarm_id_fkey FOREIGN KEY (swarm_id) REFERENCES swarms (id);",
            ])
        #expect(
            plan.down == """
                DROP INDEX IF EXISTS agents_name_idx;
                ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_swarm_id_fkey;
                ALTER TABLE agents DROP CONSTRAINT IF EXISTS agents_name_key;

                """)
    }

    @Test func rowLevelSecurityIsEnabledForcedAndMissingPoliciesCreated() {
        var catalog = Self.catalog(matching: [Self.swarms])
        catalog.forcedRowSecurity = []
        catalog.policies = [:]
        let plan = MigrationPlanner().plan([Self.swarms], catalog: catalog)
        #expect(
            Self.statements(plan.up) == [
                "ALTER TABLE swarms ENABLE ROW LEVEL SECURITY;",
                "ALTER TABLE swarms FORCE ROW LEVEL SECURITY;",
                "CREATE POLICY swarms_isolation ON swarms USING (true);",
            ])
        #expect(
            plan.down == """
                DROP POLICY IF EXISTS swarms_isolation ON swarms;
                ALTER TABLE swarms NO FORCE ROW LEVEL SECURITY;
                ALTER TABLE swarms DISABLE ROW LEVEL SECURITY;

                """)

        // Already forced, one policy missing: only that policy.
        catalog.forcedRowSecurity = ["swarms"]
        var swarms = Self.swarms
        swarms.policies.append(.init(name: "swarms_admin", create: "CREATE POLICY swarms_admin ON swarms USING (false)"))
        catalog.policies = ["swarms": ["swarms_isolation"]]
        let more = MigrationPlanner().plan([swarms], catalog: catalog)
        #expect(Self.statements(more.up) == ["CREATE POLICY swarms_admin ON swarms USING (false);"])
        #expect(more.down == "DROP POLICY IF EXISTS swarms_admin ON swarms;\n")
    }

    @Test func columnsAndTablesNoLongerInTheSchemaAreOnlySuggestedForDropping() {
        var catalog = Self.catalog(matching: [Self.swarms])
        catalog.columns["swarms"]?.insert("legacy")
        catalog.columns["gadgets"] = ["id", "workspace_id", "created_at", "updated_at", "version"]
        catalog.columns["notes"] = ["id", "body"]  // not shaped like a resource table: not ours to mention
        catalog.columns["workspaces"] = ["id", "name", "created_at", "updated_at", "version"]
        catalog.columns["trellis_migrations"] = ["version", "checksum"]
        let plan = MigrationPlanner().plan([Self.swarms], catalog: catalog)
        #expect(plan.isEmpty, "comments are not changes")
        #expect(
            Self.statements(plan.up) == [
                "-- swarms.legacy is no longer in the schema; to drop it: ALTER TABLE swarms DROP COLUMN legacy;",
                "-- Table gadgets is no longer in the schema; to drop it: DROP TABLE gadgets;",
            ])
        #expect(plan.down == "\n")
    }

    @Test func namesThatAreNotPlainLowercaseAreQuoted() {
        let table = TableSpec(
            name: "Odd-Table", columns: [.init(name: "Mixed", definition: "text")], constraints: [], indexes: [])
        let created = MigrationPlanner().plan([table], catalog: Catalog())
        #expect(Self.statements(created.up) == ["CREATE TABLE \"Odd-Table\" (\n    \"Mixed\" text\n);"])
        #expect(created.down == "DROP TABLE IF EXISTS \"Odd-Table\" CASCADE;\n")

        var catalog = Catalog()
        catalog.columns["Odd-Table"] = []
        let altered = MigrationPlanner().plan([table], catalog: catalog)
        #expect(Self.statements(altered.up) == ["ALTER TABLE \"Odd-Table\" ADD COLUMN \"Mixed\" text;"])
    }
}
