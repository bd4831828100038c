/// The answer to one rate-limit check, with what the `RateLimit-*` and `Retry-After` headers
/// report. Times are whole seconds, rounded up, so a client that waits them is never early.
public struct RateLimitDecision: Sendable, Equatable {
    /// Whether the request may proceed (and was counted).
    public var allowed: Bool
    /// The policy's burst: the most requests a key can make at once.
    public var limit: Int
    /// Requests the key may make right now after this one (0 when refused); never negative.
    public var remaining: Int
    /// Seconds until the key has its full burst again.
    public var resetSeconds: Int
    /// When refused: seconds (at least 1) until one request is allowed; nil when allowed.
    public var retryAfterSeconds: Int?

    public init(allowed: Bool, limit: Int, remaining: Int, resetSeconds: Int, retryAfterSeconds: Int?) {
        self.allowed = allowed
        self.limit = limit
        self.remaining = remaining
        self.resetSeconds = resetSeconds
        self.retryAfterSeconds = retryAfterSeconds
    }
}
