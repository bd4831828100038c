import Foundation
import GraphQL
import HTTPTypes
import Hummingbird
import NIOCore
import TrellisContract

/// The limits a GraphQL document is checked against before anything runs.
public struct GraphQLLimits: Sendable, Hashable {
    /// The longest document, in bytes.
    public var maxDocumentBytes = 32_768
    /// The deepest field nesting (root fields are depth 1).
    public var maxDepth = 10
    /// The most aliases in one document.
    public var maxAliases = 30
    /// Distinct documents kept parsed and validated.
    public var cachedDocuments = 1_000
    /// Whether `__schema` and `__type` are answered.
    public var introspection = true
    /// The most work one query may ask for (``GraphQLExecution/complexity(_:connections:defaultPage:)``).
    public var maxComplexity = 5_000

    public init() {}

    /// `api.yaml`'s `graphql` limits.
    public init(maxDocumentBytes: Int, maxDepth: Int, maxAliases: Int, maxComplexity: Int, introspection: Bool) {
        self.maxDocumentBytes = maxDocumentBytes
        self.maxDepth = maxDepth
        self.maxAliases = maxAliases
        self.maxComplexity = maxComplexity
        self.introspection = introspection
    }
}

/// `POST /v1/graphql` and `GET /v1/graphql` (queries only), and the SDL at
/// `GET /v1/graphql/schema.graphql`: GraphQL over the same service calls as REST (DESIGN.md §5,
/// issue 9). The document is parsed and validated by GraphQLSwift against the generated
/// schema, once per distinct document (``GraphQLDocumentCache``, which also serves Apollo's
/// automatic persisted queries); introspection is GraphQLSwift's; every other field is
/// answered here over the same service calls as REST.
///
/// A query's reads run a level at a time (``GraphQLExecution``), in one read-only snapshot
/// when they take more than one statement; each mutation runs in its own transaction, in order.
struct GraphQLEndpoint: Sendable {
    let services: TrellisServices
    let schema: GraphQLSchema
    let sdl: ByteBuffer
    let limits: GraphQLLimits
    let cache: GraphQLDocumentCache
    private let roots: [String: RootField]
    private let byType: [String: GraphQLResourceOps]
    private let relations: GraphQLRelations
    /// Root and relation fields that are connections (their `first` multiplies the cost).
    private let connectionNames: Set<String>
    /// The `EventTopic`s of the `events` subscription, by path (resources with events, and
    /// `jobs`), with the read scope each needs.
    let topicScopes: [String: String]

    enum RootField: Sendable {
        case get(GraphQLResourceOps)
        case list(GraphQLResourceOps)
        case search(GraphQLResourceOps)
        case create(GraphQLResourceOps)
        case update(GraphQLResourceOps)
        case delete(GraphQLResourceOps)
        case node
        /// `job`, `jobs`, `enqueueJob`, `cancelJob`, `retryJob` (``JobGraphQL``).
        case job(JobGraphQL.Field)
    }

    init(
        services: TrellisServices, resources: [GraphQLResourceOps], topicScopes: [String: String], sdl: String, limits: GraphQLLimits
    ) throws {
        self.services = services
        self.schema = try buildSchema(source: sdl)
        self.sdl = ByteBuffer(string: sdl.hasSuffix("\n") ? sdl : sdl + "\n")
        self.limits = limits
        cache = GraphQLDocumentCache(schema: schema, capacity: limits.cachedDocuments)
        var roots: [String: RootField] = ["node": .node]
        var byType: [String: GraphQLResourceOps] = [:]
        for ops in resources {
            let d = ops.descriptor
            byType[d.name] = ops
            if d.operations.contains(.get) { roots[GraphQLNames.singular(type: d.name)] = .get(ops) }
            if d.operations.contains(.list) { roots[GraphQLNames.plural(path: d.path, type: d.name)] = .list(ops) }
            if d.operations.contains(.search) { roots[GraphQLNames.search(path: d.path)] = .search(ops) }
            if d.operations.contains(.create) { roots["create" + d.name] = .create(ops) }
            if d.operations.contains(.update) { roots["update" + d.name] = .update(ops) }
            if d.operations.contains(.delete) { roots["delete" + d.name] = .delete(ops) }
        }
        if !services.jobs.definitions.isEmpty {
            for field in JobGraphQL.Field.allCases { roots[field.rawValue] = .job(field) }
        }
        self.roots = roots
        self.byType = byType
        self.topicScopes = topicScopes
        relations = GraphQLRelations(resources)
        connectionNames = relations.connectionNames.union(roots.compactMap { name, field in
            switch field {
            case .list, .search, .job(.list): name
            default: nil
            }
        })
    }

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("graphql", use: post)
        v1.get("graphql", use: get)
        v1.get("graphql/schema.graphql") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: sdl))
        }
    }

    // MARK: The envelope

    /// `{query, operationName?, variables?, extensions?}`.
    struct Envelope {
        var query: String?
        var operationName: String?
        var variables: JSONObject
        var persistedHash: String?
    }

    @Sendable func post(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let body = try await JSONBody.read(request, limit: services.maxBodySize, mediaTypes: ["application/json"])
        guard case let .object(members) = body else {
            return answer(errors: [GraphQLRequestError("The body must be a JSON object {query, operationName, variables, extensions}")])
        }
        do {
            return try await run(try envelope(members), request, context, allowMutation: true)
        } catch let error as GraphQLRequestError {
            return answer(errors: [error])
        }
    }

    @Sendable func get(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        if let offer = context.webSocket { return try subscriptions(offer, request, context) }
        var members: [JSONObject.Member] = []
        for (name, value) in queryParameters(of: request) {
            switch name {
            case "query", "operationName": members.append(.init(key: name, value: .string(value)))
            case "variables", "extensions":
                guard let parsed = try? JSONValue(parsing: value) else {
                    return answer(errors: [GraphQLRequestError("\(name) must be a JSON object")])
                }
                members.append(.init(key: name, value: parsed))
            default: return answer(errors: [GraphQLRequestError("Unknown query parameter \"\(name.prefix(64))\"")])
            }
        }
        do {
            return try await run(try envelope(JSONObject(members)), request, context, allowMutation: false)
        } catch let error as GraphQLRequestError {
            return answer(errors: [error])
        }
    }

    func envelope(_ members: JSONObject) throws(GraphQLRequestError) -> Envelope {
        var envelope = Envelope(variables: JSONObject())
        for member in members.members {
            switch (member.key, member.value) {
            case let ("query", .string(query)): envelope.query = query
            case let ("operationName", .string(name)): envelope.operationName = name
            case ("operationName", .null), ("variables", .null), ("extensions", .null), ("query", .null): continue
            case let ("variables", .object(variables)): envelope.variables = variables
            case let ("extensions", .object(extensions)):
                if case let .object(persisted)? = extensions["persistedQuery"] {
                    guard case let .string(hash)? = persisted["sha256Hash"], hash.utf8.count == 64 else {
                        throw GraphQLRequestError("extensions.persistedQuery.sha256Hash must be a SHA-256 in hex")
                    }
                    envelope.persistedHash = hash.lowercased()
                }
            default:
                throw GraphQLRequestError("Unexpected member \"\(member.key.prefix(64))\": a request has query, operationName, variables and extensions")
            }
        }
        return envelope
    }

    // MARK: Running a request

    /// The envelope's operation, parsed and validated (or from the cache), within the limits of
    /// size, depth and aliases.
    func plan(_ envelope: Envelope) throws(GraphQLRequestError) -> GraphQLPlan {
        if let query = envelope.query, query.utf8.count > limits.maxDocumentBytes {
            throw GraphQLRequestError(
                "The document is \(query.utf8.count) bytes; the limit is \(limits.maxDocumentBytes)", code: "DOCUMENT_TOO_LARGE")
        }
        guard envelope.query != nil || envelope.persistedHash != nil else { throw GraphQLRequestError("A request needs a query") }
        let hash = envelope.query.map(GraphQLDocumentCache.hash) ?? envelope.persistedHash!
        if let persisted = envelope.persistedHash, persisted != hash {
            throw GraphQLRequestError("provided sha does not match query", code: "PERSISTED_QUERY_HASH_MISMATCH")
        }
        let plan = try cache.plan(hash: hash, query: envelope.query, operationName: envelope.operationName)
        if plan.depth > limits.maxDepth {
            throw GraphQLRequestError("The query is \(plan.depth) levels deep; the limit is \(limits.maxDepth)", code: "QUERY_TOO_DEEP")
        }
        if plan.aliases > limits.maxAliases {
            throw GraphQLRequestError("The query has \(plan.aliases) aliases; the limit is \(limits.maxAliases)", code: "TOO_MANY_ALIASES")
        }
        return plan
    }

    private func run(_ envelope: Envelope, _ request: Request, _ context: TrellisRequestContext, allowMutation: Bool) async throws -> Response {
        let plan = try plan(envelope)
        if plan.operation == .subscription {
            throw GraphQLRequestError(
                "Subscriptions run over a WebSocket: GET /v1/graphql with the graphql-transport-ws subprotocol", code: "BAD_REQUEST")
        }
        if plan.operation == .mutation, !allowMutation {
            throw GraphQLRequestError("A mutation must be sent with POST", code: "METHOD_NOT_ALLOWED")
        }
        if plan.isIntrospection { return try await introspect(plan, envelope) }

        var execution = GraphQLExecution(
            call: GraphQLCall(request: request, context: context, services: services), variables: envelope.variables,
            byType: byType, relations: relations)
        let cost = execution.complexity(plan.selections, connections: connectionNames, defaultPage: services.pageLimits.defaultSize)
        if cost > limits.maxComplexity {
            throw GraphQLRequestError(
                "The query's complexity is \(cost); the budget is \(limits.maxComplexity) (each field counts 1, a connection's nodes count `first` times)",
                code: "COMPLEXITY_OVER_BUDGET")
        }
        var data = DataAnswer()
        var dataIsNull = false
        let included = plan.selections.filter { $0.isIncluded(envelope.variables) }
        if plan.operation == .mutation {
            for selection in included {
                let (value, nonNull) = await execution.mutation(selection, roots[selection.name])
                if value == nil, nonNull { dataIsNull = true }
                data.set(selection.responseKey, value ?? .value(.null))
            }
        } else {
            guard let identity = context.identity else { throw Problem.unauthenticated("This API needs a bearer credential", challenge: "Bearer") }
            let roots = self.roots
            let counter = execution.counter
            func answerFields(in session: any TenantSession) async {
                let counted = CountingSession(base: session, counter: counter)
                for selection in included {
                    let (value, nonNull) = await execution.query(selection, roots[selection.name], session: counted)
                    if value == nil, nonNull { dataIsNull = true }
                    data.set(selection.responseKey, value ?? .value(.null))
                }
            }
            do {
                if Self.needsSnapshot(included, relations: relations) {
                    // Several statements: one read-only snapshot, so every level agrees.
                    try await context.transaction(request, on: services, as: identity, readOnlySnapshot: true) { await answerFields(in: $0) }
                } else {
                    try await context.read(on: services, as: identity) { await answerFields(in: $0) }
                }
            } catch {
                // No connection or snapshot to read from: every field failed.
                for selection in included where selection.name != "__typename" {
                    execution.fail(selection, path: [.key(selection.responseKey)], error: error)
                    data.set(selection.responseKey, .value(.null))
                }
            }
        }
        return answer(
            data: dataIsNull ? nil : data, fieldErrors: execution.errors, requestID: context.requestID,
            cost: (cost, execution.counter.count))
    }

    /// Whether answering needs more than one statement (then they share a snapshot).
    static func needsSnapshot(_ selections: [GraphQLSelection], relations: GraphQLRelations) -> Bool {
        let data = selections.filter { $0.name != "__typename" }
        guard data.count <= 1 else { return true }
        func nested(_ selections: [GraphQLSelection]) -> Bool {
            selections.contains { selection in
                selection.name == "totalCount" || relations.forward.values.contains { $0[selection.name] != nil }
                    || relations.reverse.values.contains { $0[selection.name] != nil } || nested(selection.children)
            }
        }
        return data.contains { nested($0.children) }

    }

    /// `__schema` / `__type`: GraphQLSwift's own execution, on a document that asks only for them.
    private func introspect(_ plan: GraphQLPlan, _ envelope: Envelope) async throws -> Response {
        guard limits.introspection else {
            throw GraphQLRequestError("Introspection is switched off on this server", code: "INTROSPECTION_DISABLED")
        }
        guard plan.selections.allSatisfy({ $0.name.hasPrefix("__") }) else {
            throw GraphQLRequestError("Ask for __schema and __type in a query of their own", code: "BAD_REQUEST")
        }
        var variables: [String: Map] = [:]
        for member in envelope.variables.members { variables[member.key] = Self.map(member.value) }
        let result = try await execute(
            schema: schema, documentAST: plan.document.value, rootValue: (), context: (), variableValues: variables,
            operationName: envelope.operationName)
        let encoder = GraphQLJSONEncoder()
        return JSONResponse.make(.ok, ByteBuffer(bytes: try encoder.encode(result)))
    }

    static func map(_ value: JSONValue) -> Map {
        switch value {
        case .null: .null
        case let .bool(b): .bool(b)
        case let .integer(i): .number(Number(Int(i)))
        case let .double(d): .number(Number(d))
        case let .string(s): .string(s)
        case let .array(values): .array(values.map(map))
        case let .object(members): .dictionary(.init(uniqueKeysWithValues: members.members.map { ($0.key, map($0.value)) }))
        }
    }

    // MARK: Answers

    private func answer(errors: [GraphQLRequestError]) -> Response {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("errors")
        Self.write(errors, to: &w)
        w.endObject()
        return JSONResponse.make(.ok, w.bytes)
    }

    /// `[{message, locations?, extensions: {code}}, …]`.
    static func write(_ errors: [GraphQLRequestError], to w: inout JSONWriter) {
        w.beginArray()
        for error in errors {
            w.beginObject()
            w.key("message"); w.value(error.message)
            if !error.locations.isEmpty {
                w.key("locations")
                w.beginArray()
                for location in error.locations {
                    w.beginObject()
                    w.key("line"); w.value(Int64(location.line))
                    w.key("column"); w.value(Int64(location.column))
                    w.endObject()
                }
                w.endArray()
            }
            w.key("extensions"); w.beginObject(); w.key("code"); w.value(error.code); w.endObject()
            w.endObject()
        }
        w.endArray()
    }

    private func answer(
        data: DataAnswer?, fieldErrors: [GraphQLExecution.FieldError], requestID: String, cost: (complexity: Int, statements: Int)
    ) -> Response {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("data")
        if let data { data.write(to: &w) } else { w.null() }
        if !fieldErrors.isEmpty {
            w.key("errors")
            w.beginArray()
            for error in fieldErrors { error.write(to: &w, requestID: requestID) }
            w.endArray()
        }
        // What the query cost: its complexity against the budget, and the SQL statements it ran.
        w.key("extensions"); w.beginObject()
        w.key("cost"); w.beginObject()
        w.key("complexity"); w.value(Int64(cost.complexity))
        w.key("budget"); w.value(Int64(limits.maxComplexity))
        w.key("statements"); w.value(Int64(cost.statements))
        w.endObject(); w.endObject()
        w.endObject()
        return JSONResponse.make(.ok, w.bytes)
    }
}

extension JSONObject {
    /// Sets `key` to `value`, in place when the key is there (a field asked for twice, through
    /// fragments, is answered once).
    mutating func set(_ key: String, _ value: JSONValue) {
        if let index = members.lastIndex(where: { $0.key == key }) {
            members[index].value = value
        } else {
            members.append(Member(key: key, value: value))
        }
    }
}
