import Crypto
import Foundation
import PostgresNIO
import TrellisContract

/// Stripe-style idempotency keys (DESIGN.md §5, §5.1), kept per workspace for 24 hours.
///
/// The key is claimed inside the request's own transaction: a concurrent duplicate's claim
/// blocks on the first one's uncommitted row, then replays what it committed, and the
/// stored response commits if and only if the write does. Responses below 500 are stored;
/// a 5xx rolls everything back, so a retry runs again.
public enum IdempotencyKeys {
    public static let retention = "24 hours"

    /// A response as first sent, replayed byte for byte.
    public struct StoredResponse: Sendable, Hashable {
        public var status: Int
        public var location: String?
        public var body: [UInt8]
    }

    public enum Claim: Sendable {
        /// This request owns the key: run the operation and ``store(_:for:in:)`` its response.
        case claimed
        /// An earlier request with the same key and body already answered.
        case replay(StoredResponse)
        /// The key was used with a different request.
        case reused
    }

    /// The fingerprint of a request: method, path and the body re-serialised (so
    /// insignificant whitespace does not make two equal bodies differ).
    public static func fingerprint(method: String, path: String, body: JSONValue) -> [UInt8] {
        var w = JSONWriter()
        w.value(body)
        var hasher = SHA256()
        hasher.update(data: Array("\(method) \(path)\n".utf8))
        hasher.update(data: w.bytes)
        return Array(hasher.finalize())
    }

    /// `Idempotency-Key` must be 1–255 printable ASCII characters.
    public static func validate(_ key: String) throws -> String {
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Problem(
                ProblemCatalogue.invalidIdempotencyKey,
                detail: "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces")
        }
        return key
    }

    public static func claim(_ key: String, fingerprint: [UInt8], in tx: TenantTransaction) async throws -> Claim {
        let workspace = tx.identity.workspaceID
        let fp = Data(fingerprint)
        let claimed = try await tx.connection.rows(
            """
            INSERT INTO idempotency_keys AS k (workspace_id, key, fingerprint, expires_at)
            VALUES (\(workspace), \(key), \(fp), now() + interval '24 hours')
            ON CONFLICT (workspace_id, key) DO UPDATE
                SET fingerprint = EXCLUDED.fingerprint, status = NULL, location = NULL, response_body = NULL,
                    created_at = now(), expires_at = EXCLUDED.expires_at
                WHERE k.expires_at < now()
            RETURNING 1
            """, logger: tx.logger)
        if !claimed.isEmpty { return .claimed }
        let stored = try await tx.connection.rows(
            """
            SELECT fingerprint, status, location, response_body FROM idempotency_keys
            WHERE workspace_id = \(workspace) AND key = \(key)
            """, logger: tx.logger)
        for (storedFingerprint, status, location, body) in try stored.decode((Data, Int?, String?, Data?).self) {
            guard storedFingerprint == fp else { return .reused }
            guard let status, let body else { break }
            return .replay(StoredResponse(status: status, location: location, body: Array(body)))
        }
        // Not reachable while claims and responses commit together; never guess.
        throw Problem.internalError
    }

    public static func store(_ response: StoredResponse, for key: String, in tx: TenantTransaction) async throws {
        try await tx.connection.rows(
            """
            UPDATE idempotency_keys SET status = \(response.status), location = \(response.location),
                response_body = \(Data(response.body))
            WHERE workspace_id = \(tx.identity.workspaceID) AND key = \(key)
            """, logger: tx.logger)
    }

    public static let reusedProblem = Problem(
        ProblemCatalogue.idempotencyKeyReused,
        detail: "This Idempotency-Key was already used with a different request; use a new key for a new request")
}
