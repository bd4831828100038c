/// The rate-limit decision (GCRA), in one place: ``LocalRateLimiter`` calls it, and the Lua
/// script of ``RedisRateLimiter`` is a line-by-line copy of ``decide(tat:now:_:)``.
///
/// Each key keeps one number, its theoretical arrival time (TAT): when the key's next request
/// would be due if it spent its budget evenly. With emission interval `T = 60 s / perMinute`
/// and tolerance `tau = T × burst`, a request at `now` is decided so:
///
///     tat0   = max(tat ?? now, now)      // an idle key is not owed anything
///     newTat = tat0 + T
///     if newTat - now > tau: refused, state unchanged;
///                            retryAfter = newTat - tau - now
///     else:                  allowed, tat = newTat;
///                            remaining = floor((tau - (newTat - now)) / T)
///                            reset     = newTat - now   (when the full burst is back)
///
/// The arithmetic is done in whole microseconds (`Int64`), exactly as the Lua script does
/// with Redis's `TIME`, so the two limiters agree to the microsecond and no floating-point
/// rounding can hand out an extra request or take one away. Times in seconds are rounded up
/// to whole seconds only in the ``RateLimitDecision``.
public enum GCRA {
    /// Microseconds in a second.
    static let microsecondsPerSecond: Int64 = 1_000_000

    /// A policy in whole microseconds, with its values clamped (see ``RateLimitPolicy``).
    struct Parameters: Sendable, Hashable {
        /// `T`: the interval between requests at the sustained rate.
        var emission: Int64
        /// `tau = T × burst`: how far ahead of its schedule a key may get.
        var tolerance: Int64
        /// The burst after clamping: the decisions' `limit`.
        var burst: Int

        init(_ policy: RateLimitPolicy) {
            let perMinute = Int64(min(max(policy.perMinute, 1), 60_000_000))
            burst = min(max(policy.burst, 1), 1_000_000)
            emission = 60 * GCRA.microsecondsPerSecond / perMinute
            tolerance = emission * Int64(burst)
        }
    }

    /// One decision in microseconds.
    struct Outcome: Sendable, Hashable {
        var allowed: Bool
        /// Requests allowed right now after this one.
        var remaining: Int64
        /// Until the full burst is back.
        var reset: Int64
        /// Until one request is allowed (0 when allowed).
        var retryAfter: Int64
        /// The key's new TAT; nil when refused (the state does not change).
        var newTAT: Int64?
    }

    /// The decision for a key whose TAT is `tat` (nil: never seen, or expired) at `now`, all in
    /// microseconds on one clock.
    static func decide(tat: Int64?, now: Int64, _ parameters: Parameters) -> Outcome {
        let start = max(tat ?? now, now)
        let newTAT = start + parameters.emission
        let ahead = newTAT - now
        if ahead > parameters.tolerance {
            return Outcome(allowed: false, remaining: 0, reset: start - now, retryAfter: ahead - parameters.tolerance, newTAT: nil)
        }
        return Outcome(
            allowed: true,
            remaining: (parameters.tolerance - ahead) / parameters.emission,
            reset: ahead,
            retryAfter: 0,
            newTAT: newTAT
        )
    }

    /// The decision for a key whose TAT is `tat` (nil: never seen) at `now`, both in seconds on
    /// one clock; `newTAT` is what to store for the key, nil when refused (keep the old one).
    ///
    /// Times are taken to the nearest microsecond, and `newTAT` is a whole number of
    /// microseconds, so feeding it back loses nothing.
    public static func decide(tat: Double?, now: Double, policy: RateLimitPolicy) -> (decision: RateLimitDecision, newTAT: Double?) {
        let parameters = Parameters(policy)
        let outcome = decide(tat: tat.map(microseconds), now: microseconds(now), parameters)
        let decision = RateLimitDecision(outcome, limit: parameters.burst, unitsPerSecond: microsecondsPerSecond)
        return (decision, outcome.newTAT.map { Double($0) / Double(microsecondsPerSecond) })
    }

    /// `seconds` as whole microseconds, within ±2⁵³ (285 years), where a `Double` is still exact.
    static func microseconds(_ seconds: Double) -> Int64 {
        let limit = 9_007_199_254_740_992.0
        let value = (seconds * Double(microsecondsPerSecond)).rounded()
        guard !value.isNaN else { return 0 }
        return Int64(min(max(value, -limit), limit))
    }
}

extension RateLimitDecision {
    /// The decision for `outcome`, whose times count `unitsPerSecond` to the second (10⁶ for
    /// ``GCRA``'s microseconds, 10³ for the milliseconds of the Redis script's reply), rounded
    /// up to whole seconds.
    init(_ outcome: GCRA.Outcome, limit: Int, unitsPerSecond: Int64) {
        func seconds(_ value: Int64) -> Int {
            Int((max(value, 0) + unitsPerSecond - 1) / unitsPerSecond)
        }
        self.init(
            allowed: outcome.allowed,
            limit: limit,
            remaining: Int(max(outcome.remaining, 0)),
            resetSeconds: seconds(outcome.reset),
            retryAfterSeconds: outcome.allowed ? nil : max(seconds(outcome.retryAfter), 1)
        )
    }
}
