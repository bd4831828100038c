import Logging
import NIOConcurrencyHelpers
import TrellisRedis

/// The rate limiter the API uses on every request: the shared budget in Redis
/// (``RedisRateLimiter``, one `EVALSHA` round trip), or, when Redis cannot answer, this
/// instance's ``LocalRateLimiter`` with the same policy, so the server keeps serving and keeps
/// limiting.
///
/// ``decide(workspace:subject:bucket:policy:)`` never throws: any failure of the Redis call
/// (unavailable, timeout, a closed connection, an error reply) answers from the local limiter
/// and counts in ``fallbackDecisions``. While degraded it logs a warning at most once per
/// ``warningInterval``, and once at `info` when Redis answers again; the logs never name a
/// key, workspace or subject.
public final class RateLimiter: Sendable {
    /// The least time between two "degraded" warnings.
    public static let warningInterval: Duration = .seconds(10)

    private let redis: RedisRateLimiter?
    /// The limiter that answers when Redis cannot.
    public let local: LocalRateLimiter
    private let logger: Logger
    /// Told of every decision and whether the in-process limiter made it (the server's metrics).
    private let observe: (@Sendable (_ allowed: Bool, _ fallback: Bool) -> Void)?

    /// The Redis client decisions go to, when there is one (for `/health/ready`).
    public var redisClient: RedisClient? { redis?.client }

    private struct State {
        var redisDecisions = 0
        var fallbackDecisions = 0
        var isDegraded = false
        var lastWarning: ContinuousClock.Instant?
    }

    private let state = NIOLockedValueBox(State())

    /// - Parameters:
    ///   - redis: the shared Redis; nil answers every decision from `local` (one instance only).
    ///   - local: the fallback limiter.
    ///   - logger: for the degraded warnings and the recovery notice.
    public init(
        redis: RedisClient?, local: LocalRateLimiter = LocalRateLimiter(), logger: Logger,
        observe: (@Sendable (_ allowed: Bool, _ fallback: Bool) -> Void)? = nil
    ) {
        self.redis = redis.map(RedisRateLimiter.init(client:))
        self.local = local
        self.logger = logger
        self.observe = observe
    }

    /// Decisions Redis made.
    public var redisDecisions: Int { state.withLockedValue(\.redisDecisions) }
    /// Decisions the local limiter made (Redis absent or failing).
    public var fallbackDecisions: Int { state.withLockedValue(\.fallbackDecisions) }
    /// Whether the latest decision came from the local limiter.
    public var isDegraded: Bool { state.withLockedValue(\.isDegraded) }

    /// Decides one request of `subject` (a credential id, or the client IP when anonymous)
    /// against the budget `bucket` (a resource or operation) in `workspace` (its id, or `anon`).
    /// The budget is `{workspace}:rl:subject:bucket` in Redis and in the local limiter alike.
    public func decide(workspace: String, subject: String, bucket: String, policy: RateLimitPolicy) async -> RateLimitDecision {
        let key = RedisRateLimiter.key(workspace: workspace, subject: subject, bucket: bucket)
        guard let redis else {
            // A deliberate set-up (no `REDIS_URL`): said once, not every ten seconds.
            return fallback(key: key, policy: policy, reason: "no Redis client is configured", repeatWarning: false)
        }
        let decision: RateLimitDecision
        do {
            decision = try await redis.decide(key: key, policy: policy)
        } catch let error as RedisError {
            return fallback(key: key, policy: policy, reason: error.description)
        } catch {
            return fallback(key: key, policy: policy, reason: "\(type(of: error))")
        }
        let recovered = state.withLockedValue { state in
            state.redisDecisions += 1
            defer { state.isDegraded = false }
            return state.isDegraded
        }
        if recovered {
            logger.info("Rate limiting is back on Redis")
        }
        observe?(decision.allowed, false)
        return decision
    }

    /// Gives the budget `bucket` of `subject` in `workspace` its full burst back, in Redis
    /// (when it answers) and in the local limiter. Best effort: a failure leaves the budget to
    /// refill at its own rate.
    public func forget(workspace: String, subject: String, bucket: String) async {
        let key = RedisRateLimiter.key(workspace: workspace, subject: subject, bucket: bucket)
        local.forget(key: key)
        _ = try? await redis?.client.send("DEL", .string(key))
    }

    private func fallback(
        key: String, policy: RateLimitPolicy, reason: @autoclosure () -> String, repeatWarning: Bool = true
    ) -> RateLimitDecision {
        let now = ContinuousClock.now
        let warnAfter: Int? = state.withLockedValue { state in
            state.fallbackDecisions += 1
            state.isDegraded = true
            guard state.lastWarning.map({ repeatWarning && now - $0 >= Self.warningInterval }) ?? true else { return nil }
            state.lastWarning = now
            return state.fallbackDecisions
        }
        if let warnAfter {
            logger.warning(
                "Rate limiting falls back to this instance's limiter: limits are per instance until Redis answers",
                metadata: ["ratelimit.reason": "\(reason())", "ratelimit.fallback.decisions": "\(warnAfter)"]
            )
        }
        let decision = local.decide(key: key, policy: policy)
        observe?(decision.allowed, true)
        return decision
    }
}
