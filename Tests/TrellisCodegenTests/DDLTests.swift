import Testing
import TrellisSchema

@testable import TrellisCodegen

/// Resources built in code, so each test controls exactly what `TableDDL` sees.
private enum DDLSample {
    static func at(_ line: Int, _ file: String) -> TrellisSchema.SourceLocation {
        TrellisSchema.SourceLocation(file: file, line: line, column: 3)
    }

    static func resource(
        _ name: String, table: String, tenancy: Tenancy = .workspace, fields: [Field], indexes: [Index] = [],
        sort: [String] = ["created_at"]
    ) -> Resource {
        Resource(
            name: name, table: table, path: table, tenancy: tenancy, fields: fields, indexes: indexes, sort: sort,
            scopes: Scopes(read: "\(table):read", write: "\(table):write"),
            file: "schema/\(table).yaml", location: at(1, "schema/\(table).yaml"))
    }

    static func field(
        _ name: String, _ spec: ValueSpec, required: Bool = false, defaultValue: JSONLiteral? = nil, unique: Bool = false,
        search: SearchWeight? = nil, references: String? = nil, onDelete: OnDelete? = nil
    ) -> Field {
        Field(name: name, spec: spec, required: required, defaultValue: defaultValue, unique: unique, search: search,
              references: references, onDelete: onDelete, location: at(5, "schema/x.yaml"))
    }

    static var swarms: Resource {
        resource("Swarm", table: "swarms", fields: [
            field("name", ValueSpec(type: .string, minLength: 1, maxLength: 200), required: true, search: .A),
            field("goal", ValueSpec(type: .text, maxLength: 20000), search: .B),
        ], sort: ["created_at", "name"])
    }

    static var agents: Resource {
        resource("Agent", table: "agents", fields: [
            field("name", ValueSpec(type: .string, minLength: 1, maxLength: 200), required: true, search: .A),
            field("role", ValueSpec(type: .string, maxLength: 100), search: .B),
            field("system_prompt", ValueSpec(type: .text, maxLength: 20000), search: .C),
            field("model", ValueSpec(type: .enumeration(["claude", "gpt", "gemini"])), defaultValue: .string("claude")),
            field("temperature", ValueSpec(type: .number, minimum: 0, maximum: 2), defaultValue: .number(0.7)),
            field("is_active", ValueSpec(type: .boolean), defaultValue: .bool(true)),
            field("swarm_id", ValueSpec(type: .uuid), references: "swarms", onDelete: .setNull),
            field("tags", ValueSpec(type: .array(items: ValueSpec(type: .string, maxLength: 40)), maxItems: 20)),
            field("config", ValueSpec(type: .object)),
        ], indexes: [
            Index(columns: [IndexColumn(name: "is_active"), IndexColumn(name: "created_at", descending: true)],
                  whereClause: "is_active", location: at(20, "schema/agents.yaml")),
        ], sort: ["created_at", "name"])
    }

    static var messages: Resource {
        resource("Message", table: "messages", fields: [
            field("swarm_id", ValueSpec(type: .uuid), required: true, references: "swarms", onDelete: .cascade),
            field("agent_id", ValueSpec(type: .uuid), references: "agents", onDelete: .setNull),
            field("content", ValueSpec(type: .text, maxLength: 100_000), required: true, search: .A),
        ])
    }

    static var tools: Resource {
        resource("Tool", table: "tools", fields: [
            field("name", ValueSpec(type: .string, minLength: 1, maxLength: 100), required: true, unique: true),
        ])
    }

    static func model(_ resources: [Resource]) -> SchemaModel {
        SchemaModel(api: APISettings(), resources: resources, jobs: [], schedules: [])
    }
}

private extension TableDDL {
    func column(_ name: String) -> String? { columns.first { $0.name == name }?.definition }
    func constraint(_ name: String) -> Constraint? { constraints.first { $0.name == name } }
    func index(_ name: String) -> String? { indexes.first { $0.name == name }?.create }
}

@Suite("Table DDL")
struct DDLTests {
    // MARK: Foreign keys

    @Test("a reference between workspace tables is a composite key, so it can never cross workspaces")
    func compositeForeignKey() throws {
        let ddl = TableDDL(resource: DDLSample.agents)
        let fk = try #require(ddl.constraint("agents_swarm_id_fkey"))
        #expect(fk.isForeignKey)
        #expect(fk.definition
            == "FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE SET NULL (swarm_id)")
        // The referenced table offers the (workspace_id, id) key the composite key needs.
        let swarms = TableDDL(resource: DDLSample.swarms)
        #expect(swarms.constraint("swarms_workspace_id_id_key")?.definition == "UNIQUE (workspace_id, id)")
        // And the referencing columns are indexed, workspace first.
        #expect(ddl.index("agents_swarm_id_fkey_idx") == "CREATE INDEX agents_swarm_id_fkey_idx ON agents (workspace_id, swarm_id)")
    }

    @Test("SET NULL names the column, so the workspace_id half of the key is never nulled")
    func setNullColumnList() throws {
        let ddl = TableDDL(resource: DDLSample.messages)
        #expect(ddl.constraint("messages_agent_id_fkey")?.definition
            == "FOREIGN KEY (workspace_id, agent_id) REFERENCES agents (workspace_id, id) ON DELETE SET NULL (agent_id)")
        #expect(ddl.constraint("messages_swarm_id_fkey")?.definition
            == "FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE CASCADE")
    }

    @Test("every on_delete action is spelled in SQL; no action is the default", arguments: [
        (OnDelete?.none, "NO ACTION"), (.cascade, "CASCADE"), (.restrict, "RESTRICT"), (.noAction, "NO ACTION"),
    ])
    func onDeleteActions(_ action: OnDelete?, _ sql: String) {
        let r = DDLSample.resource("Note", table: "notes", fields: [
            DDLSample.field("swarm_id", ValueSpec(type: .uuid), references: "swarms", onDelete: action),
        ])
        #expect(TableDDL(resource: r).constraint("notes_swarm_id_fkey")?.definition
            == "FOREIGN KEY (workspace_id, swarm_id) REFERENCES swarms (workspace_id, id) ON DELETE \(sql)")
    }

    @Test("global tables use plain keys and have no workspace column")
    func globalTenancy() throws {
        let r = DDLSample.resource("Region", table: "regions", tenancy: .global, fields: [
            DDLSample.field("code", ValueSpec(type: .string, maxLength: 8), required: true, unique: true),
            DDLSample.field("parent_id", ValueSpec(type: .uuid), references: "regions", onDelete: .setNull),
        ], sort: ["created_at", "code"])
        let ddl = TableDDL(resource: r)
        #expect(ddl.column("workspace_id") == nil)
        #expect(ddl.constraint("regions_workspace_id_id_key") == nil)
        #expect(ddl.constraint("regions_code_key")?.definition == "UNIQUE (code)")
        #expect(ddl.constraint("regions_parent_id_fkey")?.definition
            == "FOREIGN KEY (parent_id) REFERENCES regions (id) ON DELETE SET NULL")
        #expect(ddl.index("regions_code_sort_idx") == "CREATE INDEX regions_code_sort_idx ON regions (code DESC, id DESC)")
    }

    // MARK: Unique, search, indexes

    @Test("unique is scoped to the workspace")
    func uniqueScopedToWorkspace() {
        let ddl = TableDDL(resource: DDLSample.tools)
        let unique = ddl.constraint("tools_name_key")
        #expect(unique?.definition == "UNIQUE (workspace_id, name)")
        #expect(unique?.isForeignKey == false)
    }

    @Test("search fields make a weighted, generated tsvector column and a GIN index")
    func searchVector() {
        let ddl = TableDDL(resource: DDLSample.agents)
        #expect(ddl.column("search_vector") == "tsvector GENERATED ALWAYS AS ("
            + "setweight(to_tsvector('english'::regconfig, coalesce(name, '')), 'A') || "
            + "setweight(to_tsvector('english'::regconfig, coalesce(role, '')), 'B') || "
            + "setweight(to_tsvector('english'::regconfig, coalesce(system_prompt, '')), 'C')) STORED")
        #expect(ddl.index("agents_search_vector_idx")
            == "CREATE INDEX agents_search_vector_idx ON agents USING gin (search_vector)")
        // The vector is the last column, after every field.
        #expect(ddl.columns.last?.name == "search_vector")
    }

    @Test("no search fields, no vector")
    func noSearchVector() {
        let ddl = TableDDL(resource: DDLSample.tools)
        #expect(ddl.column("search_vector") == nil)
        #expect(!ddl.indexes.contains { $0.name.hasSuffix("search_vector_idx") })
    }

    @Test("declared indexes are prefixed with workspace_id and keep their WHERE clause")
    func partialIndex() {
        let ddl = TableDDL(resource: DDLSample.agents)
        #expect(ddl.index("agents_is_active_created_at_idx")
            == "CREATE INDEX agents_is_active_created_at_idx ON agents (workspace_id, is_active, created_at DESC) WHERE is_active")
    }

    @Test("a unique declared index is a UNIQUE INDEX named _key")
    func uniqueDeclaredIndex() {
        let r = DDLSample.resource("Tool", table: "tools", fields: [
            DDLSample.field("name", ValueSpec(type: .string), required: true),
            DDLSample.field("version_tag", ValueSpec(type: .string)),
        ], indexes: [
            Index(columns: [IndexColumn(name: "name"), IndexColumn(name: "version_tag")], unique: true,
                  location: DDLSample.at(9, "schema/tools.yaml")),
        ])
        #expect(TableDDL(resource: r).index("tools_name_version_tag_key")
            == "CREATE UNIQUE INDEX tools_name_version_tag_key ON tools (workspace_id, name, version_tag)")
    }

    @Test("each sort key gets a keyset index, workspace first, id as the tie-breaker")
    func sortIndexes() {
        let ddl = TableDDL(resource: DDLSample.agents)
        #expect(ddl.index("agents_created_at_sort_idx") == "CREATE INDEX agents_created_at_sort_idx ON agents (workspace_id, created_at DESC, id DESC)")
        #expect(ddl.index("agents_name_sort_idx") == "CREATE INDEX agents_name_sort_idx ON agents (workspace_id, name DESC, id DESC)")
    }

    @Test("index names are unique within a table")
    func indexNamesUnique() {
        for r in [DDLSample.agents, DDLSample.swarms, DDLSample.messages, DDLSample.tools] {
            let names = TableDDL(resource: r).indexes.map(\.name)
            #expect(Set(names).count == names.count, "\(r.table): \(names)")
        }
    }

    @Test("a declared index and the generated ones never share a name, so none is dropped")
    func declaredIndexKeptBesideGeneratedOnes() {
        // A declared index on [name] and [swarm_id] beside the sort index on name and the FK index on swarm_id.
        let r = DDLSample.resource("Agent", table: "agents", fields: [
            DDLSample.field("name", ValueSpec(type: .string), required: true),
            DDLSample.field("is_active", ValueSpec(type: .boolean), defaultValue: .bool(true)),
            DDLSample.field("swarm_id", ValueSpec(type: .uuid), references: "swarms"),
        ], indexes: [
            Index(columns: [IndexColumn(name: "name")], whereClause: "is_active", location: DDLSample.at(9, "schema/agents.yaml")),
            Index(columns: [IndexColumn(name: "swarm_id")], location: DDLSample.at(10, "schema/agents.yaml")),
        ], sort: ["created_at", "name", "swarm_id"])
        let ddl = TableDDL(resource: r)
        #expect(ddl.index("agents_name_idx") == "CREATE INDEX agents_name_idx ON agents (workspace_id, name) WHERE is_active")
        #expect(ddl.index("agents_name_sort_idx") == "CREATE INDEX agents_name_sort_idx ON agents (workspace_id, name DESC, id DESC)")
        #expect(ddl.index("agents_swarm_id_idx") == "CREATE INDEX agents_swarm_id_idx ON agents (workspace_id, swarm_id)")
        #expect(ddl.index("agents_swarm_id_fkey_idx") == "CREATE INDEX agents_swarm_id_fkey_idx ON agents (workspace_id, swarm_id)")
        #expect(ddl.index("agents_swarm_id_sort_idx")
            == "CREATE INDEX agents_swarm_id_sort_idx ON agents (workspace_id, swarm_id DESC, id DESC)")
        #expect(ddl.indexes.count == 6)  // + created_at sort index
    }

    // MARK: Columns and CHECKs

    @Test("implicit columns come first, with their defaults")
    func implicitColumns() {
        let ddl = TableDDL(resource: DDLSample.tools)
        #expect(Array(ddl.columns.prefix(5)).map(\.name) == ["id", "workspace_id", "created_at", "updated_at", "version"])
        #expect(ddl.column("workspace_id") == "uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE")
        #expect(ddl.column("version") == "bigint NOT NULL DEFAULT 1")
        #expect(ddl.constraint("tools_pkey")?.definition == "PRIMARY KEY (id)")
    }

    @Test("CHECK constraints mirror the validator")
    func checks() {
        let ddl = TableDDL(resource: DDLSample.agents)
        #expect(ddl.column("name") == "text NOT NULL CONSTRAINT agents_name_check CHECK (char_length(name) BETWEEN 1 AND 200)")
        #expect(ddl.column("role") == "text CONSTRAINT agents_role_check CHECK (char_length(role) <= 100)")
        #expect(ddl.column("model")
            == "text NOT NULL DEFAULT 'claude' CONSTRAINT agents_model_check CHECK (model IN ('claude', 'gpt', 'gemini'))")
        #expect(ddl.column("temperature")
            == "double precision NOT NULL DEFAULT 0.7 CONSTRAINT agents_temperature_check CHECK (temperature >= 0 AND temperature <= 2)")
        #expect(ddl.column("is_active") == "boolean NOT NULL DEFAULT true")
        #expect(ddl.column("tags") == "text[] CONSTRAINT agents_tags_check CHECK (cardinality(tags) <= 20)")
        #expect(ddl.column("config") == "jsonb")
        #expect(ddl.column("swarm_id") == "uuid")
    }

    @Test("min_length alone, arrays of objects, jsonb defaults, and reserved words quoted")
    func moreChecks() {
        let r = DDLSample.resource("Thing", table: "things", fields: [
            DDLSample.field("code", ValueSpec(type: .string, minLength: 3)),
            DDLSample.field("steps", ValueSpec(type: .array(items: ValueSpec(type: .object)), minItems: 1, maxItems: 5)),
            DDLSample.field("settings", ValueSpec(type: .object), defaultValue: .object([("a", .integer(1)), ("b", .string("it's"))])),
            DDLSample.field("order", ValueSpec(type: .integer, minimum: 1)),
            DDLSample.field("labels", ValueSpec(type: .array(items: ValueSpec(type: .string))), defaultValue: .array([.string("x"), .string("y")])),
        ])
        let ddl = TableDDL(resource: r)
        #expect(ddl.column("code") == "text CONSTRAINT things_code_check CHECK (char_length(code) >= 3)")
        #expect(ddl.column("steps")
            == "jsonb CONSTRAINT things_steps_check CHECK (jsonb_array_length(steps) >= 1 AND jsonb_array_length(steps) <= 5)")
        #expect(ddl.column("settings") == #"jsonb NOT NULL DEFAULT '{"a":1,"b":"it''s"}'::jsonb"#)
        #expect(ddl.column("order") == #"bigint CONSTRAINT things_order_check CHECK ("order" >= 1)"#)
        #expect(ddl.column("labels") == "text[] NOT NULL DEFAULT ARRAY['x', 'y']::text[]")
    }

    // MARK: Table order

    @Test("tables come in dependency order: referenced tables first")
    func dependencyOrder() {
        let order = TableDDL.all(for: DDLSample.model([DDLSample.messages, DDLSample.tools, DDLSample.agents, DDLSample.swarms]))
            .map(\.table)
        #expect(order.count == 4)
        let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
        #expect(position["swarms"]! < position["agents"]!)
        #expect(position["agents"]! < position["messages"]!)
        #expect(order == ["swarms", "agents", "messages", "tools"])
    }

    @Test("a reference cycle still yields every table once")
    func cycle() {
        let a = DDLSample.resource("A", table: "as", fields: [DDLSample.field("b_id", ValueSpec(type: .uuid), references: "bs")])
        let b = DDLSample.resource("B", table: "bs", fields: [DDLSample.field("a_id", ValueSpec(type: .uuid), references: "as")])
        #expect(TableDDL.all(for: DDLSample.model([b, a])).map(\.table).sorted() == ["as", "bs"])
    }

    @Test("the order does not depend on the order of resources in the model")
    func orderIndependent() {
        let all = [DDLSample.messages, DDLSample.tools, DDLSample.agents, DDLSample.swarms]
        let expected = TableDDL.all(for: DDLSample.model(all))
        var rng = CodegenSeededGenerator(seed: 11)
        for _ in 0..<10 {
            #expect(TableDDL.all(for: DDLSample.model(all.shuffled(using: &rng))) == expected)
        }
    }
}
