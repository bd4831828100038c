import TrellisSchema

/// The DDL a resource needs: column definitions, named constraints and indexes. The
/// generator embeds it in the app so `trellis migrate plan` can compare it with the
/// database by name and write what is missing.
public struct TableDDL: Sendable, Hashable {
    public struct Column: Sendable, Hashable {
        public var name: String
        public var definition: String
    }

    public struct Constraint: Sendable, Hashable {
        public var name: String
        public var definition: String
        public var isForeignKey: Bool
    }

    public struct Index: Sendable, Hashable {
        public var name: String
        public var create: String
    }

    public struct Policy: Sendable, Hashable {
        public var name: String
        public var create: String
    }

    public struct Trigger: Sendable, Hashable {
        public var name: String
        public var create: String
    }

    public var table: String
    public var columns: [Column]
    public var constraints: [Constraint]
    public var indexes: [Index]
    /// Row-level security policies; a table with any is also `ENABLE` + `FORCE ROW LEVEL SECURITY`.
    public var policies: [Policy]
    /// Row triggers: `version` (the `get`'s `ETag`) moves on every update of a row, also one
    /// no handler wrote, such as a foreign key's `ON DELETE SET NULL`.
    public var triggers: [Trigger]

    /// Tables in an order where every referenced table comes before the tables that refer to it
    /// (by name otherwise), so CREATE TABLE statements apply in sequence.
    public static func all(for schema: SchemaModel) -> [TableDDL] {
        var ordered: [Resource] = []
        var placed = Set<String>()
        var remaining = schema.resources.sorted { $0.table < $1.table }
        while !remaining.isEmpty {
            let index = remaining.firstIndex { r in
                r.fields.compactMap(\.references).allSatisfy { $0 == r.table || placed.contains($0) }
            } ?? 0  // a cycle: foreign keys are added after all tables anyway
            let next = remaining.remove(at: index)
            ordered.append(next)
            placed.insert(next.table)
        }
        return ordered.map { TableDDL(resource: $0) }
    }

    public init(resource r: Resource) {
        table = r.table
        let t = r.table
        let tenant = r.tenancy == .workspace
        var columns = [Column(name: "id", definition: "uuid NOT NULL")]
        if tenant {
            columns.append(Column(name: "workspace_id", definition: "uuid NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE"))
        }
        columns += [
            Column(name: "created_at", definition: "timestamptz NOT NULL DEFAULT now()"),
            Column(name: "updated_at", definition: "timestamptz NOT NULL DEFAULT now()"),
            Column(name: "version", definition: "bigint NOT NULL DEFAULT 1"),
        ]
        var constraints = [Constraint(name: DatabaseNames.primaryKey(t), definition: "PRIMARY KEY (id)", isForeignKey: false)]
        if tenant {
            // Lets other tables reference (workspace_id, id), so a reference can never cross workspaces.
            constraints.append(Constraint(name: DatabaseNames.workspaceIDKey(t), definition: "UNIQUE (workspace_id, id)", isForeignKey: false))
        }
        let scope = tenant ? "workspace_id, " : ""
        var indexes: [Index] = []
        for field in r.fields {
            columns.append(Column(name: field.name, definition: Self.columnDefinition(field, table: t)))
            if field.unique {
                constraints.append(Constraint(
                    name: DatabaseNames.uniqueKey(t, field: field.name), definition: "UNIQUE (\(scope)\(Self.quote(field.name)))", isForeignKey: false))
            }
            if let target = field.references {
                let onDelete: String
                switch field.onDelete ?? .noAction {
                case .setNull: onDelete = tenant ? "SET NULL (\(Self.quote(field.name)))" : "SET NULL"
                case let other: onDelete = other.sql
                }
                let definition = tenant
                    ? "FOREIGN KEY (workspace_id, \(Self.quote(field.name))) REFERENCES \(Self.quote(target)) (workspace_id, id) ON DELETE \(onDelete)"
                    : "FOREIGN KEY (\(Self.quote(field.name))) REFERENCES \(Self.quote(target)) (id) ON DELETE \(onDelete)"
                constraints.append(Constraint(name: DatabaseNames.foreignKey(t, field: field.name), definition: definition, isForeignKey: true))
                indexes.append(Self.index(DatabaseNames.foreignKeyIndex(t, field: field.name), table: t, columns: (tenant ? ["workspace_id"] : []) + [Self.quote(field.name)]))
            }
        }
        let searchFields = r.searchFields
        if !searchFields.isEmpty {
            let vector = searchFields.map { f in
                "setweight(to_tsvector('english'::regconfig, coalesce(\(Self.quote(f.name)), '')), '\(f.search!.rawValue)')"
            }.joined(separator: " || ")
            columns.append(Column(name: "search_vector", definition: "tsvector GENERATED ALWAYS AS (\(vector)) STORED"))
            let searchIndex = DatabaseNames.searchIndex(t)
            indexes.append(Index(name: searchIndex, create: "CREATE INDEX \(searchIndex) ON \(Self.quote(t)) USING gin (search_vector)"))
        }
        // Keyset pagination: one index per sort key, scoped to the workspace, id as tie-breaker.
        for key in r.sort {
            indexes.append(Self.index(DatabaseNames.sortIndex(t, key: key), table: t, columns: (tenant ? ["workspace_id"] : []) + ["\(Self.quote(key)) DESC", "id DESC"]))
        }
        for index in r.indexes {
            let cols = index.columns.map { Self.quote($0.name) + ($0.descending ? " DESC" : "") }
            let name = DatabaseNames.declaredIndex(t, columns: index.columns.map(\.name), unique: index.unique)
            let predicate = index.whereClause.map { " WHERE \($0)" } ?? ""
            let all = (tenant ? ["workspace_id"] : []) + cols
            indexes.append(Index(
                name: name,
                create: "CREATE \(index.unique ? "UNIQUE " : "")INDEX \(name) ON \(Self.quote(t)) (\(all.joined(separator: ", ")))\(predicate)"))
        }
        var seen = Set<String>()
        self.indexes = indexes.filter { seen.insert($0.name).inserted }
        // Tenancy enforced by Postgres: a transaction sees and writes only the rows of the
        // workspace it set with set_config('trellis.workspace_id', …, true); without it, nothing.
        let current = "(nullif(current_setting('trellis.workspace_id', true), ''))::uuid"
        policies = tenant ? [Policy(
            name: DatabaseNames.isolationPolicy(t),
            create: "CREATE POLICY \(DatabaseNames.isolationPolicy(t)) ON \(Self.quote(t)) USING (workspace_id = \(current)) WITH CHECK (workspace_id = \(current))")] : []
        // `trellis_bump_version()` (migration 0025) bumps only when the update changed a
        // column other than version, updated_at and search_vector, so rewriting rows as they
        // are (a job recomputing stored search vectors) moves nothing; it compares whole rows,
        // so a field added later is covered without changing the trigger.
        let bump = DatabaseNames.versionTrigger(t)
        triggers = [Trigger(
            name: bump,
            create: "CREATE TRIGGER \(bump) BEFORE UPDATE ON \(Self.quote(t)) FOR EACH ROW WHEN (NEW.version = OLD.version) EXECUTE FUNCTION trellis_bump_version()")]
        self.columns = columns
        self.constraints = constraints
    }

    private static func index(_ name: String, table: String, columns: [String]) -> Index {
        Index(name: name, create: "CREATE INDEX \(name) ON \(quote(table)) (\(columns.joined(separator: ", ")))")
    }

    static func columnDefinition(_ field: Field, table: String) -> String {
        let mapping = ValueMapping(spec: field.spec, enumTypeName: nil, patternSymbol: nil)
        var parts = [mapping.sqlType]
        if !field.isOptional { parts.append("NOT NULL") }
        if let literal = field.defaultValue, let sql = SQLLiterals.value(literal, mapping: mapping) {
            parts.append("DEFAULT \(sql)")
        }
        let checks = Self.checks(field)
        if !checks.isEmpty {
            parts.append("CONSTRAINT \(DatabaseNames.check(table, field: field.name)) CHECK (\(checks.joined(separator: " AND ")))")
        }
        return parts.joined(separator: " ")
    }

    /// CHECKs mirroring the validator (lengths, ranges, enum values, item counts); the
    /// validator stays the first line, these keep other writers honest.
    static func checks(_ field: Field) -> [String] {
        let c = quote(field.name)
        let s = field.spec
        var checks: [String] = []
        if s.type.isStringLike {
            if let min = s.minLength, let max = s.maxLength {
                checks.append("char_length(\(c)) BETWEEN \(min) AND \(max)")
            } else if let min = s.minLength {
                checks.append("char_length(\(c)) >= \(min)")
            } else if let max = s.maxLength {
                checks.append("char_length(\(c)) <= \(max)")
            }
        }
        if s.type.isNumeric {
            if let min = s.minimum { checks.append("\(c) >= \(SQLLiterals.number(min))") }
            if let max = s.maximum { checks.append("\(c) <= \(SQLLiterals.number(max))") }
        }
        if case let .enumeration(values) = s.type {
            checks.append("\(c) IN (" + values.map(SQLLiterals.string).joined(separator: ", ") + ")")
        }
        if case .array = s.type {
            let mapping = ValueMapping(spec: s, enumTypeName: nil, patternSymbol: nil)
            let count = mapping.storage == .jsonArray ? "jsonb_array_length(\(c))" : "cardinality(\(c))"
            if let min = s.minItems { checks.append("\(count) >= \(min)") }
            if let max = s.maxItems { checks.append("\(count) <= \(max)") }
        }
        return checks
    }

    static func quote(_ identifier: String) -> String {
        let plain = identifier.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" } && !sqlReserved.contains(identifier)
        return plain ? identifier : "\"" + identifier.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static let sqlReserved: Set<String> = [
        "all", "analyse", "analyze", "and", "any", "array", "as", "asc", "both", "case", "cast", "check", "collate",
        "column", "constraint", "create", "current_date", "current_role", "current_time", "current_timestamp",
        "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch",
        "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into", "lateral",
        "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order",
        "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "table",
        "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window",
        "with",
    ]
}

/// Schema literals as SQL constants.
enum SQLLiterals {
    static func string(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

    static func number(_ d: Double) -> String {
        d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) : String(d)
    }

    static func value(_ literal: JSONLiteral, mapping: ValueMapping) -> String? {
        switch (mapping.storage, literal) {
        case (.json, _), (.jsonArray, _):
            return string(SwiftJSONText.render(literal)) + "::jsonb"
        case let (_, .string(s)):
            return string(s)
        case let (_, .integer(i)):
            return String(i)
        case let (_, .number(d)):
            return number(d)
        case let (_, .bool(b)):
            return b ? "true" : "false"
        case let (.scalarArray(_, sqlElement), .array(items)):
            let elements = items.compactMap { item -> String? in
                switch item {
                case let .string(s): return string(s)
                case let .integer(i): return String(i)
                case let .number(d): return number(d)
                case let .bool(b): return b ? "true" : "false"
                default: return nil
                }
            }
            return "ARRAY[\(elements.joined(separator: ", "))]::\(sqlElement)[]"
        default:
            return nil
        }
    }
}

/// Compact JSON text of a schema literal.
enum SwiftJSONText {
    static func render(_ literal: JSONLiteral) -> String {
        switch literal {
        case .null: return "null"
        case let .bool(b): return b ? "true" : "false"
        case let .integer(i): return String(i)
        case let .number(d): return String(d)
        case let .string(s): return jsonString(s)
        case let .array(items): return "[" + items.map(render).joined(separator: ",") + "]"
        case let .object(members): return "{" + members.map { jsonString($0.0) + ":" + render($0.1) }.joined(separator: ",") + "}"
        }
    }

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }
}
