import Crypto
import Foundation
import Logging
import PostgresNIO
import TrellisTracing
import TrellisContract

/// How many login attempts are allowed: per client address and per account (the email
/// asked for, whether or not it names a user). `PER_MINUTE/BURST` in
/// `TRELLIS_LOGIN_RATE_LIMIT_ADDRESS` and `TRELLIS_LOGIN_RATE_LIMIT_ACCOUNT`.
public struct LoginLimits: Sendable, Hashable {
    /// Attempts from one address: 20 at once, then 10 a minute.
    public var perAddress: RateLimitPolicy
    /// Attempts on one account: 5 at once, then 2 a minute; a successful login restores them.
    public var perAccount: RateLimitPolicy

    public init(
        perAddress: RateLimitPolicy = RateLimitPolicy(perMinute: 10, burst: 20),
        perAccount: RateLimitPolicy = RateLimitPolicy(perMinute: 2, burst: 5)
    ) {
        self.perAddress = perAddress
        self.perAccount = perAccount
    }
}

/// Email and password for a session (`POST /v1/auth/login`), and its end (`POST /v1/auth/logout`).
///
/// Every attempt spends one unit of its address's budget and one of its account's, both
/// decided before the password is hashed, so a brute-force run is refused (429 with
/// `Retry-After`) without costing a scrypt derivation; a successful login gives its account
/// its budget back. An unknown email, a disabled account and a wrong password answer alike
/// and take as long (one derivation each), so the answer says nothing about which accounts exist.
public struct LoginService: Sendable {
    /// Nil when the server has no Redis: then login is a 503 that says so.
    public let sessions: SessionStore?
    public let hasher: PasswordHasher
    public let limiter: RateLimiter
    public let limits: LoginLimits

    public init(sessions: SessionStore?, hasher: PasswordHasher, limiter: RateLimiter, limits: LoginLimits = LoginLimits()) {
        self.sessions = sessions
        self.hasher = hasher
        self.limiter = limiter
        self.limits = limits
    }

    /// A login attempt as the client sent it.
    public struct Attempt: Sendable {
        public var email: String
        public var password: String
        /// Narrows the session to these scopes (each one the user holds); nil: all the user's.
        public var scopes: ScopeSet?

        public init(email: String, password: String, scopes: ScopeSet?) {
            self.email = email
            self.password = password
            self.scopes = scopes
        }
    }

    /// A new session and its token.
    public struct Outcome: Sendable {
        public var token: SessionToken
        public var session: Session
    }

    static let wrongCredentials = "The email or password is wrong"
    static let noSessions = "Sessions are kept in Redis, and this server runs without one (REDIS_URL)"

    /// Spends one unit of `address`'s login budget; the decision goes into the answer's
    /// `RateLimit-*` headers, and a refusal is the answer (429).
    public func admit(address: String) async -> RateLimitDecision {
        await limiter.decide(workspace: "anon", subject: "ip:" + address, bucket: "login", policy: limits.perAddress)
    }

    /// Logs in (the address admitted by ``admit(address:)``), or throws the problem to answer with.
    public func login(_ attempt: Attempt, services: TrellisServices, origin: RequestOrigin, logger: Logger) async throws -> Outcome {
        try await Traced.call("sessions", "login") {
            guard let sessions else { throw Problem.serviceUnavailable(Self.noSessions) }
            let account = Self.accountBudget(attempt.email)
            let accountDecision = await limiter.decide(workspace: account, subject: "account", bucket: "login", policy: limits.perAccount)
            guard accountDecision.allowed else {
                throw Problem.rateLimited(retryAfter: accountDecision.retryAfterSeconds ?? 1, limit: limits.perAccount)
            }
            let user = try await Users.verifier(
                email: attempt.email, on: services.postgres, leaseTimeout: services.timeouts.poolLease, logger: logger)
            let matches: Bool
            do {
                if let user {
                    matches = try await hasher.verify(attempt.password, against: user.passwordHash)
                } else {
                    try await hasher.verifyNothing(attempt.password)
                    matches = false
                }
            } catch is PasswordHasher.Busy {
                throw Problem.serviceUnavailable("Too many logins are being checked at once; try again shortly")
            }
            guard let user, matches, !user.disabled else {
                throw Problem.unauthenticated(Self.wrongCredentials, challenge: "Bearer")
            }
            let scopes = attempt.scopes ?? user.scopes
            let uncovered = user.scopes.uncovered(scopes)
            guard uncovered.isEmpty else {
                throw Problem.insufficientScope(
                    "A session can only hold scopes its user holds; this user does not hold \(uncovered.map { "'\($0)'" }.joined(separator: ", "))",
                    scope: uncovered.joined(separator: " "))
            }
            let created = try await sessions.create(user: user, scopes: scopes)
            await limiter.forget(workspace: account, subject: "account", bucket: "login")
            await audit("session.created", created.session, services: services, origin: origin, logger: logger)
            return Outcome(token: created.token, session: created.session)
        }
    }

    /// Ends the session `token` names on every instance at once.
    public func logout(_ token: SessionToken, services: TrellisServices, origin: RequestOrigin, logger: Logger) async throws {
        try await Traced.call("sessions", "logout") {
            guard let sessions else { throw Problem.serviceUnavailable(Self.noSessions) }
            let session = try await sessions.describe(token)
            if try await sessions.end(session) {
                await audit("session.ended", session, services: services, origin: origin, logger: logger)
            }
        }
    }

    /// The hash tag of an account's login budget: its normalised email's SHA-256 (never the
    /// email itself in Redis), so accounts spread over a cluster's slots.
    static func accountBudget(_ email: String) -> String {
        "login-" + SHA256.hexPrefix(of: Array(Users.normalizedEmail(email).utf8))
    }

    /// `session.created` / `session.ended` in the user's workspace's audit chain. Best effort:
    /// the session exists (or is gone) either way, and the failure is logged.
    private func audit(_ action: String, _ session: Session, services: TrellisServices, origin: RequestOrigin, logger: Logger) async {
        do {
            try await TenantTransaction.run(
                on: services.postgres, identity: session.identity, origin: origin, logger: logger,
                leaseTimeout: services.timeouts.poolLease
            ) { tx in
                let image = JSONValue.object(JSONObject([
                    "session_id": .string(session.id.lowercasedString),
                    "scopes": .array(session.scopes.sorted.map(JSONValue.string)),
                    "expires_at": .string(RFC3339.format(session.expiresAt)),
                ]))
                try await AuditLog.record(
                    AuditEntry(action: action, resource: "sessions", resourceID: session.id.lowercasedString, after: image), in: tx)
            }
        } catch {
            logger.warning("could not audit a session change", metadata: ["action": "\(action)", "error": "\(type(of: error))"])
        }
    }
}
