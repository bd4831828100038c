import TrellisRedis

/// The rate limiter every instance shares: one ``GCRA`` decision per request, made atomically
/// in Redis by one Lua script (one `EVALSHA` round trip) on Redis's own clock.
///
/// Keys have the form `{workspace}:rl:subject:bucket` (see ``key(workspace:subject:bucket:)``);
/// each holds the key's TAT in microseconds of Redis's `TIME` and expires once the full burst is
/// back (plus a second), so idle keys cost no memory.
public struct RedisRateLimiter: Sendable {
    /// The GCRA decision of ``GCRA/decide(tat:now:_:)``, in integer microseconds.
    ///
    /// - `KEYS[1]`: the rate-limit key.
    /// - `ARGV[1]`: the emission interval `T`, `ARGV[2]`: the tolerance `tau = T × burst`, both
    ///   in whole microseconds (integers, so no float is ever formatted or parsed).
    /// - Time: `redis.call('TIME')`, the clock every instance shares. Redis 7 replicates a
    ///   script's effects (the `SET`), not the script, so a non-deterministic command is fine.
    /// - On allow: `SET key newTat PX reset_ms + 1000`; on refusal nothing is written.
    /// - Returns `{allowed (0|1), remaining, reset_ms, retry_after_ms}`: times rounded up to
    ///   whole milliseconds, `retry_after_ms` 0 when allowed.
    ///
    /// Lua 5.1 numbers are doubles: microsecond times (about 1.8 × 10¹⁵) are exact below 2⁵³,
    /// and the TAT is written with `%d` because `tostring` would print `1.8e+15`.
    public static let script = RedisScript(
        """
        local emission = tonumber(ARGV[1])
        local tolerance = tonumber(ARGV[2])
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
        local tat = tonumber(redis.call('GET', KEYS[1]) or '')
        if tat == nil or tat < now then tat = now end
        local new_tat = tat + emission
        local ahead = new_tat - now
        if ahead > tolerance then
          return {0, 0, math.ceil((tat - now) / 1000), math.ceil((ahead - tolerance) / 1000)}
        end
        local reset_ms = math.ceil(ahead / 1000)
        redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', reset_ms + 1000)
        return {1, math.floor((tolerance - ahead) / emission), reset_ms, 0}
        """
    )

    /// The client the decisions go through.
    public let client: RedisClient

    public init(client: RedisClient) {
        self.client = client
    }

    /// The Redis key of one budget: `{workspace}:rl:subject:bucket`.
    ///
    /// `{workspace}` is a Redis Cluster hash tag, so every key of one workspace lives on one
    /// shard; pass the workspace id, or `anon` for anonymous (per-IP) budgets. The workspace
    /// must contain no `{` or `}`, or the hash tag would end early.
    public static func key(workspace: String, subject: String, bucket: String) -> String {
        "{" + workspace + "}:rl:" + subject + ":" + bucket
    }

    /// Decides one request against the budget at `key`.
    ///
    /// - Throws: what ``RedisClient/evaluate(_:keys:arguments:)`` throws, or
    ///   ``RedisError/protocol(_:)`` if the reply is not the script's four integers.
    public func decide(key: String, policy: RateLimitPolicy) async throws -> RateLimitDecision {
        let parameters = GCRA.Parameters(policy)
        let reply = try await client.evaluate(
            Self.script,
            keys: [.string(key)],
            arguments: [.integer(parameters.emission), .integer(parameters.tolerance)]
        )
        guard case .array(let values) = reply, values.count == 4,
            case .integer(let allowed) = values[0], case .integer(let remaining) = values[1],
            case .integer(let reset) = values[2], case .integer(let retryAfter) = values[3]
        else { throw RedisError.protocol("unexpected reply from the rate-limit script") }
        let outcome = GCRA.Outcome(allowed: allowed == 1, remaining: remaining, reset: reset, retryAfter: retryAfter, newTAT: nil)
        return RateLimitDecision(outcome, limit: parameters.burst, unitsPerSecond: 1_000)
    }
}
