import Foundation
import TrellisRedis

/// A logged-in session as the API shows it (never its secret, except once at login).
public struct Session: Sendable, Hashable {
    public var id: UUID
    public var userID: UUID
    public var workspaceID: UUID
    public var scopes: ScopeSet
    public var createdAt: Date
    /// The latest the session can live, however busy it is.
    public var expiresAt: Date
    /// Seconds without a request after which the session ends.
    public var idleTimeout: Int

    /// The identity a request with this session acts as: the user, so that audit entries
    /// and rate-limit budgets belong to the person, whichever of their sessions they use.
    var identity: Identity {
        Identity(workspaceID: workspaceID, kind: .user, credentialID: userID.lowercasedString, scopes: scopes)
    }

    /// What Redis holds: `v1 <user> <secret hash hex> <created ms> <expires ms> <scope>…`,
    /// space-separated (no scope contains a space).
    func stored(secretHash: [UInt8]) -> String {
        (["v1", userID.lowercasedString, secretHash.hexString, String(createdAt.unixMilliseconds), String(expiresAt.unixMilliseconds)]
            + scopes.sorted).joined(separator: " ")
    }

    /// Parses ``stored(secretHash:)``: the session and the stored secret hash (hex); nil for
    /// anything else.
    static func parse(stored text: String, token: SessionToken, idleTimeout: Int) -> (session: Session, secretHash: Substring)? {
        let parts = text.split(separator: " ")
        guard parts.count >= 5, parts[0] == "v1", let user = UUID(uuidString: String(parts[1])), parts[2].utf8.count == 64,
            let created = Int64(parts[3]), let expires = Int64(parts[4])
        else { return nil }
        let session = Session(
            id: token.id, userID: user, workspaceID: token.workspaceID, scopes: ScopeSet(parts.dropFirst(5).map(String.init)),
            createdAt: Date(unixMilliseconds: created), expiresAt: Date(unixMilliseconds: expires), idleTimeout: idleTimeout)
        return (session, parts[2])
    }

    init(id: UUID, userID: UUID, workspaceID: UUID, scopes: ScopeSet, createdAt: Date, expiresAt: Date, idleTimeout: Int) {
        self.id = id
        self.userID = userID
        self.workspaceID = workspaceID
        self.scopes = scopes
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.idleTimeout = idleTimeout
    }
}

/// Sessions in Redis, shared by every instance: `{workspace}:s:<id>` holds the session
/// (``Session/stored(secretHash:)``) with a sliding TTL of ``idleTimeout`` that every use
/// renews (`GETEX … EX`), up to ``maxLifetime`` after login. Logout deletes the key, so every
/// instance refuses the token from its next request on: nothing about a session is cached
/// in process.
///
/// While Redis cannot answer, no session can be made, used or ended: those requests are 503
/// with `Retry-After`, never a 401 that would log the user out.
public struct SessionStore: Sendable {
    public let redis: RedisClient
    /// Seconds without a request after which a session ends (`TRELLIS_SESSION_IDLE_TIMEOUT`).
    public let idleTimeout: Int
    /// Seconds after login after which a session ends, however busy (`TRELLIS_SESSION_MAX_LIFETIME`).
    public let maxLifetime: Int
    /// Bounds each Redis command of a session.
    public let commandTimeout: Duration

    public init(redis: RedisClient, idleTimeout: Int = 3_600, maxLifetime: Int = 86_400, commandTimeout: Duration = .seconds(2)) {
        self.redis = redis
        self.idleTimeout = max(idleTimeout, 1)
        self.maxLifetime = max(maxLifetime, 1)
        self.commandTimeout = commandTimeout
    }

    /// A new session for `user` holding `scopes`; the token's secret is only in the result.
    public func create(user: Users.Verifier, scopes: ScopeSet) async throws -> (token: SessionToken, session: Session) {
        let token = SessionToken.generate(workspace: user.workspaceID)
        let now = Date()
        let session = Session(
            id: token.id, userID: user.id, workspaceID: user.workspaceID, scopes: scopes, createdAt: now,
            expiresAt: now.addingTimeInterval(Double(maxLifetime)), idleTimeout: idleTimeout)
        try await unavailableAsProblem {
            _ = try await redis.send(
                ["SET", .string(token.redisKey), .string(session.stored(secretHash: token.secretHash)), "EX", .integer(Int64(min(idleTimeout, maxLifetime)))],
                timeout: commandTimeout)
        }
        return (token, session)
    }

    /// The session `token` names, its idle timer renewed.
    /// - Throws: ``AuthenticationFailure`` (`unknown_key`, `invalid_secret`, `expired`) for a
    ///   token that is not, or no longer, a session; 503 when Redis cannot answer.
    public func authenticate(_ token: SessionToken) async throws -> Session {
        let reply = try await unavailableAsProblem {
            try await redis.send(["GETEX", .string(token.redisKey), "EX", .integer(Int64(idleTimeout))], timeout: commandTimeout)
        }
        return try verified(reply, token)
    }

    /// The session `token` names without renewing it; the same refusals as ``authenticate(_:)``.
    public func describe(_ token: SessionToken) async throws -> Session {
        let reply = try await unavailableAsProblem { try await redis.send(["GET", .string(token.redisKey)], timeout: commandTimeout) }
        return try verified(reply, token)
    }

    /// Ends `session`, which ``describe(_:)`` or ``authenticate(_:)`` verified against its token,
    /// on every instance at once; false when it had ended meanwhile.
    public func end(_ session: Session) async throws -> Bool {
        let key = SessionToken.redisKey(workspace: session.workspaceID, id: session.id)
        let deleted = try await unavailableAsProblem { try await redis.send(["DEL", .string(key)], timeout: commandTimeout) }
        return deleted.int == 1
    }

    private func verified(_ reply: RedisValue, _ token: SessionToken) throws -> Session {
        guard let text = reply.string else {
            throw AuthenticationFailure(.unknownKey, "no such session: it ended (logout, idle timeout) or never existed")
        }
        guard let (session, stored) = Session.parse(stored: text, token: token, idleTimeout: idleTimeout) else {
            throw AuthenticationFailure(.unknownKey, "no such session")
        }
        guard constantTimeEquals(Array(token.secretHash.hexString.utf8), Array(stored.utf8)) else {
            throw AuthenticationFailure(.invalidSecret, "the session's secret is wrong")
        }
        guard session.expiresAt > Date() else {
            throw AuthenticationFailure(.expired, "the session reached its maximum lifetime at \(RFC3339.format(session.expiresAt))")
        }
        return session
    }

    private func unavailableAsProblem<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RedisError {
            _ = error
            throw Problem.serviceUnavailable("Sessions are kept in Redis, which did not answer; try again shortly")
        }
    }
}

extension [UInt8] {
    /// Lowercase hex, two digits a byte.
    var hexString: String {
        String(unsafeUninitializedCapacity: count * 2) { buffer in
            for (index, byte) in enumerated() {
                ASCIIDigits.hex(UInt64(byte), digits: 2, into: buffer, at: index * 2)
            }
            return count * 2
        }
    }
}

extension Date {
    /// Whole milliseconds since 1970.
    var unixMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1_000).rounded(.down)) }

    init(unixMilliseconds milliseconds: Int64) {
        self.init(timeIntervalSince1970: Double(milliseconds) / 1_000)
    }
}
