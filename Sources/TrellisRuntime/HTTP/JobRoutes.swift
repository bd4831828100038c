import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/jobs` (DESIGN.md §5.1, §7): enqueue (`jobs:write`), get and list (`jobs:read`),
/// cancel and retry (`jobs:write`), all in the caller's workspace. The rules live in
/// ``JobQueue``; this only translates HTTP.
struct JobRoutes: Sendable {
    let services: TrellisServices
    static let read = "jobs:read"
    static let write = "jobs:write"

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("jobs", use: enqueue)
        v1.get("jobs", use: list)
        v1.get("jobs/:id", use: get)
        v1.post("jobs/:id/cancel", use: cancel)
        v1.post("jobs/:id/retry", use: retry)
    }

    /// 202 with the new job; 200 with the job it repeats when the type is `unique_for` a window.
    /// An `Idempotency-Key` replays the first answer, as for a resource's create.
    @Sendable func enqueue(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let idempotency = try IdempotentRequest(request.headers)
        let json = try await JSONBody.read(request, limit: services.maxBodySize, mediaTypes: ["application/json"])
        let outcome = try await idempotency.run(
            request, body: json, context: context, services: services, as: identity,
            stored: { outcome in
                var w = JSONWriter()
                outcome.job.writeJSON(to: &w)
                return .init(status: outcome.isNew ? 202 : 200, location: Self.location(outcome.job), body: w.bytes)
            }
        ) { [services] tx in
            try await services.jobs.enqueue(body: json, in: tx)
        }
        switch outcome {
        case let .success(enqueued):
            var response = enqueued.job.response(enqueued.isNew ? .accepted : .ok)
            response.headers[.location] = Self.location(enqueued.job)
            return response
        case let .failure(replay):
            return replay.response
        }
    }

    static func location(_ job: JobRecord) -> String {
        "/v1/jobs/\(job.id.lowercasedString)"
    }

    @Sendable func list(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.read)
        let query = try JobListQuery(queryParameters(of: request), services: services, pathPrefix: "/query/")
        let jobs = try await context.read(on: services, as: identity) { try await query.run(in: $0) }
        return jobs.response(.ok)
    }

    @Sendable func get(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.read)
        let id = try Self.jobID(context)
        return try await context.read(on: services, as: identity) { try await JobQueue.get(id, in: $0) }.response(.ok)
    }

    @Sendable func cancel(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let id = try Self.jobID(context)
        return try await context.transaction(request, on: services, as: identity) { try await JobQueue.cancel(id, in: $0) }.response(.ok)
    }

    @Sendable func retry(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let id = try Self.jobID(context)
        return try await context.transaction(request, on: services, as: identity) { try await JobQueue.retry(id, in: $0) }.response(.ok)
    }

    static func jobID(_ context: TrellisRequestContext) throws -> UUID {
        try context.pathID("id", naming: "job")
    }
}

extension JobQueue.Enqueued {
    var isNew: Bool {
        if case .created = self { return true }
        return false
    }
}
