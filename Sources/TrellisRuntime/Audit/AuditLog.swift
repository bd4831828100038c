import Foundation
import PostgresNIO

/// One audit entry, written in the same transaction as the change it records, so both
/// commit or neither does. The database chains it (per-workspace SHA-256) on insert.
public struct AuditEntry: Sendable {
    /// `agent.created`, `api_key.revoked`, …
    public var action: String
    /// The resource's path name (`agents`, `api-keys`).
    public var resource: String
    public var resourceID: String
    public var before: JSONValue?
    public var after: JSONValue?

    public init(action: String, resource: String, resourceID: String, before: JSONValue? = nil, after: JSONValue? = nil) {
        self.action = action
        self.resource = resource
        self.resourceID = resourceID
        self.before = before
        self.after = after
    }
}

public enum AuditLog {
    public static let redacted = JSONValue.string("[redacted]")

    /// Appends `entry` for the transaction's caller and request.
    public static func record(_ entry: AuditEntry, in tx: TenantTransaction) async throws {
        let identity = tx.identity
        let origin = tx.origin
        try await tx.connection.rows(
            """
            INSERT INTO audit_log (workspace_id, actor, credential_id, action, resource, resource_id, before, after, ip, user_agent, request_id)
            VALUES (\(identity.workspaceID), \(identity.actor), \(identity.credentialID), \(entry.action), \(entry.resource),
                    \(entry.resourceID), \(entry.before), \(entry.after), \(origin.ip), \(origin.userAgent), \(origin.requestID))
            """, logger: tx.logger)
    }

    /// A model as an audit image: its JSON with every `pii` field replaced by `"[redacted]"`.
    public static func image(of object: some JSONWritable, redacting pii: Set<String>) -> JSONValue {
        var w = JSONWriter()
        object.writeJSON(to: &w)
        guard var value = try? JSONValue(parsing: w.bytes) else { return .null }
        if case var .object(members) = value, !pii.isEmpty {
            for i in members.members.indices where pii.contains(members.members[i].key) && members.members[i].value != .null {
                members.members[i].value = redacted
            }
            value = .object(members)
        }
        return value
    }
}
