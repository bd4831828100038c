import Foundation
import Logging
import PostgresNIO
import TrellisContract
import TrellisPostgres
import TrellisTracing

/// A page of results plus the cursor for the next one.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?
    public var hasMore: Bool { nextCursor != nil }
    /// Each item's own cursor (the page after it), when the query asked for them
    /// (``ListQuery/wantsItemCursors``: GraphQL's edges); empty otherwise.
    public var itemCursors: [String] = []
}

/// A search hit: the object and its `ts_rank`.
public struct Ranked<R: Resource>: Sendable {
    public var item: R
    public var rank: Double
}

/// The transport-neutral operations on one resource. REST (and later GraphQL and
/// JSON-RPC) adapters call exactly these, so validation, tenancy and error mapping are
/// written once. Writes run inside the caller's ``TenantTransaction``; reads take any
/// ``TenantSession``, so a one-statement read can be a single round trip (``TenantStatement``).
public struct ResourceService<R: Resource>: Sendable {
    public init() {}

    /// Stored, not read from `R.descriptor` at each use: each read of the protocol's static
    /// property copied the whole descriptor (retaining and releasing its twenty fields).
    let d = R.descriptor

    public func get(_ id: UUID, in tx: some TenantSession) async throws -> R {
        try await get(id, shape: modelShape, in: tx)
    }

    /// One object by id, as `shape` reads it; not found (404). A shape of every column (the
    /// model, or its JSON written in place) runs the prepared ``ResourceByID``; a GraphQL
    /// projection runs its own statement.
    func get<Item>(_ id: UUID, shape: RowShape<Item>, in tx: some TenantSession) async throws -> Item {
        try await traced("get") {
            assert(!shape.readsEveryColumn || shape.selectList == d.selectList, "a whole-row shape reads the descriptor's columns")
            let rows = shape.readsEveryColumn
                ? try await tx.rows(ResourceByID<R>(workspaceID: tx.identity.workspaceID, id: id))
                : try await tx.rows(select(shape.selectList, where: "id", isAnyOf: [id], in: tx))
            guard let row = rows.first else { throw notFound(id) }
            return try shape.decode(row)
        }
    }

    /// The row as it is now, locked until the transaction ends (an update's before-image).
    private func getForUpdate(_ id: UUID, in tx: TenantTransaction) async throws -> R {
        var sql = SQLBuilder()
        sql.append("SELECT \(d.selectList) FROM \(quoteIdentifier(d.table))")
        appendRowTarget(id, expectedVersion: nil, in: tx, to: &sql)
        sql.append(" FOR UPDATE")
        guard let row = try await tx.rows(sql).first else { throw notFound(id) }
        return try R(row: row)
    }

    public func list(_ query: ListQuery, in tx: some TenantSession) async throws -> Page<R> {
        try await list(query, shape: modelShape, in: tx)
    }

    func list<Item>(_ query: ListQuery, shape: RowShape<Item>, in tx: some TenantSession) async throws -> Page<Item> {
        try await traced("list") {
            var sql = SQLBuilder()
            sql.append("SELECT \(shape.selectList), \(quoteIdentifier(query.sortKey))::text AS trellis_cursor FROM \(quoteIdentifier(d.table)) WHERE workspace_id = ")
            sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
            appendConditions(query, to: &sql)
            appendKeyset(query, to: &sql)
            let rows = try await mapDataExceptions(query) { try await tx.rows(sql) }
            return try page(from: rows, for: query, shape: shape)
        }
    }

    /// The page that `list`'s statement returned as `rows`: the first `query.limit` decoded,
    /// and the next page's cursor when there was one row more. Separate from `list` so the
    /// `row-codec` benchmark times exactly this on rows it fetched once.
    public func page(from rows: [SQLRow], for query: ListQuery) throws -> Page<R> {
        try page(from: rows, for: query, shape: modelShape)
    }

    /// Each row of a list statement is the shape's columns (the first is `id`), then the sort
    /// value as text: a page's cursors are made from those two.
    public func page<Item>(from rows: [SQLRow], for query: ListQuery, shape: RowShape<Item>) throws -> Page<Item> {
        var items: [Item] = []
        items.reserveCapacity(min(rows.count, query.limit))
        for row in rows.prefix(query.limit) {
            items.append(try shape.decode(row))
        }
        func cursor(_ row: SQLRow) throws -> String {
            let (id, value) = (try row.cell(at: 0).decode(UUID.self), try row.cell(at: shape.width).decode(String.self))
            return Cursor(sort: query.sortSpelling, value: value, id: id).encoded(with: query.cursorKeys)
        }
        // Only the page's last row names the next page.
        let next = rows.count > query.limit ? try cursor(rows[query.limit - 1]) : nil
        var page = Page(items: items, nextCursor: next)
        if query.wantsItemCursors {
            page.itemCursors = try rows.prefix(query.limit).map(cursor)
        }
        return page
    }

    public func search(_ query: ListQuery, in tx: some TenantSession) async throws -> Page<Ranked<R>> {
        try await search(query, shape: modelShape.ranked(Ranked.init), in: tx)
    }

    /// Each row is the shape's columns, then the rank as text (the cursor's sort value) and as a number.
    func search<Item>(_ query: ListQuery, shape: RowShape<Item>, in tx: some TenantSession) async throws -> Page<Item> {
        try await traced("search") {
            let config = "'\(d.searchConfiguration)'::regconfig"
            var sql = SQLBuilder()
            sql.append("SELECT \(shape.selectList), r.rank::text, r.rank::float8 FROM \(quoteIdentifier(d.table)), ")
            sql.append("LATERAL (SELECT websearch_to_tsquery(\(config), ")
            sql.bind(.text(query.search ?? ""), as: "text")
            sql.append(") AS q) s, LATERAL (SELECT ts_rank(search_vector, s.q)::real AS rank) r WHERE workspace_id = ")
            sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
            sql.append(" AND search_vector @@ s.q")
            if let cursor = query.cursor {
                sql.append(" AND (r.rank, id) < (")
                sql.bind(.text(cursor.value), as: "real")
                sql.append(", ")
                sql.bind(.uuid(cursor.id), as: "uuid")
                sql.append(")")
            }
            sql.append(" ORDER BY r.rank DESC, id DESC LIMIT \(query.limit + 1)")
            // Unnamed, so always planned for its own text: how many rows a full-text query matches
            // decides the plan, and a cached generic plan cost Postgres 1.5-2.5x the CPU (measured).
            let rows = try await mapDataExceptions(query) { try await tx.rows(sql.unnamed) }
            return try page(from: rows, for: query, shape: shape)
        }
    }

    public func create(_ input: R.Create, in tx: TenantTransaction) async throws -> R {
        try await traced("create") {
            var sql = SQLBuilder()
            let columns = ["id", "workspace_id"] + d.insertColumns.map(\.name)
            sql.append("INSERT INTO \(quoteIdentifier(d.table)) (\(columns.map(quoteIdentifier).joined(separator: ", "))) VALUES (")
            sql.bind(.uuid(UUID.v7()), as: "uuid")
            sql.append(", ")
            sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
            for (column, value) in zip(d.insertColumns, input.insertValues) {
                sql.append(", ")
                sql.bind(value, as: column.sqlType)
            }
            sql.append(") RETURNING \(d.selectList)")
            let rows = try await mapConstraintErrors { try await tx.rows(sql) }
            guard let row = rows.first else { throw Problem.internalError }
            let created = try R(row: row)
            tx.writes?.record(d.table, deleting: false)
            try await audit("created", id: created.id, before: nil, after: created, in: tx)
            try await EventOutbox.record("created", created, descriptor: d, in: tx)
            return created
        }
    }

    /// Applies a merge patch. `expectedVersion` comes from `If-Match`; a mismatch is a 412.
    public func update(_ id: UUID, _ patch: R.Patch, expectedVersion: Int64?, in tx: TenantTransaction) async throws -> R {
        try await traced("update") {
            let assignments = patch.assignments
            if assignments.isEmpty {
                // `{}` changes nothing: no new version, but the precondition still applies.
                let current = try await get(id, in: tx)
                if let expectedVersion, current.version != expectedVersion {
                    throw versionMismatch(current.version, expectedVersion)
                }
                return current
            }
            // The before-image for the audit entry; the row lock keeps it the true predecessor.
            var before: R?
            if d.audited {
                do { before = try await getForUpdate(id, in: tx) } catch is Problem { before = nil }
            }
            var sql = SQLBuilder()
            sql.append("UPDATE \(quoteIdentifier(d.table)) SET version = version + 1, updated_at = now()")
            for assignment in assignments {
                sql.append(", \(quoteIdentifier(assignment.column)) = ")
                sql.bind(assignment.value, as: d.column(named: assignment.column)?.sqlType ?? "text")
            }
            appendRowTarget(id, expectedVersion: expectedVersion, in: tx, to: &sql)
            sql.append(" RETURNING \(d.selectList)")
            let rows = try await mapConstraintErrors { try await tx.rows(sql) }
            guard let row = rows.first else { throw try await missingRow(id, expectedVersion: expectedVersion, in: tx) }
            let updated = try R(row: row)
            tx.writes?.record(d.table, deleting: false)
            try await audit("updated", id: id, before: before, after: updated, in: tx)
            try await EventOutbox.record("updated", updated, descriptor: d, in: tx)
            return updated
        }
    }

    public func delete(_ id: UUID, expectedVersion: Int64?, in tx: TenantTransaction) async throws {
        try await traced("delete") {
            var sql = SQLBuilder()
            sql.append("DELETE FROM \(quoteIdentifier(d.table))")
            appendRowTarget(id, expectedVersion: expectedVersion, in: tx, to: &sql)
            sql.append(" RETURNING \(d.selectList)")
            let rows = try await mapConstraintErrors { try await tx.rows(sql) }
            guard let row = rows.first else { throw try await missingRow(id, expectedVersion: expectedVersion, in: tx) }
            tx.writes?.record(d.table, deleting: true)
            let deleted = try R(row: row)
            try await audit("deleted", id: id, before: deleted, after: nil, in: tx)
            try await EventOutbox.record("deleted", deleted, descriptor: d, in: tx)
        }
    }

    // MARK: Helpers

    /// Runs `body` as the service call `<resource>.<operation>` (`agents.get`): a span in a
    /// trace, whose statements are its children.
    func traced<T>(_ operation: String, _ body: () async throws -> T) async rethrows -> T {
        try await Traced.call(d.path, operation, body)
    }

    /// A page's keyset, after its WHERE conditions: past the cursor (`AND (sort, id) < (…)`,
    /// when there is one), then ` ORDER BY sort, id LIMIT limit + 1` (one more row says whether
    /// a next page exists). The limit is written into the statement, not bound: Postgres prices
    /// a generic plan for an unknown LIMIT as a tenth of the table and so re-plans such a
    /// statement on every execution; with a constant it mostly keeps its cached plan. Each page
    /// size in use is a shape of its own (clients use few).
    func appendKeyset(_ query: ListQuery, to sql: inout SQLBuilder) {
        let sortColumn = quoteIdentifier(query.sortKey)
        if let cursor = query.cursor {
            sql.append(" AND (\(sortColumn), id) \(query.descending ? "<" : ">") (")
            sql.bind(.text(cursor.value), as: d.sortSQLType(query.sortKey))
            sql.append(", ")
            sql.bind(.uuid(cursor.id), as: "uuid")
            sql.append(")")
        }
        let direction = query.descending ? "DESC" : "ASC"
        sql.append(" ORDER BY \(sortColumn) \(direction), id \(direction) LIMIT \(query.limit + 1)")
    }

    /// The audit entry for a write, in the write's transaction (schema `audit: true` only).
    private func audit(_ verb: String, id: UUID, before: R?, after: R?, in tx: TenantTransaction) async throws {
        guard d.audited else { return }
        try await AuditLog.record(
            AuditEntry(
                action: "\(d.eventName).\(verb)", resource: d.path, resourceID: id.lowercasedString,
                before: before.map { AuditLog.image(of: $0, redacting: d.piiFields) },
                after: after.map { AuditLog.image(of: $0, redacting: d.piiFields) }),
            in: tx)
    }

    /// ` WHERE workspace_id = … AND id = …`, plus `AND version = …` for `If-Match`.
    private func appendRowTarget(_ id: UUID, expectedVersion: Int64?, in tx: some TenantSession, to sql: inout SQLBuilder) {
        sql.append(" WHERE workspace_id = ")
        sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
        sql.append(" AND id = ")
        sql.bind(.uuid(id), as: "uuid")
        if let expectedVersion {
            sql.append(" AND version = ")
            sql.bind(.integer(expectedVersion), as: "bigint")
        }
    }

    /// Why an UPDATE/DELETE matched no row: a 412 when the object exists at another version,
    /// otherwise a 404.
    private func missingRow(_ id: UUID, expectedVersion: Int64?, in tx: TenantTransaction) async throws -> Problem {
        guard let expectedVersion else { return notFound(id) }
        let current = try await get(id, in: tx)  // throws the 404 when it does not exist
        return versionMismatch(current.version, expectedVersion)
    }

    private func versionMismatch(_ current: Int64, _ expected: Int64) -> Problem {
        .preconditionFailed("The object is at version \(current), not \(expected); fetch it again and retry")
    }

    func appendConditions(_ query: ListQuery, to sql: inout SQLBuilder) {
        for condition in query.conditions {
            sql.append(" AND \(quoteIdentifier(condition.column)) = ")
            sql.bind(condition.value, as: d.column(named: condition.column)?.sqlType ?? "text")
        }
        if let after = query.createdAfter {
            sql.append(" AND created_at > ")
            sql.bind(.timestamp(after), as: "timestamptz")
        }
        if let before = query.createdBefore {
            sql.append(" AND created_at < ")
            sql.bind(.timestamp(before), as: "timestamptz")
        }
    }

    func notFound(_ id: UUID) -> Problem {
        .notFound("No \(d.name.lowercased()) with id \(id.lowercasedString)")
    }

    /// Turns constraint violations into client problems: unique -> 409 naming the field,
    /// foreign key -> 422 on the field (never revealing whether another workspace's row
    /// exists), check -> 422.
    private func mapConstraintErrors<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PSQLError {
            guard let state = error.serverInfo?[.sqlState] else { throw error }
            let constraint = error.serverInfo?[.constraintName] ?? ""
            switch state {
            case "23505":
                throw Problem.conflict(field: d.uniqueConstraints[constraint])
            case "23503":
                let field = d.foreignKeys[constraint]
                // A row of another table still points here (Postgres names that table, and says
                // "is still referenced" in the detail, not the message).
                let isDelete = error.serverInfo?[.tableName].map { $0 != d.table } ?? false
                    || error.serverInfo?[.detail]?.contains("is still referenced") == true
                if isDelete {
                    throw Problem(
                        ProblemCatalogue.stillReferenced,
                        detail: "Other objects still refer to this \(d.name.lowercased())")
                }
                throw Problem.validationFailed([
                    FieldProblem(
                        path: "/" + (field ?? ""), code: .format,
                        message: "does not refer to an existing object in this workspace")
                ])
            case "23514":
                throw Problem.validationFailed([
                    FieldProblem(path: "", code: .format, message: "violates a constraint of \(d.table)")
                ])
            case let state where state.hasPrefix("22"):
                // A data exception (out of range, malformed, untranslatable): the body's values.
                throw Problem.validationFailed([
                    FieldProblem(path: "", code: .format, message: "holds a value the database cannot store in \(d.table)")
                ])
            default:
                throw error
            }
        }
    }

    /// A data exception (SQLSTATE class 22: a value out of range or malformed for its type)
    /// in a read can only come from a query parameter, since every other value is the
    /// server's: a 400 that names the parameter when the query had just one, else `/query`.
    func mapDataExceptions<T>(_ query: ListQuery, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch where sqlState(of: error)?.hasPrefix("22") == true {
            let paths = query.parameterPaths
            throw Problem.invalidQuery([
                FieldProblem(path: paths.count == 1 ? paths[0] : "/query", code: .format,
                             message: "is out of range or malformed for its type")
            ])
        }
    }
}
