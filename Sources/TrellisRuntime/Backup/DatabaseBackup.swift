import Crypto
import Foundation
import Logging
import PostgresNIO

/// `trellis backup` and `trellis restore`: a `pg_dump` of the `public` schema in custom format,
/// optionally sealed (``SealedStream``), beside a ``BackupManifest`` that a restore checks
/// before and after it writes anything.
///
/// The backup reads through a role that bypasses row-level security (Trellis's tables force
/// RLS even on their owner, so the owner's dump would fail); the row counts and the migration
/// list are read in the very snapshot the dump reads. The restore runs as the owner role into an
/// empty database, in one transaction, and then counts every table again.
public enum DatabaseBackup {
    static let dumpFile = "dump.pgc"
    static let sealedDumpFile = "dump.pgc.sealed"

    /// Backs `source` up into `folder` (created; it must not exist or be empty). `source` must be
    /// a role with BYPASSRLS that can read every table (`pg_read_all_data`).
    public static func create(
        source: DatabaseURL, into folder: URL, key: BackupKey?, timeout: Duration, logger: Logger
    ) async throws -> BackupManifest {
        try prepareEmptyFolder(folder)
        let pgDump = try PostgresTool.locate("pg_dump")
        let id = UUID().uuidString.lowercased()
        let fileName = key == nil ? dumpFile : sealedDumpFile
        let output = try HashedFile(creating: folder.appendingPathComponent(fileName))
        let sink: DumpSink
        if let key {
            sink = DumpSink(sealing: try SealedStream.Writer(key: key, context: id, output: { try output.write($0) }))
        } else {
            sink = DumpSink(plain: output)
        }

        let manifest: BackupManifest = try await withClient(source, logger: logger) { client in
            try await client.withConnection { connection in
                _ = try await connection.query("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY", logger: logger).collect()
                let facts = try await readFacts(connection, logger: logger)
                guard facts.bypassesRLS else {
                    throw BackupError("""
                        the role \(source.username) does not bypass row-level security, so pg_dump cannot read Trellis's tables \
                        (they force RLS even on their owner). Back up through a read-only role that does, e.g. \
                        CREATE ROLE trellis_backup LOGIN BYPASSRLS PASSWORD '…'; GRANT pg_read_all_data TO trellis_backup; \
                        and set DATABASE_BACKUP_URL to it (docs/operations.md, "Backup and restore")
                        """)
                }
                let snapshot = try await connection.query("SELECT pg_export_snapshot()", logger: logger).collect()
                    .first?.decode(String.self) ?? ""
                var counts: [String: Int64] = [:]
                for table in facts.tables {
                    counts[table] = try await count(table, on: connection, logger: logger)
                }
                try await pgDump.run(
                    ["--format=custom", "--schema=public", "--snapshot=\(snapshot)", "--no-password", "--compress=6"],
                    database: source, timeout: timeout, output: { try sink.write($0) })
                _ = try await connection.query("COMMIT", logger: logger).collect()
                try sink.finish()
                try output.close()
                return BackupManifest(
                    format: BackupManifest.currentFormat, id: id, createdAt: RFC3339.format(facts.now),
                    database: facts.database, serverVersion: facts.serverVersion,
                    schemaVersion: facts.migrations.last?.version ?? "",
                    migrations: facts.migrations, rowCounts: counts, extensions: facts.extensions,
                    dump: .init(
                        file: fileName, format: "pg_dump custom", bytes: output.bytes, sha256: output.sha256Hex,
                        encryption: key == nil ? nil : "AES-256-GCM", keyFingerprint: key?.fingerprint))
            }
        }
        let finished = try key.map { try manifest.signed(with: $0) } ?? manifest
        try finished.write(to: folder)
        return finished
    }

    /// What ``restore(from:into:verifyingAs:key:migrations:timeout:logger:)`` did.
    public struct RestoreReport: Sendable {
        public var manifest: BackupManifest
        /// Tables whose row counts were checked against the manifest (all of them).
        public var tablesChecked: Int
        public var rows: Int64
        /// Migrations in this build that the backup predates: `trellis migrate up` applies them.
        public var pendingMigrations: [String]
        /// Extensions the source had that the target lacks (the restore succeeded without them).
        public var missingExtensions: [String]
    }

    /// Restores the backup in `folder` into `target`'s database, which must be empty, as
    /// `target`'s role (the owner of the new database). Refuses before writing anything when the
    /// dump's checksum, key, or migrations do not match; restores in one transaction; then
    /// counts every table through `verifyingAs` (a role that bypasses RLS, on the same database)
    /// and compares the counts and the migration ledger with the manifest.
    public static func restore(
        from folder: URL, into target: DatabaseURL, verifyingAs verifier: DatabaseURL, key: BackupKey?,
        migrations: [MigrationFile], timeout: Duration, logger: Logger
    ) async throws -> RestoreReport {
        let manifest = try BackupManifest.read(from: folder)
        if manifest.dump.encryption != nil, let key, manifest.dump.keyFingerprint == key.fingerprint,
            try !manifest.isAuthentic(under: key)
        {
            throw BackupError("manifest.json does not match its MAC under this key: it was edited after the backup was made")
        }
        let pending = try checkMigrations(manifest.migrations, against: migrations)
        let stored = folder.appendingPathComponent(manifest.dump.file)
        try checkDigest(of: stored, manifest: manifest)
        let pgRestore = try PostgresTool.locate("pg_restore")

        let work = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-restore-\(manifest.id)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: work) }
        let dump: URL
        if manifest.dump.encryption != nil {
            guard let key else {
                throw BackupError("the dump is sealed (AES-256-GCM, key \(manifest.dump.keyFingerprint ?? "?")): set TRELLIS_BACKUP_KEY to the key that sealed it")
            }
            guard manifest.dump.keyFingerprint == key.fingerprint else {
                throw BackupError(
                    "the dump was sealed with the key whose fingerprint is \(manifest.dump.keyFingerprint ?? "?"); TRELLIS_BACKUP_KEY's is \(key.fingerprint)")
            }
            // Opened into a private folder (0700) for pg_restore, which needs a seekable file; removed afterwards.
            dump = work.appendingPathComponent(dumpFile)
            let plain = try HashedFile(creating: dump)
            try SealedStream.open(stored, key: key, context: manifest.id) { try plain.write($0) }
            try plain.close()
        } else {
            dump = stored
        }

        // The dump's table of contents, less the `public` schema itself, which every database has.
        let listing = LockedBytes()
        try await pgRestore.run(["--list", dump.path], database: target, timeout: timeout, output: { listing.append($0) })
        let entries = String(decoding: listing.bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            .filter { !isPublicSchemaEntry($0) }
        let list = work.appendingPathComponent("toc.list")
        try entries.joined(separator: "\n").write(to: list, atomically: true, encoding: .utf8)

        let missingExtensions: [String] = try await withClient(target, logger: logger) { client in
            let relations = try await client.query(
                "SELECT count(*)::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'",
                logger: logger
            ).collect().first?.decode(Int64.self) ?? 0
            guard relations == 0 else {
                throw BackupError(
                    "the target database \(target.database ?? target.username) is not empty (\(relations) relations in its public schema): restore into a new, empty database")
            }
            var present: Set<String> = []
            for try await name in try await client.query("SELECT extname FROM pg_extension", logger: logger).decode(String.self) {
                present.insert(name)
            }
            return manifest.extensions.filter { !present.contains($0) }
        }

        try await pgRestore.run(
            ["--single-transaction", "--exit-on-error", "--no-owner", "--no-password", "--use-list=\(list.path)",
             "--dbname=\(conninfoDatabase(target))", dump.path],
            database: target, timeout: timeout)

        let (tables, rows) = try await verify(manifest, on: verifier, logger: logger)
        return RestoreReport(
            manifest: manifest, tablesChecked: tables, rows: rows, pendingMigrations: pending.map(\.fileName),
            missingExtensions: missingExtensions)
    }

    // MARK: - Checks

    /// The backup's migrations must be this build's first ones, file for file and checksum for
    /// checksum; returns this build's migrations that the backup predates.
    public static func checkMigrations(
        _ backedUp: [BackupManifest.Migration], against files: [MigrationFile]
    ) throws -> [MigrationFile] {
        let local = files.sorted { MigrationFile.versionPrecedes($0.version, $1.version) }
        for (index, migration) in backedUp.enumerated() {
            guard index < local.count else {
                throw BackupError(
                    "the backup has migration \(migration.version)_\(migration.name), which this build's migrations/ lacks (it ends at \(local.last?.fileName ?? "nothing")): restore with the trellis build that made the backup")
            }
            let file = local[index]
            guard file.version == migration.version, file.name == migration.name else {
                throw BackupError(
                    "migration \(index + 1) of the backup is \(migration.version)_\(migration.name), this build's is \(file.fileName): the histories differ")
            }
            guard file.checksum == migration.checksum else {
                throw BackupError(
                    "migration \(file.fileName) changed since the backup was made (checksum \(migration.checksum.prefix(12))… in the backup, \(file.checksum.prefix(12))… here): restore with the trellis build that made the backup")
            }
        }
        return Array(local.dropFirst(backedUp.count))
    }

    static func checkDigest(of file: URL, manifest: BackupManifest) throws {
        let (bytes, digest) = try self.digest(of: file)
        guard bytes == manifest.dump.bytes, digest == manifest.dump.sha256 else {
            throw BackupError(
                "\(file.lastPathComponent) does not match its manifest (\(bytes) bytes, SHA-256 \(digest.prefix(12))…; the manifest says \(manifest.dump.bytes) bytes, \(manifest.dump.sha256.prefix(12))…): the file is damaged or was replaced")
        }
    }

    /// Size and SHA-256 (lowercase hex) of a file, read in 1 MiB pieces.
    static func digest(of file: URL) throws -> (bytes: Int64, sha256: String) {
        guard let handle = try? FileHandle(forReadingFrom: file) else {
            throw BackupError("\(file.path) (the manifest's dump) does not exist")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        var bytes: Int64 = 0
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
            bytes += Int64(chunk.count)
        }
        return (bytes, hexString(hasher.finalize()))
    }

    static func verify(_ manifest: BackupManifest, on verifier: DatabaseURL, logger: Logger) async throws -> (Int, Int64) {
        try await withClient(verifier, logger: logger) { client in
            try await client.withConnection { connection in
                let facts = try await readFacts(connection, logger: logger)
                guard facts.bypassesRLS else {
                    throw BackupError(
                        "restored, but cannot check the row counts: \(verifier.username) does not bypass row-level security (set DATABASE_BACKUP_URL to the backup role)")
                }
                guard facts.migrations == manifest.migrations else {
                    throw BackupError("restored, but the restored migration ledger differs from the manifest's")
                }
                var problems: [String] = []
                var rows: Int64 = 0
                for (table, expected) in manifest.rowCounts.sorted(by: { $0.key < $1.key }) {
                    guard facts.tables.contains(table) else {
                        problems.append("\(table): missing")
                        continue
                    }
                    let found = try await count(table, on: connection, logger: logger)
                    rows += found
                    if found != expected { problems.append("\(table): \(found) rows, the backup had \(expected)") }
                }
                let extra = Set(facts.tables).subtracting(manifest.rowCounts.keys).sorted()
                problems += extra.map { "\($0): not in the backup" }
                guard problems.isEmpty else {
                    throw BackupError("restored, but the data differs from the manifest: " + problems.joined(separator: "; "))
                }
                return (manifest.rowCounts.count, rows)
            }
        }
    }

    // MARK: - Catalog reads

    struct Facts {
        var database: String
        var serverVersion: String
        var now: Date
        var bypassesRLS: Bool
        var migrations: [BackupManifest.Migration]
        var tables: [String]
        var extensions: [String]
    }

    static func readFacts(_ connection: PostgresConnection, logger: Logger) async throws -> Facts {
        let row = try await connection.query(
            """
            SELECT current_database(), current_setting('server_version'), now(),
                   (SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user),
                   to_regclass('public.trellis_migrations') IS NOT NULL
            """, logger: logger
        ).collect()
        guard let (database, version, now, bypasses, hasLedger) = try row.first?.decode((String, String, Date, Bool, Bool).self) else {
            throw BackupError("the database answered nothing")
        }
        guard hasLedger else {
            throw BackupError("\(database) has no trellis_migrations table: it is not a Trellis database, or was never migrated")
        }
        var migrations: [BackupManifest.Migration] = []
        let ledger = try await connection.query("SELECT version, name, checksum FROM public.trellis_migrations", logger: logger)
        for try await (version, name, checksum) in ledger.decode((String, String, String).self) {
            migrations.append(.init(version: version, name: name, checksum: checksum))
        }
        migrations.sort { MigrationFile.versionPrecedes($0.version, $1.version) }
        var tables: [String] = []
        let relations = try await connection.query(
            """
            SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1
            """, logger: logger)
        for try await name in relations.decode(String.self) { tables.append(name) }
        var extensions: [String] = []
        let installed = try await connection.query(
            "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1", logger: logger)
        for try await name in installed.decode(String.self) { extensions.append(name) }
        return Facts(
            database: database, serverVersion: version, now: now, bypassesRLS: bypasses, migrations: migrations,
            tables: tables, extensions: extensions)
    }

    static func count(_ table: String, on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query(
            PostgresQuery(unsafeSQL: "SELECT count(*)::bigint FROM public.\(Migrator.quoteIdentifier(table))"), logger: logger
        ).collect()
        return try rows.first?.decode(Int64.self) ?? 0
    }

    // MARK: - Helpers

    static func isPublicSchemaEntry(_ line: Substring) -> Bool {
        // `6; 2615 2200 SCHEMA - public trellis_owner`: id; catalog oid; object oid; type; namespace; name; owner.
        let fields = line.split(separator: " ")
        return fields.count >= 6 && fields[3] == "SCHEMA" && fields[4] == "-" && fields[5] == "public"
    }

    /// `dbname='…'` for `--dbname`, so a database name with `=` or spaces is not read as a
    /// connection string.
    static func conninfoDatabase(_ url: DatabaseURL) -> String {
        let name = (url.database ?? url.username).replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "'", with: "\\'")
        return "dbname='\(name)'"
    }

    static func prepareEmptyFolder(_ folder: URL) throws {
        let files = FileManager.default
        var isDirectory: ObjCBool = false
        if files.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue, (try? files.contentsOfDirectory(atPath: folder.path))?.isEmpty == true else {
                throw BackupError("\(folder.path) already exists and is not an empty folder: give a new folder for the backup")
            }
        } else {
            do {
                try files.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw BackupError("cannot create \(folder.path): \(error.localizedDescription)")
            }
        }
    }

    static func withClient<T: Sendable>(
        _ url: DatabaseURL, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        var configuration = url.clientConfiguration
        configuration.options.maximumConnections = 2
        do {
            return try await PostgresClient.withRunning(configuration, logger: logger, body)
        } catch let error as PSQLError {
            throw BackupError("\(url): \(error.serverInfo?[.message] ?? String(describing: error.code))")
        }
    }

    static func hexString(_ digest: some Sequence<UInt8>) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// A file being written, with its size and SHA-256 kept as it grows.
final class HashedFile: @unchecked Sendable {
    private let handle: FileHandle
    private var hasher = SHA256()
    private(set) var bytes: Int64 = 0
    private let lock = NSLock()

    init(creating url: URL) throws {
        guard FileManager.default.createFile(atPath: url.path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
            throw BackupError("cannot create \(url.path)")
        }
        handle = try FileHandle(forWritingTo: url)
    }

    func write(_ data: some DataProtocol) throws {
        try lock.withLock {
            try handle.write(contentsOf: data)
            for region in data.regions { hasher.update(data: region) }
            bytes += Int64(data.count)
        }
    }

    func close() throws {
        try lock.withLock { try handle.synchronize(); try handle.close() }
    }

    var sha256Hex: String {
        lock.withLock { DatabaseBackup.hexString(hasher.finalize()) }
    }
}

/// Where pg_dump's output goes: straight into the file, or through the sealer first.
final class DumpSink: @unchecked Sendable {
    private var sealer: SealedStream.Writer?
    private let plain: HashedFile?
    private let lock = NSLock()

    init(sealing writer: SealedStream.Writer) {
        sealer = writer
        plain = nil
    }

    init(plain file: HashedFile) {
        sealer = nil
        plain = file
    }

    func write(_ data: Data) throws {
        try lock.withLock {
            if sealer != nil { try sealer!.write(data) } else { try plain?.write(data) }
        }
    }

    func finish() throws {
        try lock.withLock {
            if sealer != nil { try sealer!.finish() }
        }
    }
}

/// Bytes gathered from a child process's output.
final class LockedBytes: @unchecked Sendable {
    private var storage = Data()
    private let lock = NSLock()

    func append(_ data: Data) { lock.withLock { storage.append(data) } }
    var bytes: Data { lock.withLock { storage } }
}
