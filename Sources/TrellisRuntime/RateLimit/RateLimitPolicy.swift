/// How many requests one rate-limit key may make: `burst` at once, then one every
/// `60 / perMinute` seconds.
///
/// The limiter is a GCRA (generic cell rate algorithm, a "leaky bucket as a meter"): each
/// request is due one emission interval `T = 60 s / perMinute` after the one before, and may
/// come early by up to the tolerance `tau = T × burst`. A fresh key (or one idle for
/// `tau`) may therefore make `burst` requests at the same instant and then one every `T`;
/// idling never earns more than `burst`. See ``GCRA``.
///
/// Values below 1 are treated as 1, `perMinute` above 60,000,000 (one request per µs) as
/// 60,000,000, and `burst` above 1,000,000 as 1,000,000, so the arithmetic stays exact in
/// whole microseconds (in Swift and in Redis's Lua, whose numbers are doubles).
public struct RateLimitPolicy: Sendable, Hashable {
    /// The sustained rate: requests per minute.
    public var perMinute: Int
    /// Requests a fresh key may make at once; also the `limit` a decision reports.
    public var burst: Int

    public init(perMinute: Int, burst: Int) {
        self.perMinute = perMinute
        self.burst = burst
    }

    /// Parses `PER_MINUTE/BURST` (`600/60`) within the limiter's exact range (1–60,000,000
    /// per minute, a burst of 1–1,000,000); nil for anything else. The form of `--rate-limit`
    /// and of the `TRELLIS_LOGIN_RATE_LIMIT_*` settings.
    public init?(spec text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let perMinute = Int(parts[0]), let burst = Int(parts[1]),
            (1...60_000_000).contains(perMinute), (1...1_000_000).contains(burst)
        else { return nil }
        self.init(perMinute: perMinute, burst: burst)
    }

    /// A key's stored limit (`api_keys.rate_limit_per_minute`, `rate_limit_burst`): nil unless both are set.
    init?(storedPerMinute perMinute: Int32?, burst: Int32?) {
        guard let perMinute, let burst else { return nil }
        self.init(perMinute: Int(perMinute), burst: Int(burst))
    }

    /// The lower of two limits, rate and burst each: what a caller bound by both may use.
    func lowest(_ other: RateLimitPolicy) -> RateLimitPolicy {
        RateLimitPolicy(perMinute: min(perMinute, other.perMinute), burst: min(burst, other.burst))
    }
}
