import Foundation
import Hummingbird

/// Where one JSON-RPC call runs: on its own (a read as one self-scoping statement, a write in
/// its own transaction, exactly as on REST), or inside the one transaction of a
/// `Trellis-Atomic: true` batch.
struct RPCInvocation: Sendable {
    let request: Request
    let context: TrellisRequestContext
    let services: TrellisServices
    /// The atomic batch's transaction; nil when each call runs on its own.
    let transaction: TenantTransaction?

    func read<T: Sendable>(as identity: Identity, _ body: (any TenantSession) async throws -> T) async throws -> T {
        if let transaction { return try await body(transaction) }
        return try await context.read(on: services, as: identity) { try await body($0) }
    }

    func write<T: Sendable>(as identity: Identity, _ body: (TenantTransaction) async throws -> T) async throws -> T {
        if let transaction { return try await body(transaction) }
        return try await context.transaction(request, on: services, as: identity, body)
    }
}

/// One JSON-RPC method: checks the scope, validates `params` into a service call's input,
/// makes that one call and returns what to write as `result`. Problems it throws become
/// JSON-RPC errors at one place, ``RPCRoute``.
struct RPCMethod: Sendable {
    let run: @Sendable (JSONObject, RPCInvocation) async throws -> any JSONWritable
}

/// `<resource>.list|get|create|update|delete|search` for one generated resource: the JSON-RPC
/// adapter over ``ResourceService``, as ``ResourceRoutes`` is the REST one. `params` is the
/// input object (DESIGN.md §5.1): the body of a create, `{"id", …patch}` for an update,
/// `{"id"}` for get and delete, and the list's query parameters as members for list and search.
struct ResourceRPC<R: Resource>: Sendable {
    let service = ResourceService<R>()
    let reads = CachedReads<R>()
    /// Stored once, as ``ResourceService`` stores it (why: there).
    private let d = R.descriptor

    /// The resource's methods, by name, for the operations its schema lists.
    var methods: [(String, RPCMethod)] {
        var table: [(String, RPCMethod)] = []
        let prefix = d.path + "."
        for operation in ResourceOperation.allCases where d.operations.contains(operation) {
            let run: @Sendable (JSONObject, RPCInvocation) async throws -> any JSONWritable
            switch operation {
            case .list: run = list
            case .get: run = get
            case .create: run = create
            case .update: run = update
            case .delete: run = delete
            case .search: run = search
            }
            table.append((prefix + operation.rawValue, RPCMethod(run: run)))
        }
        return table
    }

    @Sendable func list(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: d.readScope)
        let query = try Self.listQuery(params, call.services, isSearch: false)
        // In an atomic batch the read must see the batch's own writes: no cache.
        if call.transaction != nil { return try await call.read(as: identity) { try await service.list(query, in: $0) } }
        return try await reads.list(query, as: identity, logger: call.context.logger, services: call.services)
    }

    @Sendable func search(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: d.readScope)
        let query = try Self.listQuery(params, call.services, isSearch: true)
        return try await call.read(as: identity) { try await service.search(query, in: $0) }
    }

    @Sendable func get(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: d.readScope)
        let id = try RPCParams.onlyID(params)
        if call.transaction != nil { return try await call.read(as: identity) { try await service.get(id, in: $0) } }
        return try await reads.get(id, as: identity, logger: call.context.logger, services: call.services)
    }

    @Sendable func create(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: d.writeScope)
        let input = try R.Create.validated(.object(params))
        return try await call.write(as: identity) { try await service.create(input, in: $0) }
    }

    @Sendable func update(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: d.writeScope)
        var v = Validator()
        let id = RPCParams.id(params, &v)
        let patchMembers = JSONObject(params.members.filter { $0.key != "id" })
        var patch: R.Patch?
        switch R.Patch.validate(.object(patchMembers)) {
        case let .valid(value): patch = value
        case let .invalid(problems): for problem in problems { v.report(problem.path, problem.code, problem.message) }
        }
        guard let id, let patch, v.isValid else { throw Problem.validationFailed(v.problems) }
        return try await call.write(as: identity) { try await service.update(id, patch, expectedVersion: nil, in: $0) }
    }

    @Sendable func delete(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: d.writeScope)
        let id = try RPCParams.onlyID(params)
        try await call.write(as: identity) { try await service.delete(id, expectedVersion: nil, in: $0) }
        return Deleted(id: id)
    }

    /// The members of `params` read as the list's query parameters (`limit`, `cursor`,
    /// `sort`, filters, `created_after`/`created_before`; `q` for search), with problems at
    /// `/<name>`: the same rules as the REST query string, which carries only text.
    private static func listQuery(_ params: JSONObject, _ services: TrellisServices, isSearch: Bool) throws -> ListQuery {
        let (parameters, problems) = RPCParams.text(params)
        switch ListQueryParser.parse(
            R.self, parameters: parameters, limits: services.pageLimits, keys: services.cursorKeys, isSearch: isSearch,
            pathPrefix: "/")
        {
        case let .valid(query) where problems.isEmpty: return query
        case .valid: throw Problem.invalidQuery(problems)
        case let .invalid(more): throw Problem.invalidQuery(problems + more)
        }
    }
}

/// Reading `params` the way every method does.
enum RPCParams {
    /// `{"id": "<uuid>"}` and nothing else.
    static func onlyID(_ params: JSONObject) throws -> UUID {
        var v = Validator()
        let id = id(params, &v)
        for member in params.members where member.key != "id" { v.unknownField(member.key) }
        guard let id, v.isValid else { throw Problem.validationFailed(v.problems) }
        return id
    }

    /// The `id` member: required, a UUID.
    static func id(_ params: JSONObject, _ v: inout Validator) -> UUID? {
        guard let value = params.members.first(where: { $0.key == "id" })?.value else {
            v.missing("/id")
            return nil
        }
        return v.uuid(value, at: "/id")
    }

    /// The members of `params` as the text a query string would carry (a list's parameters),
    /// and a problem at `/<name>` for each member that is not a string, number or boolean.
    static func text(_ params: JSONObject) -> (parameters: [(String, String)], problems: [FieldProblem]) {
        var parameters: [(String, String)] = []
        var problems: [FieldProblem] = []
        for member in params.members {
            if let text = ListQuery.parameterText(member.value) {
                parameters.append((member.key, text))
            } else {
                problems.append(FieldProblem(
                    path: "/" + jsonPointerToken(member.key), code: .type, message: "must be a string, a number or a boolean"))
            }
        }
        return (parameters, problems)
    }
}

/// The result of a `<resource>.delete` call: `{"id": …, "deleted": true}` (REST answers 204).
struct Deleted: JSONWritable {
    var id: UUID

    func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("deleted"); w.value(true)
        w.endObject()
    }
}
