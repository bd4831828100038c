import Foundation
import PostgresNIO
import TrellisPostgres

/// The reads that serve one level of a GraphQL query for all its parents at once (issue 9,
/// "no N+1 by construction"): each is one statement, whatever the number of parents.
extension ResourceService {
    /// The objects with these ids (the targets of one level's references), in no order.
    func getMany<Item>(_ ids: [UUID], shape: RowShape<Item>, in tx: some TenantSession) async throws -> [Item] {
        try await traced("get_many") {
            guard !ids.isEmpty else { return [] }
            let sql = select(shape.selectList, where: "id", isAnyOf: ids, in: tx)
            return try await tx.rows(sql).map(shape.decode)
        }
    }

    /// For each parent id, the page of objects whose `column` names it, filtered, ordered and
    /// cut as `query` says (its cursor applies under every parent): one `LATERAL` join over
    /// the parents, so each parent's page is an index range scan of its own.
    func listByParents<Item>(
        _ column: String, parents: [UUID], query: ListQuery, shape: RowShape<Item>, in tx: some TenantSession
    ) async throws -> [UUID: Page<Item>] {
        try await traced("list_by_parents") {
            guard !parents.isEmpty else { return [:] }
            var sql = SQLBuilder()
            sql.append("SELECT c.*, p.trellis_parent FROM unnest(")
            sql.bind(.uuidArray(Array(Set(parents))), as: "uuid[]")
            sql.append(") AS p(trellis_parent) CROSS JOIN LATERAL (SELECT \(shape.selectList), \(quoteIdentifier(query.sortKey))::text AS trellis_cursor FROM \(quoteIdentifier(d.table)) WHERE workspace_id = ")
            sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
            sql.append(" AND \(quoteIdentifier(column)) = p.trellis_parent")
            appendConditions(query, to: &sql)
            appendKeyset(query, to: &sql)
            sql.append(") c")
            let rows = try await mapDataExceptions(query) { try await tx.rows(sql) }
            var byParent: [UUID: [SQLRow]] = [:]
            for row in rows {
                let parent = try row.cell(at: shape.width + 1).decode(UUID.self)
                byParent[parent, default: []].append(row)
            }
            var pages: [UUID: Page<Item>] = [:]
            for parent in parents { pages[parent] = try page(from: byParent[parent] ?? [], for: query, shape: shape) }
            return pages
        }
    }

    /// How many objects match `query`'s filters (not its cursor), over all pages.
    public func count(_ query: ListQuery, in tx: some TenantSession) async throws -> Int {
        try await traced("count") {
            var sql = SQLBuilder()
            sql.append("SELECT count(*) FROM \(quoteIdentifier(d.table)) WHERE workspace_id = ")
            sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
            appendConditions(query, to: &sql)
            let rows = try await mapDataExceptions(query) { try await tx.rows(sql) }
            return try rows.first?.decode(Int.self) ?? 0
        }
    }

    /// For each parent id, how many objects whose `column` names it match `query`'s filters.
    public func countByParents(_ column: String, parents: [UUID], query: ListQuery, in tx: some TenantSession) async throws -> [UUID: Int] {
        try await traced("count_by_parents") {
            guard !parents.isEmpty else { return [:] }
            var sql = select("\(quoteIdentifier(column)), count(*)", where: column, isAnyOf: parents, in: tx)
            appendConditions(query, to: &sql)
            sql.append(" GROUP BY 1")
            let rows = try await mapDataExceptions(query) { try await tx.rows(sql) }
            var counts: [UUID: Int] = [:]
            for row in rows {
                let (parent, count) = try row.decode((UUID, Int).self)
                counts[parent] = count
            }
            return counts
        }
    }

    /// `SELECT <list> FROM <table> WHERE workspace_id = $1 AND <column> = ANY($2)`: the
    /// caller's rows whose `column` is one of `ids` (each bound once).
    func select(_ list: String, where column: String, isAnyOf ids: [UUID], in tx: some TenantSession) -> SQLBuilder {
        var sql = SQLBuilder()
        sql.append("SELECT \(list) FROM \(quoteIdentifier(d.table)) WHERE workspace_id = ")
        sql.bind(.uuid(tx.identity.workspaceID), as: "uuid")
        sql.append(" AND \(quoteIdentifier(column)) = ANY(")
        sql.bind(.uuidArray(Array(Set(ids))), as: "uuid[]")
        sql.append(")")
        return sql
    }
}
