import Foundation
import Hummingbird
import PostgresNIO
import TrellisContract
import TrellisPostgres

/// Where one GraphQL field's service call runs: the request, its caller and the services.
struct GraphQLCall: Sendable {
    let request: Request
    let context: TrellisRequestContext
    let services: TrellisServices
}

/// A search hit as the GraphQL adapter holds it: its row (the projection's columns first) and rank.
struct RankedRow: Sendable {
    var row: SQLRow
    var rank: Double
}

/// One resource as the GraphQL adapter sees it: its type name, how its GraphQL field names map
/// to columns, and its service calls, type-erased so the endpoint can hold every resource in
/// one table. Reads return the rows of the columns the query selected (a ``ColumnProjection``,
/// whose cells the executor writes in the values REST writes: ``ProjectedCells``); writes
/// return the whole object, written by the model's own `writeJSON`. Reads take the
/// session the executor chose (one statement, or the request's read-only snapshot); scopes are
/// checked by the executor before it calls them.
struct GraphQLResourceOps: Sendable {
    let descriptor: ResourceDescriptor
    /// `systemPrompt` -> `system_prompt`, for every column the object type has.
    let columns: [String: String]
    /// The column sets queries select, each projection made once.
    let projections: ColumnProjections
    let get: @Sendable (UUID, ColumnProjection, any TenantSession) async throws -> SQLRow
    let getMany: @Sendable ([UUID], ColumnProjection, any TenantSession) async throws -> [SQLRow]
    let list: @Sendable (ListQuery, ColumnProjection, any TenantSession) async throws -> Page<SQLRow>
    let search: @Sendable (ListQuery, ColumnProjection, any TenantSession) async throws -> Page<RankedRow>
    let listByParents: @Sendable (String, [UUID], ListQuery, ColumnProjection, any TenantSession) async throws -> [UUID: Page<SQLRow>]
    let count: @Sendable (ListQuery, any TenantSession) async throws -> Int
    let countByParents: @Sendable (String, [UUID], ListQuery, any TenantSession) async throws -> [UUID: Int]
    /// REST's query-parameter rules (``ListQueryParser``) for this resource.
    let parseQuery: @Sendable ([(String, String)], _ isSearch: Bool, PageLimits, CursorKeys) -> Validated<ListQuery>
    let create: @Sendable (JSONValue, GraphQLCall) async throws -> JSONObject
    let update: @Sendable (UUID, JSONValue, Int64?, GraphQLCall) async throws -> JSONObject
    let delete: @Sendable (UUID, Int64?, GraphQLCall) async throws -> Void

    var typeName: String { descriptor.name }

    init<R: Resource>(_ type: R.Type) {
        let d = R.descriptor
        descriptor = d
        columns = Dictionary(d.columns.map { (GraphQLNames.camel($0.name), $0.name) }, uniquingKeysWith: { a, _ in a })
        projections = ColumnProjections(d)
        let service = ResourceService<R>()
        get = { id, projection, session in try await service.get(id, shape: RowShape(rows: projection), in: session) }
        getMany = { ids, projection, session in try await service.getMany(ids, shape: RowShape(rows: projection), in: session) }
        list = { query, projection, session in try await service.list(query, shape: RowShape(rows: projection), in: session) }
        search = { query, projection, session in
            try await service.search(query, shape: RowShape(rows: projection).ranked(RankedRow.init), in: session)
        }
        listByParents = { column, parents, query, projection, session in
            try await service.listByParents(column, parents: parents, query: query, shape: RowShape(rows: projection), in: session)
        }
        count = { query, session in try await service.count(query, in: session) }
        countByParents = { column, parents, query, session in
            try await service.countByParents(column, parents: parents, query: query, in: session)
        }
        parseQuery = { parameters, isSearch, limits, keys in
            ListQueryParser.parse(R.self, parameters: parameters, limits: limits, keys: keys, isSearch: isSearch, pathPrefix: "/")
        }
        create = { input, call in
            let identity = try call.context.authorized(for: d.writeScope)
            let value = try R.Create.validated(input)
            return try JSONObject(writing: try await call.context.transaction(call.request, on: call.services, as: identity) {
                try await service.create(value, in: $0)
            })
        }
        update = { id, input, version, call in
            let identity = try call.context.authorized(for: d.writeScope)
            let patch = try R.Patch.validated(input)
            return try JSONObject(writing: try await call.context.transaction(call.request, on: call.services, as: identity) {
                try await service.update(id, patch, expectedVersion: version, in: $0)
            })
        }
        delete = { id, version, call in
            let identity = try call.context.authorized(for: d.writeScope)
            try await call.context.transaction(call.request, on: call.services, as: identity) {
                try await service.delete(id, expectedVersion: version, in: $0)
            }
        }
    }

    /// A GraphQL input object (camelCase keys) as the REST body the validators read.
    func restInput(_ input: JSONValue) -> JSONValue {
        guard case let .object(members) = input else { return input }
        return .object(JSONObject(members.members.map { JSONObject.Member(key: columns[$0.key] ?? $0.key, value: $0.value) }))
    }

    /// A REST path (`/system_prompt/2`) as a path into the GraphQL input (`/systemPrompt/2`).
    func graphQLPath(_ path: String) -> String {
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count > 1 else { return path }
        let rest = parts[1].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let first = GraphQLNames.camel(String(rest[0]))
        return "/" + first + (rest.count > 1 ? "/" + rest[1] : "")
    }
}

extension JSONObject {
    /// `value` as its own `writeJSON` writes it, read back as an object (for field selection
    /// over what REST returns); empty when it writes something else.
    init(writing value: some JSONWritable) throws {
        var w = JSONWriter(capacity: 512)
        value.writeJSON(to: &w)
        guard case let .object(members) = try JSONValue(parsing: w.bytes) else {
            self.init()
            return
        }
        self = members
    }
}

extension GraphQLNames {
    /// The Relay global id of an object: base64url of `<Type>:<uuid>`.
    static func nodeID(type: String, id: String) -> String {
        Base64URL.encode(Array((type + nodeIDSeparator + id).utf8))
    }

    /// The type and id a global id names, when it is one.
    static func decodeNodeID(_ text: String) -> (type: String, id: UUID)? {
        guard text.utf8.count <= 200, let bytes = Base64URL.decode(Substring(text)) else { return nil }
        let decoded = String(decoding: bytes, as: UTF8.self)
        guard let separator = decoded.firstIndex(of: Character(nodeIDSeparator)),
            let id = UUID(hyphenated: String(decoded[decoded.index(after: separator)...]))
        else { return nil }
        return (String(decoded[..<separator]), id)
    }
}
