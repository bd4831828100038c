import Foundation

/// `jobs.enqueue|get|list|cancel|retry`: the JSON-RPC adapter over ``JobQueue``, as
/// ``JobRoutes`` is the REST one. `params` is the REST body for `jobs.enqueue`, `{"id"}` for
/// get, cancel and retry, and `{"state"?, "type"?, "limit"?, "cursor"?}` for list, whose
/// result is the REST page.
struct JobRPC: Sendable {
    var methods: [(String, RPCMethod)] {
        [
            ("jobs.enqueue", RPCMethod(run: enqueue)),
            ("jobs.get", RPCMethod(run: get)),
            ("jobs.list", RPCMethod(run: list)),
            ("jobs.cancel", RPCMethod(run: cancel)),
            ("jobs.retry", RPCMethod(run: retry)),
        ]
    }

    @Sendable func enqueue(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: JobRoutes.write)
        return try await call.write(as: identity) { [services = call.services] tx in
            try await services.jobs.enqueue(body: .object(params), in: tx).job
        }
    }

    @Sendable func get(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: JobRoutes.read)
        let id = try RPCParams.onlyID(params)
        return try await call.read(as: identity) { try await JobQueue.get(id, in: $0) }
    }

    @Sendable func list(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        let identity = try call.context.authorized(for: JobRoutes.read)
        let (parameters, problems) = RPCParams.text(params)
        let query = try JobListQuery(parameters, besides: problems, services: call.services, pathPrefix: "/")
        return try await call.read(as: identity) { try await query.run(in: $0) }
    }

    @Sendable func cancel(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        try await change(params, call, JobQueue.cancel)
    }

    @Sendable func retry(_ params: JSONObject, _ call: RPCInvocation) async throws -> any JSONWritable {
        try await change(params, call, JobQueue.retry)
    }

    /// A `jobs:write` call on the job `{"id"}` names.
    private func change(
        _ params: JSONObject, _ call: RPCInvocation, _ operation: @escaping @Sendable (UUID, TenantTransaction) async throws -> JobRecord
    ) async throws -> JobRecord {
        let identity = try call.context.authorized(for: JobRoutes.write)
        let id = try RPCParams.onlyID(params)
        return try await call.write(as: identity) { try await operation(id, $0) }
    }
}
