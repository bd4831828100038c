import HTTPTypes
import Hummingbird
import TrellisContract

extension HTTPField.Name {
    static let rateLimitLimit = Self("RateLimit-Limit")!
    static let rateLimitRemaining = Self("RateLimit-Remaining")!
    static let rateLimitReset = Self("RateLimit-Reset")!
}

/// The rate limit of every authenticated `/v1` request (DESIGN.md §6): one decision per
/// request for its credential and its bucket, and the `RateLimit-Limit`, `RateLimit-Remaining`
/// and `RateLimit-Reset` headers on the response, problems included. Over the limit the
/// request is not run: a 429 `rate_limited` problem with `Retry-After`.
///
/// A bucket is a resource (`agents`, with the schema's `rate_limit`) or one of the other
/// `/v1` endpoints (`rpc`, `graphql`, `api-keys`, `admin`, with `api.yaml`'s default); any
/// other path counts as one bucket, `other`, so a client cannot mint keys by inventing paths.
/// A key with its own `rate_limit` has that limit in every bucket instead.
/// It runs after authentication, so it knows the credential; requests that fail
/// authentication are answered before it.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let limiter: RateLimiter
    /// Bucket name -> its policy.
    let policies: [String: RateLimitPolicy]
    let defaultPolicy: RateLimitPolicy

    init(limiter: RateLimiter, resources: [ResourceDescriptor], defaultPolicy: RateLimitPolicy) {
        self.limiter = limiter
        self.defaultPolicy = defaultPolicy
        var policies: [String: RateLimitPolicy] = [:]
        for endpoint in ["rpc", "graphql", "api-keys", "admin", "other"] { policies[endpoint] = defaultPolicy }
        for resource in resources { policies[resource.path] = resource.rateLimit ?? defaultPolicy }
        self.policies = policies
    }

    /// The bucket of a request path: its first segment below `/v1`.
    func bucket(of path: String) -> (name: String, policy: RateLimitPolicy) {
        var segments = path.split(separator: "/", maxSplits: 2, omittingEmptySubsequences: true)
        if segments.first == "v1" { segments.removeFirst() }
        if let first = segments.first, let policy = policies[String(first)] { return (String(first), policy) }
        return ("other", defaultPolicy)
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let identity = context.identity else { return try await next(request, context) }
        let (name, bucketPolicy) = bucket(of: request.uri.path)
        let policy = identity.rateLimit ?? bucketPolicy
        let decision = await limiter.decide(
            workspace: identity.workspaceID.lowercasedString, subject: identity.kind.rawValue + ":" + identity.credentialID,
            bucket: name, policy: policy)
        let surface = Surface(bucket: name, path: request.uri.path)
        return try await Self.answer(decision, policy: policy, context: context, surface: surface) { try await next(request, context) }
    }

    /// How a refusal is written: a problem, or in the protocol of the endpoint refused.
    enum Surface {
        case problem
        /// `/v1/rpc`: a JSON-RPC error `-32029` (id null: the body was not read).
        case jsonRPC
        /// `/v1/graphql`: a GraphQL error whose `extensions.code` is `rate_limited`.
        case graphQL

        init(bucket: String, path: String) {
            switch bucket {
            case "rpc": self = .jsonRPC
            case "graphql" where !path.hasSuffix("/schema.graphql"): self = .graphQL
            default: self = .problem
            }
        }
    }

    /// Runs `next` when `decision` allows it, else refuses with 429; either way the answer,
    /// problems included, carries the decision's headers.
    static func answer(
        _ decision: RateLimitDecision, policy: RateLimitPolicy, context: Context, surface: Surface = .problem,
        _ next: () async throws -> Response
    ) async throws -> Response {
        guard decision.allowed else {
            var problem = Problem.rateLimited(retryAfter: decision.retryAfterSeconds ?? 1, limit: policy)
            apply(decision, to: &problem.headers)
            switch surface {
            case .problem: throw problem
            case .jsonRPC: return refusal(jsonRPC: problem, requestID: context.requestID)
            case .graphQL: return refusal(graphQL: problem, requestID: context.requestID)
            }
        }
        do {
            var response = try await next()
            apply(decision, to: &response.headers)
            return response
        } catch {
            var problem = ProblemMiddleware.problem(for: error, logger: context.logger)
            apply(decision, to: &problem.headers)
            throw problem
        }
    }

    /// HTTP 429 with the JSON-RPC error `-32029`; `data` carries the problem's code, status and request id.
    static func refusal(jsonRPC problem: Problem, requestID: String) -> Response {
        var w = JSONWriter(capacity: 256)
        JSONRPCFailure(problem, id: .null).write(to: &w, requestID: requestID)
        return JSONResponse.make(.tooManyRequests, w.bytes, headers: problem.headers)
    }

    /// HTTP 429 with a GraphQL error whose `extensions` carry the problem's code, status and request id.
    static func refusal(graphQL problem: Problem, requestID: String) -> Response {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("errors"); w.beginArray(); w.beginObject()
        w.key("message"); w.value(problem.detail ?? problem.title)
        w.key("extensions"); w.beginObject()
        w.key("code"); w.value(problem.code)
        w.key("status"); w.value(Int64(problem.status.code))
        w.key("request_id"); w.value(requestID)
        w.endObject()
        w.endObject(); w.endArray()
        w.endObject()
        return JSONResponse.make(.tooManyRequests, w.bytes, headers: problem.headers)
    }

    static func apply(_ decision: RateLimitDecision, to headers: inout HTTPFields) {
        headers[.rateLimitLimit] = String(decision.limit)
        headers[.rateLimitRemaining] = String(decision.remaining)
        headers[.rateLimitReset] = String(decision.resetSeconds)
    }
}

extension Problem {
    /// Over the caller's rate limit: retry after `retryAfter` seconds.
    static func rateLimited(retryAfter: Int, limit: RateLimitPolicy) -> Problem {
        var problem = Problem(
            ProblemCatalogue.rateLimited,
            detail: "Rate limit reached (\(limit.burst) at once, \(limit.perMinute) per minute); retry in \(retryAfter) s")
        problem.headers[.retryAfter] = String(retryAfter)
        return problem
    }
}
