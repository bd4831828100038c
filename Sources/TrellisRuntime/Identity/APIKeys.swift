import Foundation
import PostgresNIO
import TrellisTracing
import TrellisContract

/// An API key as the API and CLI show it; the secret appears only in ``APIKeys/Created``.
public struct APIKeyRecord: Sendable, JSONWritable {
    public var id: UUID
    public var workspaceID: UUID
    public var name: String?
    public var scopes: [String]
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    public var lastUsedAt: Date?
    public var rotatedFrom: UUID?
    public var createdBy: String
    /// The key's own rate limit, replacing the schema's and `api.yaml`'s for every bucket it calls.
    public var rateLimit: RateLimitPolicy?

    static let columns = """
        id, workspace_id, name, scopes, created_at, expires_at, revoked_at, last_used_at, rotated_from, created_by, \
        rate_limit_per_minute, rate_limit_burst
        """

    init(row: PostgresRow) throws {
        let perMinute: Int32?
        let burst: Int32?
        (id, workspaceID, name, scopes, createdAt, expiresAt, revokedAt, lastUsedAt, rotatedFrom, createdBy, perMinute, burst) = try row.decode(
            (UUID, UUID, String?, [String], Date, Date?, Date?, Date?, UUID?, String, Int32?, Int32?).self)
        rateLimit = RateLimitPolicy(storedPerMinute: perMinute, burst: burst)
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        writeMembers(to: &w)
        w.endObject()
    }

    func writeMembers(to w: inout JSONWriter) {
        w.key("id"); w.value(id)
        w.key("object"); w.value("api_key")
        w.key("workspace_id"); w.value(workspaceID)
        w.key("name"); if let name { w.value(name) } else { w.null() }
        w.key("scopes"); w.beginArray(); for s in scopes { w.value(s) }; w.endArray()
        w.key("created_at"); w.value(createdAt)
        w.key("expires_at"); if let expiresAt { w.value(expiresAt) } else { w.null() }
        w.key("revoked_at"); if let revokedAt { w.value(revokedAt) } else { w.null() }
        w.key("last_used_at"); if let lastUsedAt { w.value(lastUsedAt) } else { w.null() }
        w.key("rotated_from"); if let rotatedFrom { w.value(rotatedFrom) } else { w.null() }
        w.key("created_by"); w.value(createdBy)
        w.key("rate_limit")
        if let rateLimit {
            w.beginObject()
            w.key("per_minute"); w.value(Int64(rateLimit.perMinute))
            w.key("burst"); w.value(Int64(rateLimit.burst))
            w.endObject()
        } else {
            w.null()
        }
    }

    /// The audit image: everything but the secret (which is never stored anyway).
    var auditImage: JSONValue { AuditLog.image(of: self, redacting: []) }
}

/// API key management, shared by `/v1/api-keys`, `/v1/admin/…` and `trellis keys`. Every
/// call runs in a ``TenantTransaction`` for the key's workspace and writes its audit entry
/// there, so the key and its record commit together.
///
/// The rule (DESIGN.md §6, docs/security.md): a caller creates, sees, rotates or revokes
/// only keys whose scopes its own scopes cover (``ScopeSet/covers(_:)``). A key it does
/// not cover is invisible: not listed, and a 404 by id, with an `api_key.refused` audit
/// entry. Platform-admin keys (exactly `admin`) live only in the platform workspace, and
/// every other key only in a tenant workspace; the database enforces both.
public enum APIKeys {
    /// A new key with its secret: shown once, then only its hash exists.
    public struct Created: Sendable, JSONWritable {
        public var record: APIKeyRecord
        public var token: APIKeyToken

        public func writeJSON(to w: inout JSONWriter) {
            w.beginObject()
            w.key("key"); w.value(token.text)
            record.writeMembers(to: &w)
            w.endObject()
        }
    }

    /// A new key. `rateLimit` is its own limit (nil: the schema's and `api.yaml`'s); a tenant
    /// caller may only set one within what it holds itself: its own key's limit, or else
    /// `ceiling` (the lowest limit the API sets, ``TrellisServices/keyRateLimitCeiling``).
    /// Platform admins and the CLI may set any; a rotation keeps the old key's.
    public static func create(
        name: String?, scopes: ScopeSet, expiresAt: Date?, rateLimit: RateLimitPolicy? = nil, ceiling: RateLimitPolicy? = nil,
        rotatedFrom: UUID? = nil, in tx: TenantTransaction
    ) async throws -> Created {
        try await Traced.call("api_keys", "create") {
            if rotatedFrom == nil, let rateLimit, tx.identity.kind != .cli, !tx.identity.scopes.isPlatformAdmin,
                let held = tx.identity.rateLimit ?? ceiling, rateLimit.perMinute > held.perMinute || rateLimit.burst > held.burst
            {
                throw Problem.validationFailed([FieldProblem(
                    path: "/rate_limit", code: .tooLarge,
                    message: "must not exceed this credential's own limit: at most \(held.perMinute) per minute with a burst of \(held.burst)")])
            }
            let uncovered = tx.identity.scopes.uncovered(scopes)
            if !uncovered.isEmpty {
                try await recordRefusal(operation: "create", keyID: nil, scopes: scopes, in: tx)
                throw RecordedRefusal(.insufficientScope(
                    "A key can only grant scopes its creator holds; this credential does not hold \(uncovered.map { "'\($0)'" }.joined(separator: ", "))",
                    scope: uncovered.joined(separator: " ")))
            }
            let platform = tx.identity.workspaceID == Workspaces.platformID
            if scopes.scopes.contains(ScopeSet.platformAdmin) != platform || (platform && !scopes.isPlatformAdmin) {
                throw Problem.validationFailed([FieldProblem(
                    path: "/scopes", code: .enum,
                    message: platform ? "a platform-admin key has exactly the scope 'admin'"
                        : "'admin' belongs to platform-admin keys, made with POST /v1/admin/api-keys or trellis keys create --admin")])
            }
            let token = APIKeyToken.generate()
            let rows = try await tx.connection.rows(
                """
                INSERT INTO api_keys (id, workspace_id, name, secret_hash, scopes, expires_at, rotated_from, created_by,
                                      rate_limit_per_minute, rate_limit_burst)
                VALUES (\(token.id), \(tx.identity.workspaceID), \(name), \(Data(token.secretHash)), \(scopes.sorted),
                        \(expiresAt), \(rotatedFrom), \(tx.identity.actor),
                        \(rateLimit.map { Int32($0.perMinute) }), \(rateLimit.map { Int32($0.burst) }))
                RETURNING \(unescaped: APIKeyRecord.columns)
                """, logger: tx.logger)
            guard let record = try rows.first.map(APIKeyRecord.init(row:)) else { throw Problem.internalError }
            try await AuditLog.record(
                AuditEntry(action: rotatedFrom == nil ? "api_key.created" : "api_key.rotated", resource: "api-keys",
                           resourceID: record.id.lowercasedString, after: record.auditImage), in: tx)
            return Created(record: record, token: token)
        }
    }

    /// The key, when the caller covers it; otherwise a 404 (audited as a refusal).
    public static func get(_ id: UUID, in tx: TenantTransaction) async throws -> APIKeyRecord {
        try await Traced.call("api_keys", "get") {
            try await visibleKey(id, operation: "get", in: tx)
        }
    }

    /// The keys the caller covers, newest first; `after` is the last id of the previous page.
    public static func list(limit: Int, after: UUID?, in tx: TenantTransaction) async throws -> [APIKeyRecord] {
        try await Traced.call("api_keys", "list") {
            let caller = tx.identity.scopes
            let coversEvery = caller.scopes.contains(ScopeSet.platformAdmin) || caller.scopes.contains(ScopeSet.all)
            let rows = try await tx.connection.rows(
                """
                SELECT \(unescaped: APIKeyRecord.columns) FROM api_keys
                WHERE workspace_id = \(tx.identity.workspaceID) AND (\(after)::uuid IS NULL OR id < \(after))
                  AND (\(coversEvery) OR scopes <@ \(caller.sorted))
                ORDER BY id DESC LIMIT \(limit)
                """, logger: tx.logger)
            return try rows.map(APIKeyRecord.init(row:)).filter { caller.covers(ScopeSet($0.scopes)) }
        }
    }

    /// Revokes at once on this instance and within a second on every other one. Revoking a
    /// revoked key changes nothing and returns it as it is.
    public static func revoke(_ id: UUID, in tx: TenantTransaction) async throws -> APIKeyRecord {
        try await Traced.call("api_keys", "revoke") {
            let before = try await visibleKey(id, operation: "revoke", lock: true, in: tx)
            guard before.revokedAt == nil else { return before }
            let rows = try await tx.connection.rows(
                """
                UPDATE api_keys SET revoked_at = clock_timestamp(), updated_at = clock_timestamp()
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
                RETURNING \(unescaped: APIKeyRecord.columns)
                """, logger: tx.logger)
            guard let record = try rows.first.map(APIKeyRecord.init(row:)) else { throw notFound(id) }
            try await AuditLog.record(
                AuditEntry(action: "api_key.revoked", resource: "api-keys", resourceID: id.lowercasedString,
                           before: before.auditImage, after: record.auditImage), in: tx)
            return record
        }
    }

    /// A new key with the old one's name, scopes and rate limit; the old key keeps working for
    /// `gracePeriod` seconds (never longer than it would have anyway).
    public static func rotate(_ id: UUID, gracePeriod: Int, in tx: TenantTransaction) async throws -> Created {
        try await Traced.call("api_keys", "rotate") {
            let old = try await visibleKey(id, operation: "rotate", lock: true, in: tx)
            guard old.revokedAt == nil, old.expiresAt.map({ $0 > Date() }) ?? true else {
                throw Problem(
                    ProblemCatalogue.keyInactive,
                    detail: "Only an active key can be rotated; this one is revoked or expired")
            }
            _ = try await tx.connection.rows(
                """
                UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), clock_timestamp() + make_interval(secs => \(gracePeriod))),
                    updated_at = clock_timestamp()
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
                """, logger: tx.logger)
            return try await create(
                name: old.name, scopes: ScopeSet(old.scopes), expiresAt: old.expiresAt, rateLimit: old.rateLimit, rotatedFrom: id, in: tx)
        }
    }

    /// The key `id` of the transaction's workspace if the caller covers its scopes. A key
    /// the caller does not cover answers exactly as a missing one, and the attempt is
    /// audited.
    static func visibleKey(_ id: UUID, operation: String, lock: Bool = false, in tx: TenantTransaction) async throws -> APIKeyRecord {
        let rows = try await tx.connection.rows(
            """
            SELECT \(unescaped: APIKeyRecord.columns) FROM api_keys WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
            \(unescaped: lock ? "FOR UPDATE" : "")
            """, logger: tx.logger)
        guard let record = try rows.first.map(APIKeyRecord.init(row:)) else {
            try await recordRefusal(operation: operation, keyID: id, scopes: nil, in: tx)
            throw RecordedRefusal(notFound(id))
        }
        guard tx.identity.scopes.covers(ScopeSet(record.scopes)) else {
            try await recordRefusal(operation: operation, keyID: id, scopes: ScopeSet(record.scopes), in: tx)
            throw RecordedRefusal(notFound(id))
        }
        return record
    }

    /// `api_key.refused`: who tried what on which key (or which scopes), and was refused;
    /// `scopes` is nil when the id names no key of the workspace.
    static func recordRefusal(operation: String, keyID: UUID?, scopes: ScopeSet?, in tx: TenantTransaction) async throws {
        let detail = JSONValue.object(JSONObject([
            "operation": .string(operation),
            "reason": .string(scopes == nil ? "no key with this id in the workspace" : "the caller's scopes do not cover the key's"),
            "caller_scopes": .array(tx.identity.scopes.sorted.map(JSONValue.string)),
            "key_scopes": scopes.map { .array($0.sorted.map(JSONValue.string)) } ?? .null,
        ]))
        try await AuditLog.record(
            AuditEntry(action: "api_key.refused", resource: "api-keys", resourceID: keyID?.lowercasedString ?? "", after: detail),
            in: tx)
    }

    static func notFound(_ id: UUID) -> Problem {
        .notFound("No API key with id \(id.lowercasedString)")
    }
}
