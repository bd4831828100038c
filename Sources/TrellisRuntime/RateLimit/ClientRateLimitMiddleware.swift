import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import TrellisContract

/// The limits of `/v1` callers that have no valid credential, per client address
/// (``ClientAddress``), before any credential is looked up (DESIGN.md §6):
/// - a request without `Authorization` spends the address's `anonymous` budget
///   (`api.yaml`'s default limit); its answer (a 401) carries the `RateLimit-*` headers;
/// - a refused credential spends the address's `auth-failures` budget
///   (``failurePolicy``); once that is spent, the address's requests with any credential are
///   429 without a lookup until `Retry-After`, so a flood of bad keys costs no database reads.
/// Runs outside ``AuthenticationMiddleware``; a valid credential is limited by
/// ``RateLimitMiddleware`` instead.
struct ClientRateLimitMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    /// Refused credentials an address may present: 20 at once, then one every 3 seconds.
    static let failurePolicy = RateLimitPolicy(perMinute: 20, burst: 20)

    let limiter: RateLimiter
    let addresses: ClientAddress
    let anonymousPolicy: RateLimitPolicy
    let blocked: BlockedAddresses

    init(limiter: RateLimiter, addresses: ClientAddress, anonymousPolicy: RateLimitPolicy, blocked: BlockedAddresses = BlockedAddresses()) {
        self.limiter = limiter
        self.addresses = addresses
        self.anonymousPolicy = anonymousPolicy
        self.blocked = blocked
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let address = addresses.resolve(peer: context.clientIP, forwardedFor: request.headers[.xForwardedFor])
        guard request.headers[.authorization] != nil else {
            let decision = await limiter.decide(workspace: "anon", subject: "ip:" + address, bucket: "anonymous", policy: anonymousPolicy)
            return try await RateLimitMiddleware.answer(decision, policy: anonymousPolicy, context: context) {
                try await next(request, context)
            }
        }
        if let retryAfter = blocked.retryAfter(address) {
            throw Problem.rateLimited(retryAfter: retryAfter, limit: Self.failurePolicy)
        }
        do {
            return try await next(request, context)
        } catch var problem as Problem where problem.status == .unauthorized {
            let decision = await limiter.decide(
                workspace: "anon", subject: "ip:" + address, bucket: "auth-failures", policy: Self.failurePolicy)
            if !decision.allowed {
                let retryAfter = decision.retryAfterSeconds ?? 1
                blocked.block(address, forSeconds: retryAfter)
                problem = Problem.rateLimited(retryAfter: retryAfter, limit: Self.failurePolicy)
            }
            RateLimitMiddleware.apply(decision, to: &problem.headers)
            throw problem
        }
    }
}

/// Addresses whose refused credentials ran out, until when: checked before a credential is
/// looked up. Per instance (each instance learns of a block from its own next refusal, the
/// budget itself being shared in Redis); bounded to ``maxAddresses``, expired entries dropped first.
final class BlockedAddresses: Sendable {
    static let maxAddresses = 100_000
    private let until = NIOLockedValueBox<[String: ContinuousClock.Instant]>([:])

    /// Whole seconds until `address` may try again; nil when it is not blocked.
    func retryAfter(_ address: String) -> Int? {
        let now = ContinuousClock.now
        return until.withLockedValue { until in
            guard let end = until[address] else { return nil }
            guard end > now else {
                until[address] = nil
                return nil
            }
            let (seconds, attoseconds) = (end - now).components
            return max(1, Int(seconds) + (attoseconds > 0 ? 1 : 0))
        }
    }

    func block(_ address: String, forSeconds seconds: Int) {
        let now = ContinuousClock.now
        until.withLockedValue { until in
            if until.count >= Self.maxAddresses {
                until = until.filter { $0.value > now }
                // Still full: the oldest blocks are the first to go.
                if until.count >= Self.maxAddresses { until.removeAll(keepingCapacity: true) }
            }
            until[address] = now + .seconds(seconds)
        }
    }
}

extension HTTPField.Name {
    static let xForwardedFor = Self("X-Forwarded-For")!
}
