import Foundation
import Logging
import PostgresNIO
@testable import TrellisRuntime

/// A database of its own on the test cluster (`mig_scratch_…`, so `scripts/test` drops leftovers),
/// prepared as `trellis_pg_setup_db` prepares one, migrated or empty; dropped afterwards.
struct ScratchDatabase: Sendable {
    let name: String
    let adminURL: DatabaseURL
    let ownerURL: DatabaseURL
    let backupURL: DatabaseURL
    let appURL: String

    static func with(migrated: Bool, _ body: (ScratchDatabase) async throws -> Void) async throws {
        let name = "mig_scratch_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12)
        func url(_ variable: String) throws -> DatabaseURL {
            var url = try DatabaseURL(try TestEnvironment.url(variable))
            url.database = name
            return url
        }
        // The server role's URL with this database in its path (withApp takes the URL as text).
        let app = try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")
        guard let slash = app.lastIndex(of: "/") else { throw TestEnvironment.Missing(name: "TRELLIS_TEST_DATABASE_URL with a database path") }
        var adminHere = try DatabaseURL(try TestEnvironment.url("TRELLIS_TEST_PG_ADMIN_URL"))
        adminHere.database = name
        let database = ScratchDatabase(
            name: name, adminURL: adminHere, ownerURL: try url("TRELLIS_TEST_DATABASE_OWNER_URL"), backupURL: try url("TRELLIS_TEST_DATABASE_BACKUP_URL"),
            appURL: String(app[...slash]) + name)
        let admin = try TestEnvironment.url("TRELLIS_TEST_PG_ADMIN_URL")
        try await withClient(url: admin) { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) OWNER trellis_owner"), logger: silentLogger)
        }
        try await database.asSuperuser { client in
            for statement in [
                "ALTER SCHEMA public OWNER TO trellis_owner",
                "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                "GRANT USAGE ON SCHEMA public TO trellis_app",
                "ALTER DEFAULT PRIVILEGES FOR ROLE trellis_owner IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO trellis_app",
                "ALTER DEFAULT PRIVILEGES FOR ROLE trellis_owner IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO trellis_app",
            ] {
                _ = try await client.query(PostgresQuery(unsafeSQL: statement), logger: silentLogger)
            }
        }
        let result: Result<Void, any Error>
        do {
            if migrated {
                let files = try MigrationDirectory.load(TestEnvironment.repositoryRoot.appendingPathComponent("migrations"))
                try await database.asOwner { client in _ = try await Migrator(client: client, logger: silentLogger).up(files) }
            }
            try await body(database)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await withClient(url: admin) { client in
            _ = try await client.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"), logger: silentLogger)
        }
        try result.get()
    }

    func asOwner<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(configuration: ownerURL.clientConfiguration, body)
    }

    /// As the cluster's superuser, which no row-level security binds: to see or tamper with every row.
    func asSuperuser<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(configuration: adminURL.clientConfiguration, body)
    }

    func asBackupRole<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        try await withClient(configuration: backupURL.clientConfiguration, body)
    }

    /// Adds a workspace row with the id of one in the test database (where `withApp` makes its own key).
    func addWorkspace(_ id: UUID) async throws {
        try await asOwner { client in
            _ = try await client.query("INSERT INTO workspaces (id, name) VALUES (\(id), 'backup test')", logger: silentLogger)
        }
    }

    /// A full-scope key for `workspace`, stored in this database; returns its token.
    func makeKey(workspace: UUID) async throws -> String {
        let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "tests", scopes: ScopeSet(["*"]))
        let origin = RequestOrigin(requestID: "backup-test", ip: nil, userAgent: nil)
        return try await asOwner { client in
            try await TenantTransaction.run(on: client, identity: identity, origin: origin, logger: silentLogger) { tx in
                try await APIKeys.create(name: "backup", scopes: ScopeSet(["*"]), expiresAt: nil, in: tx).token.text
            }
        }
    }

    func relationCount() async throws -> Int64 {
        try await asOwner { client in
            try await client.query(
                "SELECT count(*)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
                logger: silentLogger
            ).collect().first?.decode(Int64.self) ?? -1
        }
    }
}
