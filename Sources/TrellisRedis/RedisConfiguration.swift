/// Where Redis is and how the client treats it. Every default is set here, in one place.
///
/// | setting | default | why |
/// |---|---|---|
/// | ``poolSize`` | 4 connections | commands are pipelined, so a few connections keep a 2-core box busy |
/// | ``connectTimeout`` | 1 s | loopback or LAN; a slower connect means Redis is down |
/// | ``commandTimeout`` | 1 s | a cache or rate-limit call that takes longer is worth less than failing |
/// | ``reconnectBackoff`` | 50 ms, ×2, cap 2 s, up to 20% jitter | back within ~2 s of a restart, without a thundering herd |
/// | ``maxPendingCommands`` | 1,024 per connection | beyond it a command fails with ``RedisError/overloaded`` instead of queueing |
/// | ``subscriberBufferSize`` | 1,024 events | a slow pub/sub consumer loses the oldest events, and is told |
/// | ``subscriberPingInterval`` | 5 s | a silent dead pub/sub connection is found within interval + command timeout |
public struct RedisConfiguration: Sendable, Hashable {
    /// Host name or IP address of the server.
    public var host: String
    /// TCP port of the server (Redis's default is 6379).
    public var port: Int
    /// ACL user name (`AUTH user password`); nil sends `AUTH password` (the `default` user).
    public var username: String?
    /// Sent with `AUTH` right after connecting; nil sends no `AUTH`. Never logged or described.
    public var password: String?
    /// Selected with `SELECT` right after connecting when it is not 0.
    public var database: Int
    /// TLS on every connection (`rediss://`); nil: plain TCP, for a private network only.
    public var tls: RedisTLS?

    /// Connections in the ``RedisClient`` pool (the ``RedisSubscriber`` has its own).
    public var poolSize: Int = 4
    /// How long a TCP connect, plus `AUTH`/`SELECT`, may take.
    public var connectTimeout: Duration = .seconds(1)
    /// How long a command may wait for its reply unless the call passes its own timeout.
    public var commandTimeout: Duration = .seconds(1)
    /// The wait between attempts to reopen a lost connection.
    public var reconnectBackoff: RedisBackoff = .init()
    /// Commands (a pipeline counts as one) in flight on one connection before new ones fail with
    /// ``RedisError/overloaded``.
    public var maxPendingCommands: Int = 1024
    /// Events the subscriber holds for a slow consumer before it drops the oldest.
    public var subscriberBufferSize: Int = 1024
    /// How often the subscriber pings its connection to find a silent dead one.
    public var subscriberPingInterval: Duration = .seconds(5)

    /// A configuration with every other setting at its default; ``init(url:)`` reads `REDIS_URL`.
    public init(host: String = "127.0.0.1", port: Int = 6379, username: String? = nil, password: String? = nil, database: Int = 0) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
    }
}

extension RedisConfiguration: CustomStringConvertible {
    /// The configuration as a URL with the password masked: safe to log.
    public var description: String {
        var userInfo = ""
        if password != nil { userInfo = "\(username ?? ""):***@" }
        let host = self.host.contains(":") ? "[\(self.host)]" : self.host
        return "\(tls == nil ? "redis" : "rediss")://\(userInfo)\(host):\(port)/\(database)"
    }
}

/// How a `rediss://` connection checks the server: what a managed Redis (ElastiCache with
/// in-transit encryption, Azure Cache, Upstash, Redis Cloud) needs.
public struct RedisTLS: Sendable, Hashable {
    /// Whether the server's certificate is checked (`ssl_cert_reqs` in the URL).
    public enum Verification: Sendable, Hashable {
        /// The certificate chain up to a trusted root and the host name (`required`, the default).
        case full
        /// Nothing: encrypted, but open to anyone on the path (`none`). For a server whose
        /// certificate cannot be checked at all; never the default.
        case none
    }

    public var verification: Verification
    /// A PEM file of the roots to trust (`ssl_ca_certs`), for a provider's own CA; nil: the
    /// system's roots.
    public var caFile: String?

    public init(verification: Verification = .full, caFile: String? = nil) {
        self.verification = verification
        self.caFile = caFile
    }
}

/// Exponential backoff with jitter between reconnect attempts.
///
/// Attempt n (from 0) waits `min(initial × multiplierⁿ, maximum)`, shortened by a random part of up
/// to `jitter` of itself so that many clients do not reconnect in step.
public struct RedisBackoff: Sendable, Hashable {
    /// The wait before the first retry.
    public var initial: Duration
    /// How much each wait grows over the one before.
    public var multiplier: Double
    /// The longest wait.
    public var maximum: Duration
    /// Fraction (0…1) of each delay that is random.
    public var jitter: Double

    public init(initial: Duration = .milliseconds(50), multiplier: Double = 2, maximum: Duration = .seconds(2), jitter: Double = 0.2) {
        self.initial = initial
        self.multiplier = multiplier
        self.maximum = maximum
        self.jitter = jitter
    }

    /// The wait before attempt `attempt` (0 is the first retry).
    public func delay(attempt: Int) -> Duration {
        var uncapped = initial.seconds
        for _ in 0..<max(attempt, 0) where uncapped < maximum.seconds { uncapped *= multiplier }
        let capped = min(uncapped, maximum.seconds)
        let randomPart = capped * min(max(jitter, 0), 1) * Double.random(in: 0...1)
        return .nanoseconds(Int64((capped - randomPart) * 1e9))
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
