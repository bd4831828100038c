import Foundation
import Logging
import PostgresNIO
import TrellisTracing
import TrellisContract

/// A person who logs in (`POST /v1/auth/login`), as the API and CLI show them; the password
/// hash never leaves the database except to ``Users/verifier(email:on:leaseTimeout:logger:)``.
public struct UserRecord: Sendable, JSONWritable {
    public var id: UUID
    public var workspaceID: UUID
    public var email: String
    public var name: String?
    public var scopes: [String]
    public var createdAt: Date
    public var createdBy: String
    public var disabledAt: Date?

    static let columns = "id, workspace_id, email, name, scopes, created_at, created_by, disabled_at"

    init(row: PostgresRow) throws {
        (id, workspaceID, email, name, scopes, createdAt, createdBy, disabledAt) = try row.decode(
            (UUID, UUID, String, String?, [String], Date, String, Date?).self)
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("object"); w.value("user")
        w.key("workspace_id"); w.value(workspaceID)
        w.key("email"); w.value(email)
        w.key("name"); if let name { w.value(name) } else { w.null() }
        w.key("scopes"); w.beginArray(); for s in scopes { w.value(s) }; w.endArray()
        w.key("created_at"); w.value(createdAt)
        w.key("created_by"); w.value(createdBy)
        w.key("disabled_at"); if let disabledAt { w.value(disabledAt) } else { w.null() }
        w.endObject()
    }
}

/// User accounts, shared by `POST /v1/admin/users` and `trellis admin create-user`. A user
/// belongs to one tenant workspace and holds scopes like an API key (never `admin`); an
/// email names at most one user anywhere, because login comes before the workspace is known.
public enum Users {
    /// What login needs to know about the account an email names.
    public struct Verifier: Sendable {
        public var id: UUID
        public var workspaceID: UUID
        public var passwordHash: String
        public var scopes: ScopeSet
        public var disabled: Bool
    }

    /// Trimmed and lower-cased: the form emails are stored and looked up in.
    public static func normalizedEmail(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// Creates a user in the transaction's workspace with `passwordHash` (a
    /// ``PasswordHasher`` PHC string), audited as `user.created` without the hash.
    /// - Throws: 409 `unique_violation` when another user has this email.
    public static func create(
        email: String, name: String?, passwordHash: String, scopes: ScopeSet, in tx: TenantTransaction
    ) async throws -> UserRecord {
        try await Traced.call("users", "create") {
            let email = normalizedEmail(email)
            let taken = try await tx.connection.rows("SELECT 1 FROM trellis_user_verifier(\(email))", logger: tx.logger)
            guard taken.isEmpty else { throw emailTaken }
            let record: UserRecord
            do {
                let rows = try await tx.connection.rows(
                    """
                    INSERT INTO users (id, workspace_id, email, name, password_hash, scopes, created_by)
                    VALUES (\(UUID.v7()), \(tx.identity.workspaceID), \(email), \(name), \(passwordHash), \(scopes.sorted), \(tx.identity.actor))
                    RETURNING \(unescaped: UserRecord.columns)
                    """, logger: tx.logger)
                guard let row = rows.first else { throw Problem.internalError }
                record = try UserRecord(row: row)
            } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23505" {
                // Another transaction took the email between the check and the insert.
                throw emailTaken
            }
            try await AuditLog.record(
                AuditEntry(action: "user.created", resource: "users", resourceID: record.id.lowercasedString,
                           after: AuditLog.image(of: record, redacting: [])), in: tx)
            return record
        }
    }

    /// The account `email` names, from any workspace (the `trellis_user_verifier` function,
    /// the server role's only way to read users before it knows the workspace); nil when none.
    public static func verifier(email: String, on postgres: PostgresClient, leaseTimeout: Duration?, logger: Logger) async throws -> Verifier? {
        let email = normalizedEmail(email)
        return try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
            try await connection.rows(
                "SELECT id, workspace_id, password_hash, scopes, disabled_at FROM trellis_user_verifier(\(email))", logger: logger
            ).decode((UUID, UUID, String, [String], Date?).self).first.map {
                Verifier(id: $0.0, workspaceID: $0.1, passwordHash: $0.2, scopes: ScopeSet($0.3), disabled: $0.4 != nil)
            }
        }
    }

    /// What is wrong with `password` as a new user's password, if anything: at least
    /// ``PasswordHasher/minPasswordCharacters`` characters, at most
    /// ``PasswordHasher/maxPasswordBytes`` bytes of UTF-8.
    public static func passwordProblem(_ password: String) -> String? {
        if password.count < PasswordHasher.minPasswordCharacters {
            return "must be at least \(PasswordHasher.minPasswordCharacters) characters"
        }
        if password.utf8.count > PasswordHasher.maxPasswordBytes {
            return "must be at most \(PasswordHasher.maxPasswordBytes) bytes of UTF-8"
        }
        return nil
    }

    /// What is wrong with `email` as a new user's email, if anything (after ``normalizedEmail(_:)``).
    public static func emailProblem(_ email: String) -> String? {
        let email = normalizedEmail(email)
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        guard (3...254).contains(email.count), parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty,
            !email.contains(where: { $0.isWhitespace || $0.isNewline })
        else { return "must be an email address such as ada@example.com (at most 254 characters)" }
        return nil
    }

    static let emailTaken = Problem(ProblemCatalogue.uniqueViolation, detail: "Another user already has this email")
}
