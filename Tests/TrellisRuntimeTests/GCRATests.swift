import Testing

@testable import TrellisRuntime

/// Drives one key through ``GCRA/decide(tat:now:policy:)`` the way a limiter does: the new TAT
/// is kept when allowed, the old one when refused.
private struct Key {
    var tat: Double?
    let policy: RateLimitPolicy

    init(_ policy: RateLimitPolicy) { self.policy = policy }

    mutating func request(at now: Double) -> RateLimitDecision {
        let (decision, newTAT) = GCRA.decide(tat: tat, now: now, policy: policy)
        #expect((newTAT != nil) == decision.allowed)
        if let newTAT { tat = newTAT }
        return decision
    }

    /// Allowed requests at `now` until the first refusal (at most 10,000).
    mutating func drain(at now: Double) -> (allowed: Int, refusal: RateLimitDecision) {
        var allowed = 0
        while true {
            let decision = request(at: now)
            if !decision.allowed || allowed >= 10_000 { return (allowed, decision) }
            allowed += 1
        }
    }
}

@Suite("GCRA: the rate-limit decision, without I/O")
struct GCRATests {
    @Test("a fresh key gets exactly burst requests at one instant, counting remaining down to 0, then a refusal with the right Retry-After")
    func exactBurst() {
        var key = Key(RateLimitPolicy(perMinute: 60, burst: 5))
        let decisions = (0..<5).map { _ in key.request(at: 1_000) }
        #expect(decisions.map(\.allowed) == [true, true, true, true, true])
        #expect(decisions.map(\.limit) == [5, 5, 5, 5, 5])
        #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0])
        #expect(decisions.map(\.resetSeconds) == [1, 2, 3, 4, 5])
        #expect(decisions.allSatisfy { $0.retryAfterSeconds == nil })
        let refused = key.request(at: 1_000)
        #expect(refused == RateLimitDecision(allowed: false, limit: 5, remaining: 0, resetSeconds: 5, retryAfterSeconds: 1))
    }

    @Test("burst at once, for policies whose interval is not a whole number of seconds", arguments: [
        (1, 1), (1, 3), (7, 3), (13, 4), (60, 1), (100, 7), (1_000, 20), (59, 59), (6_000, 100),
    ])
    func burstForManyPolicies(perMinute: Int, burst: Int) {
        var key = Key(RateLimitPolicy(perMinute: perMinute, burst: burst))
        let (allowed, refusal) = key.drain(at: 12_345.678)
        #expect(allowed == burst)
        let interval = 60_000_000 / perMinute  // T in whole microseconds
        #expect(refusal.retryAfterSeconds == (interval + 999_999) / 1_000_000)
        #expect(refusal.resetSeconds == (interval * burst + 999_999) / 1_000_000)
        #expect(refusal.remaining == 0)
    }

    @Test("after one interval exactly one more request is allowed, and the refusal before it says how long to wait")
    func oneMorePerInterval() {
        var key = Key(RateLimitPolicy(perMinute: 60, burst: 5))
        #expect(key.drain(at: 0).allowed == 5)
        let early = key.request(at: 0.25)
        #expect(!early.allowed)
        #expect(early.retryAfterSeconds == 1)  // 0.75 s, rounded up
        #expect(key.request(at: 0.999_999).allowed == false)
        let next = key.request(at: 1)
        #expect(next == RateLimitDecision(allowed: true, limit: 5, remaining: 0, resetSeconds: 5, retryAfterSeconds: nil))
        #expect(key.request(at: 1).allowed == false)
        for second in 2...20 {
            #expect(key.drain(at: Double(second)).allowed == 1, "at \(second) s")
        }
    }

    @Test("a slow rate: one every 12 s, Retry-After and reset in whole seconds rounded up")
    func slowRate() {
        var key = Key(RateLimitPolicy(perMinute: 5, burst: 2))
        #expect(key.request(at: 100).remaining == 1)
        #expect(key.request(at: 100).remaining == 0)
        let refused = key.request(at: 100.5)
        #expect(refused.retryAfterSeconds == 12)  // 11.5 s
        #expect(refused.resetSeconds == 24)  // 23.5 s
        #expect(key.request(at: 111.9).allowed == false)
        let allowed = key.request(at: 112)
        #expect(allowed.allowed)
        #expect(allowed.remaining == 0)
        #expect(allowed.resetSeconds == 24)
    }

    @Test("remaining refills one per interval while the key rests, up to the burst")
    func refill() {
        var key = Key(RateLimitPolicy(perMinute: 60, burst: 5))
        #expect(key.drain(at: 0).allowed == 5)  // TAT = 5
        #expect(key.request(at: 3).remaining == 2)  // TAT 6: 3 s ahead of schedule, 2 more fit
        #expect(key.request(at: 3).remaining == 1)
    }

    @Test("a long idle period restores the full burst, never more", arguments: [5.0, 6.0, 60.0, 3_600.0, 86_400.0 * 365])
    func idleRestoresBurstOnly(idle: Double) {
        var key = Key(RateLimitPolicy(perMinute: 60, burst: 5))
        #expect(key.drain(at: 0).allowed == 5)
        let now = 5 + idle
        let first = key.request(at: now)
        #expect(first.remaining == 4)
        #expect(first.resetSeconds == 1)
        #expect(key.drain(at: now).allowed == 4)
    }

    @Test("a refusal leaves the state unchanged, so hammering never pushes the next allowance back")
    func refusalsDoNotCount() {
        var key = Key(RateLimitPolicy(perMinute: 60, burst: 1))
        #expect(key.request(at: 0).allowed)
        for step in 1..<100 { #expect(!key.request(at: Double(step) / 100).allowed) }
        #expect(key.request(at: 1).allowed)
    }

    @Test("values below 1 are taken as 1; huge ones are clamped and still decide", arguments: [
        (0, 0), (-5, -1), (1, 0), (0, 3),
    ])
    func degeneratePolicies(perMinute: Int, burst: Int) {
        var key = Key(RateLimitPolicy(perMinute: perMinute, burst: burst))
        let (allowed, refusal) = key.drain(at: 0)
        #expect(allowed == max(burst, 1))
        #expect(refusal.limit == max(burst, 1))
        #expect(refusal.retryAfterSeconds == 60)
    }

    @Test("a policy beyond the clamps still allows a bounded burst")
    func clampedPolicy() {
        let parameters = GCRA.Parameters(RateLimitPolicy(perMinute: .max, burst: .max))
        #expect(parameters.emission == 1)
        #expect(parameters.burst == 1_000_000)
        #expect(parameters.tolerance == 1_000_000)
    }

    @Test("the integer core: times in microseconds, the state the Redis script stores")
    func integerCore() {
        let parameters = GCRA.Parameters(RateLimitPolicy(perMinute: 7, burst: 3))
        #expect(parameters.emission == 8_571_428)
        #expect(parameters.tolerance == 25_714_284)
        let first = GCRA.decide(tat: nil, now: 1_000_000, parameters)
        #expect(first == GCRA.Outcome(allowed: true, remaining: 2, reset: 8_571_428, retryAfter: 0, newTAT: 9_571_428))
        let second = GCRA.decide(tat: 9_571_428, now: 1_000_000, parameters)
        #expect(second.remaining == 1)
        let refused = GCRA.decide(tat: 26_714_284, now: 1_000_000, parameters)
        #expect(refused == GCRA.Outcome(allowed: false, remaining: 0, reset: 25_714_284, retryAfter: 8_571_428, newTAT: nil))
        #expect(RateLimitDecision(refused, limit: 3, unitsPerSecond: 1_000_000).retryAfterSeconds == 9)
    }

    @Test("seconds round-trip through whole microseconds: a key that keeps exactly to its rate never drifts")
    func microsecondRoundTrip() {
        var key = Key(RateLimitPolicy(perMinute: 7, burst: 3))
        for index in 0..<2_000 {
            // One request every T = 8.571428 s (whole microseconds), each on schedule: the TAT
            // stored by the one before equals now, so exactly 2 more always fit.
            let decision = key.request(at: 1_000.5 + Double(index) * 8.571_428)
            #expect(decision.allowed)
            #expect(decision.remaining == 2)
        }
    }
}

extension GCRATests {
    /// Nested in ``GCRATests`` so that `--filter GCRATests` runs it too.
    @Suite("LocalRateLimiter: GCRA in process, bounded")
    struct LocalRateLimiterTests {
        let policy = RateLimitPolicy(perMinute: 60, burst: 5)

        @Test("the same decisions as GCRA: 5 at once, then a refusal; keys are independent")
        func sameDecisions() {
            let limiter = LocalRateLimiter()
            let decisions = (0..<6).map { _ in limiter.decide(key: "a", policy: policy, now: 10) }
            #expect(decisions.map(\.allowed) == [true, true, true, true, true, false])
            #expect(decisions.map(\.remaining) == [4, 3, 2, 1, 0, 0])
            #expect(decisions.last?.retryAfterSeconds == 1)
            #expect(limiter.decide(key: "b", policy: policy, now: 10).remaining == 4)
            #expect(limiter.decide(key: "a", policy: policy, now: 11).allowed)
            #expect(limiter.trackedKeys == 2)
        }

        @Test("the real clock: a burst at once from a fresh limiter")
        func realClock() {
            let limiter = LocalRateLimiter()
            let allowed = (0..<6).map { _ in limiter.decide(key: "k", policy: RateLimitPolicy(perMinute: 1, burst: 5)).allowed }
            #expect(allowed == [true, true, true, true, true, false])
        }

        @Test("a full table drops keys whose TAT has passed, then tracks the new key")
        func fullTableSweepsExpiredKeys() {
            let limiter = LocalRateLimiter(maxKeys: 3)
            for key in ["a", "b", "c"] { _ = limiter.decide(key: key, policy: policy, now: 0) }  // TAT 1 each
            _ = limiter.decide(key: "c", policy: policy, now: 0.5)  // TAT 2
            #expect(limiter.decide(key: "d", policy: policy, now: 1.5).allowed)
            #expect(limiter.trackedKeys == 2)  // c and d
            #expect(limiter.untrackedDecisions == 0)
            // c kept its TAT (2): now 3, 1.5 s ahead with 5 s of tolerance, so 3 more fit.
            #expect(limiter.decide(key: "c", policy: policy, now: 1.5).remaining == 3)
        }

        @Test("a table full of live keys allows new keys without tracking them, and never grows")
        func fullTableAllowsUntracked() {
            let limiter = LocalRateLimiter(maxKeys: 100)
            for index in 0..<100 { _ = limiter.decide(key: "k\(index)", policy: policy, now: 0) }
            for index in 0..<1_000 {
                let decision = limiter.decide(key: "new\(index)", policy: policy, now: 0.5)
                #expect(decision.allowed)
                #expect(decision.remaining == 4)
            }
            #expect(limiter.trackedKeys == 100)
            #expect(limiter.untrackedDecisions == 1_000)
            // Tracked keys are still limited.
            #expect((0..<10).filter { _ in limiter.decide(key: "k0", policy: policy, now: 0.5).allowed }.count == 4)
            // Once their TATs pass (and a second since the last sweep), new keys are tracked again.
            _ = limiter.decide(key: "late", policy: policy, now: 100)
            #expect(limiter.trackedKeys == 1)
        }
    }
}
