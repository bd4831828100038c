import Foundation
import PostgresNIO
import TrellisTracing

/// A tenant: every tenant row belongs to exactly one.
public struct WorkspaceRecord: Sendable, JSONWritable {
    public var id: UUID
    public var name: String
    public var createdAt: Date

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("object"); w.value("workspace")
        w.key("name"); w.value(name)
        w.key("created_at"); w.value(createdAt)
        w.endObject()
    }
}

/// Workspace management for platform admins (`/v1/admin/workspaces`, `trellis admin`).
public enum Workspaces {
    /// The platform workspace: home of the platform-admin keys and of the audit chain of
    /// failed authentications that name no key. It is no tenant: no tenant credential can
    /// act in it, tenant keys are never made in it, and it is not listed
    /// (`migrations/0004_platform_admin_keys.sql`).
    public static let platformID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))

    /// Creates the workspace the transaction is set to (its identity's workspace id), with
    /// its audit entry as the first link of the new workspace's chain.
    public static func create(name: String, in tx: TenantTransaction) async throws -> WorkspaceRecord {
        try await Traced.call("workspaces", "create") {
            let rows = try await tx.connection.rows(
                "INSERT INTO workspaces (id, name) VALUES (\(tx.identity.workspaceID), \(name)) RETURNING id, name, created_at",
                logger: tx.logger)
            guard let (id, name, createdAt) = try rows.decode((UUID, String, Date).self).first else {
                throw Problem.internalError
            }
            let record = WorkspaceRecord(id: id, name: name, createdAt: createdAt)
            try await AuditLog.record(
                AuditEntry(action: "workspace.created", resource: "workspaces", resourceID: id.lowercasedString,
                           after: AuditLog.image(of: record, redacting: [])), in: tx)
            return record
        }
    }

    /// Every workspace, newest first; needs the transaction to be a platform admin's.
    public static func list(limit: Int, after: UUID?, in tx: TenantTransaction) async throws -> [WorkspaceRecord] {
        try await Traced.call("workspaces", "list") {
            try await tx.connection.rows("SELECT set_config('trellis.platform_admin', 'on', true)", logger: tx.logger)
            let rows = try await tx.connection.rows(
                """
                SELECT id, name, created_at FROM workspaces
                WHERE id <> \(platformID) AND (\(after)::uuid IS NULL OR id < \(after))
                ORDER BY id DESC LIMIT \(limit)
                """, logger: tx.logger)
            return try rows.decode((UUID, String, Date).self).map { WorkspaceRecord(id: $0.0, name: $0.1, createdAt: $0.2) }
        }
    }

    /// True for a tenant workspace that exists; the platform workspace is not one.
    public static func exists(_ id: UUID, in tx: TenantTransaction) async throws -> Bool {
        guard id != platformID else { return false }
        let rows = try await tx.connection.rows("SELECT 1 FROM workspaces WHERE id = \(id)", logger: tx.logger)
        return rows.first != nil
    }
}
