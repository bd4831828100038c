import Foundation
import TrellisContract

/// `job`, `jobs`, `enqueueJob`, `cancelJob` and `retryJob`: the GraphQL adapter over
/// ``JobQueue``, as ``JobRoutes`` is the REST one and ``JobRPC`` the JSON-RPC one. A `Job` is
/// the REST job with camel-cased names (`maxAttempts`), its selection picked from it; the
/// scopes are REST's (`jobs:read`, `jobs:write`).
enum JobGraphQL {
    enum Field: String, CaseIterable, Sendable {
        case get = "job"
        case list = "jobs"
        case enqueue = "enqueueJob"
        case cancel = "cancelJob"
        case retry = "retryJob"

        var isMutation: Bool { self == .enqueue || self == .cancel || self == .retry }
    }

    static let typeName = "Job"

    /// The fields `selections` ask of a job (given as its REST JSON): each field is the member
    /// whose camel-cased name it is (`maxAttempts` reads `max_attempts`); `errors` entries are
    /// `JobAttemptError`s.
    static func object(_ job: JSONObject, _ selections: [GraphQLSelection], _ variables: JSONObject) -> JSONValue {
        pick(.object(job), selections, variables, typeName: typeName)
    }

    private static func pick(_ value: JSONValue, _ selections: [GraphQLSelection], _ variables: JSONObject, typeName: String) -> JSONValue {
        switch value {
        case let .array(items):
            return .array(items.map { pick($0, selections, variables, typeName: typeName) })
        case let .object(members):
            var out = JSONObject()
            for selection in selections where selection.isIncluded(variables) {
                if let condition = selection.typeCondition, condition != typeName { continue }
                if selection.name == "__typename" {
                    out.set(selection.responseKey, .string(typeName))
                    continue
                }
                let member = members.members.first { GraphQLNames.camel($0.key) == selection.name }?.value ?? .null
                out.set(selection.responseKey, selection.children.isEmpty
                    ? member : pick(member, selection.children, variables, typeName: "JobAttemptError"))
            }
            return .object(out)
        default:
            return value
        }
    }

    /// `JobEnqueueInput` as the body of `POST /v1/jobs`.
    static func restInput(_ input: JSONValue) -> JSONValue {
        guard case let .object(members) = input else { return input }
        return .object(JSONObject(members.members.map { JSONObject.Member(key: $0.key == "runAt" ? "run_at" : $0.key, value: $0.value) }))
    }

    /// A REST problem path as a path into the GraphQL arguments.
    static func graphQLPath(_ path: String) -> String {
        switch path {
        case "/run_at": "/runAt"
        case "/limit": "/first"
        case "/cursor": "/after"
        default: path
        }
    }
}

extension GraphQLExecution {
    /// `job(id)` and `jobs(first, after, state, type)`.
    mutating func jobQuery(
        _ field: JobGraphQL.Field, _ selection: GraphQLSelection, path: [GraphQLPathPart], session: any TenantSession
    ) async -> (GraphQLFieldValue?, Bool) {
        let isList = field == .list
        guard authorized(JobRoutes.read, selection, paths: .single(path)) else { return (nil, isList) }
        do {
            if !isList {
                guard let id = uuidArgument(selection, "id", path: path) else { return (nil, false) }
                return (.value(JobGraphQL.object(try JSONObject(writing: try await JobQueue.get(id, in: session)), selection.children, variables)), false)
            }
            var parameters: [(String, String)] = []
            var problems: [FieldProblem] = []
            for (argument, parameter) in [("first", "limit"), ("after", "cursor"), ("state", "state"), ("type", "type")] {
                switch self.argument(selection, argument) {
                case nil, .null?: continue
                case let .integer(value)?: parameters.append((parameter, String(value)))
                case let .string(value)?: parameters.append((parameter, value))
                default: problems.append(FieldProblem(path: "/" + argument, code: .type, message: "must be a single value"))
                }
            }
            var query = try JobListQuery(parameters, besides: problems, services: call.services, pathPrefix: "/")
            query.wantsItemCursors = Self.asksForCursors(selection)
            let jobs = try await query.run(in: session)
            let summary = PageSummary(nodes: 0..<jobs.items.count, hasMore: jobs.nextCursor != nil, itemCursors: jobs.itemCursors)
            return (.connection(await connections(
                .jobs(try jobs.items.map(JSONObject.init(writing:))), pages: [summary], ranks: nil, totals: [nil], selection,
                paths: .single(path), session: session)), true)
        } catch {
            fail(selection, path: path, error: error, paths: JobGraphQL.graphQLPath)
            return (nil, isList)
        }
    }

    /// `enqueueJob(input)`, `cancelJob(id)`, `retryJob(id)`: each in its own transaction.
    mutating func jobMutation(_ field: JobGraphQL.Field, _ selection: GraphQLSelection, path: [GraphQLPathPart]) async -> (GraphQLFieldValue?, Bool) {
        let call = self.call
        do {
            let identity = try call.context.authorized(for: JobRoutes.write)
            let job: JobRecord
            switch field {
            case .enqueue:
                let body = JobGraphQL.restInput(argument(selection, "input") ?? .null)
                job = try await call.context.transaction(call.request, on: call.services, as: identity) { [services = call.services] in
                    try await services.jobs.enqueue(body: body, in: $0).job
                }
            case .cancel, .retry:
                guard let id = uuidArgument(selection, "id", path: path) else { return (nil, true) }
                let operation = field == .cancel ? JobQueue.cancel : JobQueue.retry
                job = try await call.context.transaction(call.request, on: call.services, as: identity) { try await operation(id, $0) }
            case .get, .list:
                fail(selection, path: path, message: "\(selection.name) is not a mutation field", code: "NOT_IMPLEMENTED")
                return (nil, true)
            }
            return (.value(JobGraphQL.object(try JSONObject(writing: job), selection.children, variables)), true)
        } catch {
            fail(selection, path: path, error: error, paths: JobGraphQL.graphQLPath)
            return (nil, true)
        }
    }
}
