import ArgumentParser
import Foundation
import Logging
import TrellisRuntime

/// Flags and settings `trellis backup` and `trellis restore` share.
struct BackupOptions: ParsableArguments {
    @Option(help: "The longest pg_dump or pg_restore may run, in seconds.")
    var timeout = 3600

    @Flag(help: "Print the manifest (backup) or the report (restore) as JSON.")
    var json = false

    func limit() throws -> Duration {
        guard (1...86_400).contains(timeout) else { throw ValidationError("--timeout must be 1 to 86400 seconds, got \(timeout)") }
        return .seconds(timeout)
    }

    /// `TRELLIS_BACKUP_KEY`, when set.
    static func key(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> BackupKey? {
        guard let text = env["TRELLIS_BACKUP_KEY"], !text.isEmpty else { return nil }
        do {
            return try BackupKey(base64: text)
        } catch {
            throw ValidationError("\(error)")
        }
    }

    /// A database URL from the environment, checked, with a clear message naming the variable.
    static func databaseURL(_ name: String, purpose: String, env: [String: String] = ProcessInfo.processInfo.environment) throws -> DatabaseURL {
        guard let text = env[name], !text.isEmpty else {
            throw ValidationError("\(name) is not set: \(purpose)")
        }
        do {
            return try DatabaseURL(text)
        } catch {
            throw ValidationError("\(name): \(error)")
        }
    }

    static let backupRolePurpose =
        "a role with BYPASSRLS and pg_read_all_data (postgres://trellis_backup:…@host:port/database; docs/operations.md, \"Backup and restore\")"

    static var logger: Logger {
        var logger = Logger(label: "trellis.backup")
        logger.logLevel = .error
        return logger
    }
}

struct Backup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Back the database up into a new folder: a pg_dump (sealed with TRELLIS_BACKUP_KEY when set) and a manifest (uses DATABASE_BACKUP_URL).")

    @Option(help: "The folder to create for the backup (it must not exist, or be empty).")
    var output: String

    @OptionGroup var options: BackupOptions

    func run() async throws {
        let source = try BackupOptions.databaseURL("DATABASE_BACKUP_URL", purpose: BackupOptions.backupRolePurpose)
        let key = try BackupOptions.key()
        let timeout = try options.limit()
        let started = ContinuousClock.now
        let manifest = try await DatabaseBackup.create(
            source: source, into: URL(fileURLWithPath: output), key: key, timeout: timeout, logger: BackupOptions.logger)
        let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(manifest), as: UTF8.self))
            return
        }
        let rows = manifest.rowCounts.values.reduce(0, +)
        print("backed up \(manifest.database) (schema \(manifest.schemaVersion), \(manifest.rowCounts.count) tables, \(rows) rows) into \(output)")
        print("  \(manifest.dump.file): \(manifest.dump.bytes) bytes, sha256 \(manifest.dump.sha256)"
            + (manifest.dump.encryption.map { ", \($0) with key \(manifest.dump.keyFingerprint ?? "")" } ?? ", not encrypted (set TRELLIS_BACKUP_KEY to seal it)"))
        print("  in \(String(format: "%.2f", seconds)) s")
    }
}

struct Restore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Restore a backup folder into an empty database (uses DATABASE_OWNER_URL; checks row counts as DATABASE_BACKUP_URL's role).",
        discussion: """
            Refuses, before writing anything, a dump whose checksum does not match its manifest, a sealed dump without \
            its key, a backup whose migrations differ from this build's migrations/, and a target that is not empty. \
            Restores in one transaction, then counts every table (through the backup role, on the target's host, port \
            and database) and compares the counts with the manifest's.
            """)

    @Option(help: "The backup folder (the one `trellis backup --output` made).")
    var from: String

    @Option(help: "This build's migrations folder, which the backup's migrations must match.")
    var migrationsDir = "migrations"

    @OptionGroup var options: BackupOptions

    func run() async throws {
        let target = try BackupOptions.databaseURL(
            "DATABASE_OWNER_URL", purpose: "the owner role of the new, empty database to restore into")
        var verifier = try BackupOptions.databaseURL("DATABASE_BACKUP_URL", purpose: BackupOptions.backupRolePurpose)
        // The backup role's credentials, on the target database (roles are per cluster).
        verifier.host = target.host
        verifier.port = target.port
        verifier.database = target.database
        let key = try BackupOptions.key()
        let timeout = try options.limit()
        let migrations = try MigrationDirectory.load(URL(fileURLWithPath: migrationsDir, isDirectory: true))
        let started = ContinuousClock.now
        let report = try await DatabaseBackup.restore(
            from: URL(fileURLWithPath: from), into: target, verifyingAs: verifier, key: key, migrations: migrations,
            timeout: timeout, logger: BackupOptions.logger)
        let seconds = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
        if options.json {
            let summary = RestoreSummary(
                database: target.database ?? target.username, backup: report.manifest.id, tables: report.tablesChecked,
                rows: report.rows, seconds: seconds, pendingMigrations: report.pendingMigrations,
                missingExtensions: report.missingExtensions)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            return
        }
        print("restored backup \(report.manifest.id) of \(report.manifest.database) (made \(report.manifest.createdAt)) into \(target.database ?? target.username)")
        print("  \(report.tablesChecked) tables, \(report.rows) rows: every count matches the manifest; migrations up to \(report.manifest.schemaVersion)")
        print("  in \(String(format: "%.2f", seconds)) s")
        for name in report.missingExtensions {
            print("  note: the source had extension \(name), which the target lacks (nothing restored needed it)")
        }
        if !report.pendingMigrations.isEmpty {
            print("  this build has \(report.pendingMigrations.count) newer migrations (\(report.pendingMigrations.joined(separator: ", "))): run `trellis migrate up`")
        }
        print("  next: `trellis audit verify` checks the audit chains")
    }
}

/// `trellis restore --json`.
struct RestoreSummary: Encodable {
    var database: String
    var backup: String
    var tables: Int
    var rows: Int64
    var seconds: Double
    var pendingMigrations: [String]
    var missingExtensions: [String]

    enum CodingKeys: String, CodingKey {
        case database, backup, tables, rows, seconds
        case pendingMigrations = "pending_migrations"
        case missingExtensions = "missing_extensions"
    }
}
