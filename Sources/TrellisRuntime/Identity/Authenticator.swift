import Foundation
import Logging
import PostgresNIO

/// Why a credential was refused. The HTTP boundary turns it into a 401 problem whose
/// detail names the failed check; the credential itself is never repeated.
public struct AuthenticationFailure: Error, Sendable, Hashable {
    public enum Reason: String, Sendable {
        case missingCredential = "missing_credential"
        case malformedToken = "malformed_token"
        case unknownKey = "unknown_key"
        case invalidSecret = "invalid_secret"
        case revoked
        case expired
        case notYetValid = "not_yet_valid"
        case invalidSignature = "invalid_signature"
        case wrongIssuer = "wrong_issuer"
        case wrongAudience = "wrong_audience"
        case missingClaim = "missing_claim"
        case jwtNotConfigured = "jwt_not_configured"
        case sessionsNotConfigured = "sessions_not_configured"
    }

    public var reason: Reason
    public var detail: String
    /// The API key id the caller named, when it parsed: failed attempts are audited in the
    /// workspace that key belongs to.
    public var keyID: UUID?

    public init(_ reason: Reason, _ detail: String, keyID: UUID? = nil) {
        self.reason = reason
        self.detail = detail
        self.keyID = keyID
    }
}

/// Turns an `Authorization: Bearer …` value into an ``Identity``: API keys (`trk_…`) are
/// checked against Postgres through the per-instance ``APIKeyCache``; sessions (`trs_…`)
/// against Redis (``SessionStore``), on every request; anything shaped like a JWT goes to the
/// ``JWTAuthenticator`` when one is configured.
public struct Authenticator: Sendable {
    let postgres: PostgresClient
    public let keyCache: APIKeyCache
    let jwt: JWTAuthenticator?
    /// Where sessions live; nil (no Redis): a session token is refused as `sessions_not_configured`.
    public var sessions: SessionStore?
    /// Bounds the wait for a pooled connection to look a key up (``Timeouts/poolLease``).
    let leaseTimeout: Duration?
    /// At most one audit row per failing source per window.
    public let failures = FailedAuthenticationLog()

    public init(
        postgres: PostgresClient, keyCache: APIKeyCache = APIKeyCache(), jwt: JWTAuthenticator? = nil, leaseTimeout: Duration? = nil
    ) {
        self.postgres = postgres
        self.keyCache = keyCache
        self.jwt = jwt
        self.leaseTimeout = leaseTimeout
    }

    public func authenticate(bearer token: Substring, logger: Logger) async throws -> Identity {
        if token.hasPrefix(APIKeyToken.prefix) {
            guard let key = APIKeyToken(parsing: token) else {
                throw AuthenticationFailure(.malformedToken, "the API key is not of the form trk_<id>_<secret>")
            }
            return try await authenticate(key, logger: logger)
        }
        if token.hasPrefix(SessionToken.prefix) {
            guard let session = SessionToken(parsing: token) else {
                throw AuthenticationFailure(.malformedToken, "the session token is not of the form trs_<workspace>_<id>_<secret>")
            }
            guard let sessions else {
                throw AuthenticationFailure(.sessionsNotConfigured, "this server keeps no sessions (no REDIS_URL)")
            }
            return try await sessions.authenticate(session).identity
        }
        guard JWTAuthenticator.looksLikeJWT(token) else {
            throw AuthenticationFailure(.malformedToken, "the bearer token is neither an API key (trk_…), a session (trs_…) nor a JWT")
        }
        guard let jwt else {
            throw AuthenticationFailure(.jwtNotConfigured, "this server accepts no JWTs (no TRELLIS_JWT_SECRET or TRELLIS_JWKS_FILE)")
        }
        return try await jwt.authenticate(token)
    }

    func authenticate(_ key: APIKeyToken, logger: Logger) async throws -> Identity {
        let now = Date()
        let entry: APIKeyCache.Entry
        if let cached = keyCache.trustedEntry(key.id) {
            entry = cached
        } else {
            if keyCache.isKnownUnknown(key.id) {
                throw AuthenticationFailure(.unknownKey, "no API key with this id exists")
            }
            let generation = keyCache.generation
            let found = try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
                try await connection.rows(
                    """
                    SELECT workspace_id, secret_hash, scopes, expires_at, revoked_at, rate_limit_per_minute, rate_limit_burst
                    FROM trellis_api_key_verifier(\(key.id))
                    """,
                    logger: logger
                ).decode((UUID, Data, [String], Date?, Date?, Int32?, Int32?).self).last
            }
            guard let (workspace, hash, scopes, expiresAt, revokedAt, perMinute, burst) = found else {
                keyCache.rememberUnknown(key.id, lookedUpAt: generation)
                throw AuthenticationFailure(.unknownKey, "no API key with this id exists")
            }
            if revokedAt != nil {
                throw AuthenticationFailure(.revoked, "the API key has been revoked", keyID: key.id)
            }
            entry = .init(
                workspaceID: workspace, secretHash: Array(hash), scopes: ScopeSet(scopes), expiresAt: expiresAt,
                rateLimit: RateLimitPolicy(storedPerMinute: perMinute, burst: burst), loadedAt: .now)
            keyCache.insert(key.id, entry, lookedUpAt: generation)
        }
        guard constantTimeEquals(key.secretHash, entry.secretHash) else {
            throw AuthenticationFailure(.invalidSecret, "the API key's secret is wrong", keyID: key.id)
        }
        if let expiresAt = entry.expiresAt, expiresAt <= now {
            throw AuthenticationFailure(.expired, "the API key expired at \(RFC3339.format(expiresAt))", keyID: key.id)
        }
        keyCache.recordUse(key.id)
        return Identity(
            workspaceID: entry.workspaceID, kind: .apiKey, credentialID: key.id.lowercasedString, scopes: entry.scopes,
            rateLimit: entry.rateLimit)
    }

    /// Whether `token` would still be accepted now, for work that outlives its request's check
    /// (an event stream). Only a refusal of the credential is a no: if the check itself cannot be
    /// made (a store down), the answer is yes, and the stream's own reads fail instead.
    public func accepts(bearer token: String, logger: Logger) async -> Bool {
        do {
            _ = try await authenticate(bearer: token[...], logger: logger)
            return true
        } catch is AuthenticationFailure {
            return false
        } catch {
            return true
        }
    }

    /// Writes the failed attempt to the audit log (the key's workspace when it named a real
    /// key, the platform chain otherwise) — unless its source (key id, or else client IP)
    /// already has a row in this window, in which case it is only counted
    /// (``FailedAuthenticationLog``). Never fails the request: the 401 matters more.
    func recordFailure(_ failure: AuthenticationFailure, origin: RequestOrigin, logger: Logger) async {
        let source = FailedAuthenticationLog.Source(keyID: failure.keyID, ip: failure.keyID == nil ? origin.ip : nil)
        let (record, earlier) = failures.admit(source, reason: failure.reason)
        guard record else { return }
        await writeFailure(
            keyID: failure.keyID, reason: failure.reason.rawValue, attempts: earlier + 1,
            ip: origin.ip, userAgent: origin.userAgent, requestID: origin.requestID, logger: logger)
    }

    /// Writes the counts of failures that got no row of their own; called every few seconds.
    public func flushSuppressedFailures(logger: Logger, now: ContinuousClock.Instant = .now) async {
        for suppressed in failures.takeSuppressed(now: now) {
            await writeFailure(
                keyID: suppressed.source.keyID, reason: suppressed.reason, attempts: suppressed.attempts,
                ip: suppressed.source.ip, userAgent: nil, requestID: nil, logger: logger)
        }
    }

    private func writeFailure(
        keyID: UUID?, reason: String, attempts: Int, ip: String?, userAgent: String?, requestID: String?, logger: Logger
    ) async {
        do {
            _ = try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
                try await connection.rows(
                    "SELECT trellis_audit_failed_auth_counted(\(keyID), \(reason), \(attempts), \(ip), \(userAgent), \(requestID))",
                    logger: logger
                ).count
            }
        } catch {
            logger.warning("could not audit a failed authentication", metadata: ["error": "\(String(reflecting: error))"])
        }
    }
}
