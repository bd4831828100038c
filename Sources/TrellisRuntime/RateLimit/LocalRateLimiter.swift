import NIOConcurrencyHelpers

/// The rate limiter of one process, for when Redis cannot be reached: the same ``GCRA``
/// decisions over a dictionary `key → TAT` behind a lock.
///
/// - **Clock.** Times come from `ContinuousClock` (monotonic; on Linux `CLOCK_BOOTTIME`), as
///   seconds since the limiter was made. Wall-clock steps (NTP, a changed date) neither refill
///   nor drain any budget. The state never mixes with Redis's, which keeps its own clock.
/// - **Scope.** Each instance counts only its own requests, so with N instances a key may get
///   up to N times its limit while Redis is down, and the budget starts afresh on each side
///   when ``RateLimiter`` switches between Redis and this limiter.
/// - **Memory.** At most ``maxKeys`` keys are tracked. When the table is full and a new key
///   comes, the keys whose TAT has passed are dropped (their state equals a fresh key's, so
///   dropping them changes no decision); this sweep runs at most once per second, so a flood
///   of new keys costs one scan per second, not one per request. If the table is still full,
///   the new key is **allowed without being tracked** (counted in ``untrackedDecisions``):
///   refusing instead would let anyone who can send many distinct keys lock every new client
///   out, while allowing costs only the limit of keys the table has no room for, for as long
///   as the table stays full.
public final class LocalRateLimiter: Sendable {
    /// The most keys tracked at once.
    public let maxKeys: Int

    private struct State {
        var tats: [String: Double] = [:]
        var lastSweep: Double?
        var untracked = 0
    }

    private let state = NIOLockedValueBox(State())
    private let origin = ContinuousClock.now

    /// The minimum time between two sweeps of the full table, in seconds.
    static let sweepInterval: Double = 1

    /// - Parameter maxKeys: the most keys tracked at once (at least 1).
    public init(maxKeys: Int = 100_000) {
        self.maxKeys = max(maxKeys, 1)
    }

    /// Keys tracked right now.
    public var trackedKeys: Int { state.withLockedValue { $0.tats.count } }

    /// Decisions allowed without tracking because the table was full.
    public var untrackedDecisions: Int { state.withLockedValue { $0.untracked } }

    /// Decides one request of `key` now.
    public func decide(key: String, policy: RateLimitPolicy) -> RateLimitDecision {
        decide(key: key, policy: policy, now: secondsSinceStart())
    }

    /// Decides one request of `key` at `now` (seconds since the limiter was made; tests pass
    /// their own times).
    func decide(key: String, policy: RateLimitPolicy, now: Double) -> RateLimitDecision {
        state.withLockedValue { state in
            let tat = state.tats[key]
            let (decision, newTAT) = GCRA.decide(tat: tat, now: now, policy: policy)
            guard let newTAT else { return decision }
            if tat == nil, state.tats.count >= maxKeys {
                if state.lastSweep.map({ now - $0 >= Self.sweepInterval }) ?? true {
                    state.lastSweep = now
                    state.tats = state.tats.filter { $0.value > now }
                }
                if state.tats.count >= maxKeys {
                    state.untracked += 1
                    return decision
                }
            }
            state.tats[key] = newTAT
            return decision
        }
    }

    /// Gives `key` its full budget back (a login that succeeded clears its account's failures).
    public func forget(key: String) {
        _ = state.withLockedValue { $0.tats.removeValue(forKey: key) }
    }

    private func secondsSinceStart() -> Double {
        let elapsed = origin.duration(to: .now).components
        return Double(elapsed.seconds) + Double(elapsed.attoseconds) * 1e-18
    }
}
