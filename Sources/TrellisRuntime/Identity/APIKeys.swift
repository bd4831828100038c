import Foundation
import PostgresNIO
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

    static let columns = "id, workspace_id, name, scopes, created_at, expires_at, revoked_at, last_used_at, rotated_from, created_by"

    init(row: PostgresRow) throws {
        (id, workspaceID, name, scopes, createdAt, expiresAt, revokedAt, lastUsedAt, rotatedFrom, createdBy) = try row.decode(
            (UUID, UUID, String?, [String], Date, Date?, Date?, Date?, UUID?, String).self)
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
    }

    /// The audit image: everything but the secret (which is never stored anyway).
    var auditImage: JSONValue { AuditLog.image(of: self, redacting: []) }
}

/// API key management, shared by `/v1/api-keys`, `/v1/admin/…` and `trellis keys`. Every
/// call runs in a ``TenantTransaction`` for the key's workspace and writes its audit entry
/// there, so the key and its record commit together.
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

    public static func create(
        name: String?, scopes: ScopeSet, expiresAt: Date?, rotatedFrom: UUID? = nil, in tx: TenantTransaction
    ) async throws -> Created {
        let token = APIKeyToken.generate()
        let rows = try await tx.connection.query(
            """
            INSERT INTO api_keys (id, workspace_id, name, secret_hash, scopes, expires_at, rotated_from, created_by)
            VALUES (\(token.id), \(tx.identity.workspaceID), \(name), \(Data(token.secretHash)), \(scopes.sorted),
                    \(expiresAt), \(rotatedFrom), \(tx.identity.actor))
            RETURNING \(unescaped: APIKeyRecord.columns)
            """, logger: tx.logger)
        guard let record = try await rows.collect().first.map(APIKeyRecord.init(row:)) else { throw Problem.internalError }
        try await AuditLog.record(
            AuditEntry(action: rotatedFrom == nil ? "api_key.created" : "api_key.rotated", resource: "api-keys",
                       resourceID: record.id.uuidString.lowercased(), after: record.auditImage), in: tx)
        return Created(record: record, token: token)
    }

    public static func get(_ id: UUID, in tx: TenantTransaction) async throws -> APIKeyRecord {
        let rows = try await tx.connection.query(
            "SELECT \(unescaped: APIKeyRecord.columns) FROM api_keys WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)",
            logger: tx.logger)
        guard let record = try await rows.collect().first.map(APIKeyRecord.init(row:)) else { throw notFound(id) }
        return record
    }

    /// Newest first; `after` is the last id of the previous page.
    public static func list(limit: Int, after: UUID?, in tx: TenantTransaction) async throws -> [APIKeyRecord] {
        let rows = try await tx.connection.query(
            """
            SELECT \(unescaped: APIKeyRecord.columns) FROM api_keys
            WHERE workspace_id = \(tx.identity.workspaceID) AND (\(after)::uuid IS NULL OR id < \(after))
            ORDER BY id DESC LIMIT \(limit)
            """, logger: tx.logger)
        return try await rows.collect().map(APIKeyRecord.init(row:))
    }

    /// Revokes at once on this instance and within a second on every other one. Revoking a
    /// revoked key changes nothing and returns it as it is.
    public static func revoke(_ id: UUID, in tx: TenantTransaction) async throws -> APIKeyRecord {
        let before = try await get(id, in: tx)
        guard before.revokedAt == nil else { return before }
        let rows = try await tx.connection.query(
            """
            UPDATE api_keys SET revoked_at = clock_timestamp(), updated_at = clock_timestamp()
            WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
            RETURNING \(unescaped: APIKeyRecord.columns)
            """, logger: tx.logger)
        guard let record = try await rows.collect().first.map(APIKeyRecord.init(row:)) else { throw notFound(id) }
        try await AuditLog.record(
            AuditEntry(action: "api_key.revoked", resource: "api-keys", resourceID: id.uuidString.lowercased(),
                       before: before.auditImage, after: record.auditImage), in: tx)
        return record
    }

    /// A new key with the old one's name and scopes; the old key keeps working for
    /// `gracePeriod` seconds (never longer than it would have anyway).
    public static func rotate(_ id: UUID, gracePeriod: Int, in tx: TenantTransaction) async throws -> Created {
        let old = try await get(id, in: tx)
        guard old.revokedAt == nil, old.expiresAt.map({ $0 > Date() }) ?? true else {
            throw Problem(
                ProblemCatalogue.keyInactive,
                detail: "Only an active key can be rotated; this one is revoked or expired")
        }
        _ = try await tx.connection.query(
            """
            UPDATE api_keys SET expires_at = least(coalesce(expires_at, 'infinity'), clock_timestamp() + make_interval(secs => \(gracePeriod))),
                updated_at = clock_timestamp()
            WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
            """, logger: tx.logger)
        return try await create(name: old.name, scopes: ScopeSet(old.scopes), expiresAt: old.expiresAt, rotatedFrom: id, in: tx)
    }

    static func notFound(_ id: UUID) -> Problem {
        .notFound("No API key with id \(id.uuidString.lowercased())")
    }
}
