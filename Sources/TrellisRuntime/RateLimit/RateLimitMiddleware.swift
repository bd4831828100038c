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
        let (name, policy) = bucket(of: request.uri.path)
        let decision = await limiter.decide(
            workspace: identity.workspaceID.lowercasedString, subject: identity.kind.rawValue + ":" + identity.credentialID,
            bucket: name, policy: policy)
        return try await Self.answer(decision, policy: policy, context: context) { try await next(request, context) }
    }

    /// Runs `next` when `decision` allows it, else refuses with 429; either way the answer,
    /// problems included, carries the decision's headers.
    static func answer(
        _ decision: RateLimitDecision, policy: RateLimitPolicy, context: Context, _ next: () async throws -> Response
    ) async throws -> Response {
        guard decision.allowed else {
            var problem = Problem.rateLimited(retryAfter: decision.retryAfterSeconds ?? 1, limit: policy)
            apply(decision, to: &problem.headers)
            throw problem
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
