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

    public init() {}
}

/// `POST /v1/graphql` and `GET /v1/graphql` (queries only), and the SDL at
/// `GET /v1/graphql/schema.graphql`: GraphQL over the same service calls as REST (DESIGN.md §5,
/// issue 9). The document is parsed and validated by GraphQLSwift against the generated
/// schema, once per distinct document (``GraphQLDocumentCache``, which also serves Apollo's
/// automatic persisted queries); introspection is GraphQLSwift's; every other field is
/// answered here, each by one service call.
///
/// Answered today: `node(nodeId:)`, `<resource>(id:)` and the mutations
/// `create…`/`update…`/`delete…`, with the object's own fields. Connections (`agents`,
/// `search…`, `Swarm.agents`) and the fields that follow a reference (`Agent.swarm`) validate
/// but answer a `NOT_IMPLEMENTED` error for now (docs/deviations.md).
struct GraphQLEndpoint: Sendable {
    let services: TrellisServices
    let schema: GraphQLSchema
    let sdl: ByteBuffer
    let limits: GraphQLLimits
    let cache: GraphQLDocumentCache
    private let roots: [String: RootField]
    private let byType: [String: GraphQLResourceOps]

    private enum RootField: Sendable {
        case get(GraphQLResourceOps)
        case create(GraphQLResourceOps)
        case update(GraphQLResourceOps)
        case delete(GraphQLResourceOps)
        case node
        case notImplemented(String)
    }

    init(services: TrellisServices, resources: [GraphQLResourceOps], sdl: String, limits: GraphQLLimits) throws {
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
            let singular = d.name.prefix(1).lowercased() + d.name.dropFirst()
            var plural = GraphQLNames.camel(d.path)
            if plural == singular { plural += "List" }
            if d.operations.contains(.get) { roots[singular] = .get(ops) }
            if d.operations.contains(.list) { roots[plural] = .notImplemented("connections") }
            if d.operations.contains(.search) { roots["search" + GraphQLNames.pascal(d.path)] = .notImplemented("connections") }
            if d.operations.contains(.create) { roots["create" + d.name] = .create(ops) }
            if d.operations.contains(.update) { roots["update" + d.name] = .update(ops) }
            if d.operations.contains(.delete) { roots["delete" + d.name] = .delete(ops) }
        }
        self.roots = roots
        self.byType = byType
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
    private struct Envelope {
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

    private func envelope(_ members: JSONObject) throws(GraphQLRequestError) -> Envelope {
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

    private func run(_ envelope: Envelope, _ request: Request, _ context: TrellisRequestContext, allowMutation: Bool) async throws -> Response {
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
        if plan.operation == .subscription { throw GraphQLRequestError("Subscriptions are not served yet", code: "NOT_IMPLEMENTED") }
        if plan.operation == .mutation, !allowMutation {
            throw GraphQLRequestError("A mutation must be sent with POST", code: "METHOD_NOT_ALLOWED")
        }
        if plan.isIntrospection { return try await introspect(plan, envelope) }

        var execution = Execution(call: GraphQLCall(request: request, context: context, services: services), variables: envelope.variables)
        var data = JSONObject()
        var dataIsNull = false
        for selection in plan.selections where selection.isIncluded(envelope.variables) {
            if selection.name == "__typename" {
                data.set(selection.responseKey, .string(plan.operation == .mutation ? "Mutation" : "Query"))
                continue
            }
            let (value, nonNull) = await execution.root(selection, roots[selection.name], byType: byType)
            if value == nil, nonNull { dataIsNull = true }
            data.set(selection.responseKey, value ?? .null)
        }
        return answer(data: dataIsNull ? nil : .object(data), fieldErrors: execution.errors, requestID: context.requestID)
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
        w.endObject()
        return JSONResponse.make(.ok, w.bytes)
    }

    private func answer(data: JSONValue?, fieldErrors: [Execution.FieldError], requestID: String) -> Response {
        var w = JSONWriter(capacity: 1024)
        w.beginObject()
        w.key("data")
        if let data { w.value(data) } else { w.null() }
        if !fieldErrors.isEmpty {
            w.key("errors")
            w.beginArray()
            for error in fieldErrors { error.write(to: &w, requestID: requestID) }
            w.endArray()
        }
        w.endObject()
        return JSONResponse.make(.ok, w.bytes)
    }

    // MARK: Execution

    /// One request's fields and the errors they met.
    private struct Execution {
        let call: GraphQLCall
        let variables: JSONObject
        var errors: [FieldError] = []

        struct FieldError {
            var message: String
            var path: [String]
            var line: Int
            var column: Int
            var code: String
            var status: Int?
            var problems: [FieldProblem]

            func write(to w: inout JSONWriter, requestID: String) {
                w.beginObject()
                w.key("message"); w.value(message)
                if line > 0 {
                    w.key("locations"); w.beginArray(); w.beginObject()
                    w.key("line"); w.value(Int64(line)); w.key("column"); w.value(Int64(column))
                    w.endObject(); w.endArray()
                }
                w.key("path"); w.beginArray(); for part in path { w.value(part) }; w.endArray()
                w.key("extensions")
                w.beginObject()
                w.key("code"); w.value(code)
                if let status { w.key("status"); w.value(Int64(status)) }
                w.key("request_id"); w.value(requestID)
                if !problems.isEmpty {
                    w.key("errors")
                    w.beginArray()
                    for problem in problems {
                        w.beginObject()
                        w.key("path"); w.value(problem.path.count > 256 ? problem.path.prefix(256) + "…" : problem.path)
                        w.key("code"); w.value(problem.code.rawValue)
                        w.key("message"); w.value(problem.message)
                        w.endObject()
                    }
                    w.endArray()
                }
                w.endObject()
                w.endObject()
            }
        }

        mutating func fail(_ selection: GraphQLSelection, path: [String], message: String, code: String) {
            errors.append(FieldError(
                message: message, path: path, line: selection.line, column: selection.column, code: code, status: nil, problems: []))
        }

        /// A problem a service call threw, reported at the field (no internal detail: the
        /// problem boundary's own mapping logs anything else and says only "internal error").
        mutating func fail(_ selection: GraphQLSelection, path: [String], error: any Error, ops: GraphQLResourceOps?) {
            let problem = ProblemMiddleware.problem(for: error, logger: call.context.logger)
            let problems = problem.errors.map { field in
                FieldProblem(path: ops?.graphQLPath(field.path) ?? field.path, code: field.code, message: field.message)
            }
            errors.append(FieldError(
                message: problem.detail ?? problem.title, path: path, line: selection.line, column: selection.column,
                code: problem.code, status: Int(problem.status.code), problems: problems))
        }

        func argument(_ selection: GraphQLSelection, _ name: String) -> JSONValue? {
            selection.arguments[name]?.resolved(variables)
        }

        /// A root field's value (nil: null) and whether its type is non-null.
        mutating func root(
            _ selection: GraphQLSelection, _ field: RootField?, byType: [String: GraphQLResourceOps]
        ) async -> (JSONValue?, Bool) {
            let path = [selection.responseKey]
            let call = self.call
            guard let field else {
                fail(selection, path: path, message: "No field \(selection.name) is served", code: "NOT_IMPLEMENTED")
                return (nil, false)
            }
            switch field {
            case let .notImplemented(what):
                fail(selection, path: path, message: "\(selection.name): \(what) are not served yet", code: "NOT_IMPLEMENTED")
                return (nil, true)
            case .node:
                guard case let .string(text)? = argument(selection, "nodeId"), let (type, id) = GraphQLNames.decodeNodeID(text),
                    let ops = byType[type], ops.descriptor.operations.contains(.get)
                else {
                    fail(selection, path: path, message: "No object with this nodeId", code: ProblemCatalogue.notFound.code)
                    return (nil, false)
                }
                return (await object(selection, path: path, ops: ops) { try await ops.get(id, call) }, false)
            case let .get(ops):
                guard let id = uuidArgument(selection, "id", path: path, ops: ops) else { return (nil, false) }
                return (await object(selection, path: path, ops: ops) { try await ops.get(id, call) }, false)
            case let .create(ops):
                let input = ops.restInput(argument(selection, "input") ?? .null)
                return (await object(selection, path: path, ops: ops) { try await ops.create(input, call) }, true)
            case let .update(ops):
                guard let id = uuidArgument(selection, "id", path: path, ops: ops) else { return (nil, true) }
                let input = ops.restInput(argument(selection, "input") ?? .null)
                guard let version = versionArgument(selection, path: path, ops: ops) else { return (nil, true) }
                return (await object(selection, path: path, ops: ops) { try await ops.update(id, input, version.value, call) }, true)
            case let .delete(ops):
                guard let id = uuidArgument(selection, "id", path: path, ops: ops) else { return (nil, true) }
                guard let version = versionArgument(selection, path: path, ops: ops) else { return (nil, true) }
                do {
                    try await ops.delete(id, version.value, call)
                } catch {
                    fail(selection, path: path, error: error, ops: ops)
                    return (nil, true)
                }
                var out = JSONObject()
                for child in selection.children where child.isIncluded(variables) {
                    switch child.name {
                    case "__typename": out.set(child.responseKey, .string("Deleted"))
                    case "id": out.set(child.responseKey, .string(id.lowercasedString))
                    case "deleted": out.set(child.responseKey, .bool(true))
                    default: continue
                    }
                }
                return (.object(out), true)
            }
        }

        private mutating func uuidArgument(_ selection: GraphQLSelection, _ name: String, path: [String], ops: GraphQLResourceOps) -> UUID? {
            guard case let .string(text)? = argument(selection, name), let id = UUID(uuidString: text) else {
                fail(selection, path: path, error: Problem.validationFailed([
                    FieldProblem(path: "/" + name, code: .format, message: "must be a UUID"),
                ]), ops: nil)
                return nil
            }
            return id
        }

        /// `ifVersion`: absent or null is no precondition.
        private mutating func versionArgument(_ selection: GraphQLSelection, path: [String], ops: GraphQLResourceOps) -> (value: Int64?, Void)? {
            switch argument(selection, "ifVersion") {
            case nil, .null?: return (nil, ())
            case let .integer(version)?: return (version, ())
            default:
                fail(selection, path: path, error: Problem.validationFailed([
                    FieldProblem(path: "/ifVersion", code: .type, message: "must be an integer"),
                ]), ops: nil)
                return nil
            }
        }

        /// Runs `load` and answers the object's selected fields; nil (with the error) when it threw.
        private mutating func object(
            _ selection: GraphQLSelection, path: [String], ops: GraphQLResourceOps, _ load: () async throws -> JSONObject
        ) async -> JSONValue? {
            let object: JSONObject
            do {
                object = try await load()
            } catch {
                fail(selection, path: path, error: error, ops: ops)
                return nil
            }
            var out = JSONObject()
            for child in selection.children where child.isIncluded(variables) {
                if let condition = child.typeCondition, condition != ops.typeName, condition != "Node" { continue }
                switch child.name {
                case "__typename": out.set(child.responseKey, .string(ops.typeName))
                case "nodeId":
                    if case let .string(id)? = object["id"] { out.set(child.responseKey, .string(GraphQLNames.nodeID(type: ops.typeName, id: id))) }
                default:
                    if let column = ops.columns[child.name] {
                        out.set(child.responseKey, object[column] ?? .null)
                    } else {
                        fail(child, path: path + [child.responseKey], message: "\(ops.typeName).\(child.name) is not served yet", code: "NOT_IMPLEMENTED")
                        out.set(child.responseKey, .null)
                    }
                }
            }
            return .object(out)
        }
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
