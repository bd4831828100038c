import Foundation
import Logging
import PostgresNIO

/// A migration recorded in `trellis_migrations`.
public struct AppliedMigration: Sendable, Hashable {
    public var version: String
    public var name: String
    public var checksum: String
    public var appliedAt: Date

    public init(version: String, name: String, checksum: String, appliedAt: Date) {
        self.version = version
        self.name = name
        self.checksum = checksum
        self.appliedAt = appliedAt
    }
}

/// One line of `trellis migrate status`.
public struct MigrationStatusLine: Sendable, Hashable {
    public var version: String
    public var name: String
    /// When it was applied; nil while pending.
    public var applied: Date?
    /// Applied, and the file changed since.
    public var checksumMismatch: Bool
    /// Applied, but there is no file for it any more.
    public var fileMissing: Bool

    public var isApplied: Bool { applied != nil }

    public init(version: String, name: String, applied: Date?, checksumMismatch: Bool, fileMissing: Bool = false) {
        self.version = version
        self.name = name
        self.applied = applied
        self.checksumMismatch = checksumMismatch
        self.fileMissing = fileMissing
    }
}

/// Applies and rolls back ``MigrationFile``s, recording them in `trellis_migrations`.
///
/// - `up`/`down` run on one connection holding a session advisory lock
///   (``advisoryLockKey``), so concurrent runs from several processes apply each
///   migration once; the lock is released at the end, also on failure.
/// - Before changing anything they check that no applied migration's file changed
///   (``MigrationError/checksumMismatch(file:version:appliedChecksum:fileChecksum:)``).
/// - Each migration runs in its own transaction together with its bookkeeping row,
///   unless its section starts with `-- migrate:no-transaction`.
/// - Files are split into statements (see `SQLStatementSplitter`), because
///   postgres-nio only speaks the extended protocol, which takes one statement at a time.
///
/// Run it with the owner role (`DATABASE_OWNER_URL`); the client must be running.
public struct Migrator: Sendable {
    /// Key of the session advisory lock held while migrating: "trellis" in ASCII.
    public static let advisoryLockKey: Int64 = 0x0074_7265_6C6C_6973

    /// The bookkeeping table. It lives in the schema that is current when a run starts
    /// (normally `public`) and is always referenced schema-qualified, so a migration that
    /// changes `search_path` does not lose it.
    public static let tableName = "trellis_migrations"

    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    // MARK: - Public operations

    /// Every migration file plus every applied migration whose file is missing, by version.
    public func status(_ files: [MigrationFile]) async throws -> [MigrationStatusLine] {
        let applied: [AppliedMigration] = try await client.withConnection { connection in
            let table = try await self.resolveTable(on: connection)
            return try await self.readApplied(table, on: connection, tableMayBeMissing: true)
        }
        return Self.statusLines(files: files, applied: applied)
    }

    /// The rows of `trellis_migrations` (empty when the table does not exist yet), by version.
    public func applied() async throws -> [AppliedMigration] {
        try await client.withConnection { connection in
            let table = try await self.resolveTable(on: connection)
            return try await self.readApplied(table, on: connection, tableMayBeMissing: true)
        }
    }

    /// Applies pending migrations in version order, up to and including `target` when
    /// given. Returns the migrations applied (empty when there was nothing to do).
    @discardableResult
    public func up(_ files: [MigrationFile], to target: String? = nil) async throws -> [MigrationFile] {
        let files = Self.sorted(files)
        if let target, !files.contains(where: { MigrationFile.sameVersion($0.version, target) }) {
            throw MigrationError.unknownTarget(version: target)
        }
        return try await withLockedConnection { connection, table in
            let applied = try await self.readApplied(table, on: connection, tableMayBeMissing: false)
            try Self.verify(files: files, applied: applied)
            let appliedVersions = Set(applied.map { Self.normalized($0.version) })
            var pending = files.filter { !appliedVersions.contains(Self.normalized($0.version)) }
            if let target {
                pending = pending.filter { !MigrationFile.versionPrecedes(target, $0.version) }
            }
            if pending.isEmpty {
                self.logger.info("migrations are up to date", metadata: ["migration.applied_count": "\(applied.count)"])
                return []
            }
            var done: [MigrationFile] = []
            for file in pending {
                try await self.apply(file, direction: .up, table: table, on: connection)
                done.append(file)
            }
            return done
        }
    }

    /// Rolls back the last `steps` applied migrations, newest first. Returns them in the
    /// order they were rolled back. Every one of them needs its file with a down section;
    /// otherwise nothing is rolled back.
    @discardableResult
    public func down(_ files: [MigrationFile], steps: Int = 1) async throws -> [MigrationFile] {
        guard steps >= 1 else {
            throw MigrationError.invalidSteps(steps)
        }
        let files = Self.sorted(files)
        return try await withLockedConnection { connection, table in
            let applied = try await self.readApplied(table, on: connection, tableMayBeMissing: false)
            try Self.verify(files: files, applied: applied)
            let byVersion = Dictionary(files.map { (Self.normalized($0.version), $0) }, uniquingKeysWith: { a, _ in a })
            let toRollBack = applied.sorted { MigrationFile.versionPrecedes($1.version, $0.version) }.prefix(steps)
            var plan: [(file: MigrationFile, recordedVersion: String)] = []
            for row in toRollBack {
                guard let file = byVersion[Self.normalized(row.version)] else {
                    throw MigrationError.appliedFileMissing(version: row.version, name: row.name)
                }
                guard file.hasDown else {
                    throw MigrationError.missingDownSection(file: file.fileName)
                }
                plan.append((file, row.version))
            }
            if plan.isEmpty {
                self.logger.info("no applied migration to roll back")
            }
            var done: [MigrationFile] = []
            for step in plan {
                try await self.apply(
                    step.file, direction: .down, recordedVersion: step.recordedVersion, table: table, on: connection)
                done.append(step.file)
            }
            return done
        }
    }

    // MARK: - Pure helpers

    static func normalized(_ version: String) -> String {
        let trimmed = version.drop(while: { $0 == "0" })
        return trimmed.isEmpty ? "0" : String(trimmed)
    }

    static func sorted(_ files: [MigrationFile]) -> [MigrationFile] {
        files.sorted { MigrationFile.versionPrecedes($0.version, $1.version) }
    }

    /// Applied migrations must still have their file, unchanged.
    static func verify(files: [MigrationFile], applied: [AppliedMigration]) throws {
        let byVersion = Dictionary(files.map { (normalized($0.version), $0) }, uniquingKeysWith: { a, _ in a })
        for row in applied {
            guard let file = byVersion[normalized(row.version)] else {
                throw MigrationError.appliedFileMissing(version: row.version, name: row.name)
            }
            if file.checksum != row.checksum {
                throw MigrationError.checksumMismatch(
                    file: file.fileName,
                    version: file.version,
                    appliedChecksum: row.checksum,
                    fileChecksum: file.checksum
                )
            }
        }
    }

    static func statusLines(files: [MigrationFile], applied: [AppliedMigration]) -> [MigrationStatusLine] {
        let appliedByVersion = Dictionary(applied.map { (normalized($0.version), $0) }, uniquingKeysWith: { a, _ in a })
        let fileVersions = Set(files.map { normalized($0.version) })
        var lines: [MigrationStatusLine] = files.map { file in
            let row = appliedByVersion[normalized(file.version)]
            return MigrationStatusLine(
                version: file.version,
                name: file.name,
                applied: row?.appliedAt,
                checksumMismatch: row.map { $0.checksum != file.checksum } ?? false
            )
        }
        for row in applied where !fileVersions.contains(normalized(row.version)) {
            lines.append(MigrationStatusLine(
                version: row.version,
                name: row.name,
                applied: row.appliedAt,
                checksumMismatch: false,
                fileMissing: true
            ))
        }
        return lines.sorted { MigrationFile.versionPrecedes($0.version, $1.version) }
    }

    // MARK: - Database work

    /// Leases one connection, takes the advisory lock, makes sure the bookkeeping table
    /// exists, runs `body`, and releases the lock whatever happened. A connection whose
    /// state is unknown after a failure is closed rather than returned to the pool.
    private func withLockedConnection<Value: Sendable>(
        _ body: (PostgresConnection, String) async throws -> Value
    ) async throws -> Value {
        try await client.withConnection { connection in
            try await self.lock(on: connection)
            let outcome: Result<Value, any Error>
            do {
                let table = try await self.resolveTable(on: connection)
                try await self.ensureTable(table, on: connection)
                outcome = .success(try await body(connection, table))
            } catch {
                outcome = .failure(error)
            }
            do {
                try await self.execute(
                    "SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", on: connection,
                    operation: "releasing the migrations lock")
                // A migration may have changed session settings (SET search_path, SET ROLE).
                try await self.execute("RESET ALL", on: connection, operation: "resetting the session")
            } catch {
                // Closing the session releases the lock on the server side.
                self.logger.warning(
                    "closing the migrations connection after a failed unlock",
                    metadata: ["error": "\(Self.describe(error))"])
                try? await connection.close()
            }
            return try outcome.get()
        }
    }

    /// Takes the session advisory lock, saying so when another run holds it.
    private func lock(on connection: PostgresConnection) async throws {
        do {
            let rows = try await connection.query("SELECT pg_try_advisory_lock(\(Self.advisoryLockKey))", logger: logger)
            var locked = false
            for try await value in rows.decode(Bool.self) {
                locked = value
            }
            if locked { return }
            logger.info("another migration run holds the migrations lock; waiting for it")
            try await drain(connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: logger))
        } catch {
            throw MigrationError.database(operation: "taking the migrations lock", message: Self.describe(error))
        }
    }

    /// The schema-qualified, quoted bookkeeping table for this session's current schema.
    private func resolveTable(on connection: PostgresConnection) async throws -> String {
        do {
            let rows = try await connection.query("SELECT coalesce(current_schema(), 'public')", logger: logger)
            var schema = "public"
            for try await value in rows.decode(String.self) {
                schema = value
            }
            return Self.quoteIdentifier(schema) + "." + Self.quoteIdentifier(Self.tableName)
        } catch {
            throw MigrationError.database(operation: "finding the current schema", message: Self.describe(error))
        }
    }

    static func quoteIdentifier(_ name: String) -> String {
        TrellisRuntime.quoteIdentifier(name)
    }

    private func ensureTable(_ table: String, on connection: PostgresConnection) async throws {
        try await execute(
            PostgresQuery(unsafeSQL: """
                CREATE TABLE IF NOT EXISTS \(table) (
                    version text PRIMARY KEY,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now()
                )
                """),
            on: connection,
            operation: "creating \(table)"
        )
    }

    private func readApplied(
        _ table: String, on connection: PostgresConnection, tableMayBeMissing: Bool
    ) async throws -> [AppliedMigration] {
        do {
            if tableMayBeMissing {
                let rows = try await connection.query(
                    "SELECT to_regclass(\(table)) IS NOT NULL", logger: logger)
                var exists = false
                for try await found in rows.decode(Bool.self) {
                    exists = found
                }
                if !exists { return [] }
            }
            let rows = try await connection.query(
                PostgresQuery(unsafeSQL: "SELECT version, name, checksum, applied_at FROM \(table)"),
                logger: logger
            )
            var applied: [AppliedMigration] = []
            for try await (version, name, checksum, appliedAt) in rows.decode((String, String, String, Date).self) {
                applied.append(AppliedMigration(version: version, name: name, checksum: checksum, appliedAt: appliedAt))
            }
            return applied.sorted { MigrationFile.versionPrecedes($0.version, $1.version) }
        } catch let error as MigrationError {
            throw error
        } catch {
            throw MigrationError.database(operation: "reading \(table)", message: Self.describe(error))
        }
    }

    /// Runs one direction of one migration, with its bookkeeping change.
    private func apply(
        _ file: MigrationFile,
        direction: MigrationError.Direction,
        recordedVersion: String? = nil,
        table: String,
        on connection: PostgresConnection
    ) async throws {
        let sql = direction == .up ? file.up : file.down
        let lineOffset = direction == .up ? file.upLineOffset : file.downLineOffset
        let inTransaction = direction == .up ? file.upRunsInTransaction : file.downRunsInTransaction
        let statements = SQLStatementSplitter.split(sql)
        let bookkeeping: PostgresQuery =
            direction == .up
            ? "INSERT INTO \(unescaped: table) (version, name, checksum) VALUES (\(file.version), \(file.name), \(file.checksum))"
            : "DELETE FROM \(unescaped: table) WHERE version = \(recordedVersion ?? file.version)"
        var metadata: Logger.Metadata = [
            "migration.version": "\(file.version)",
            "migration.name": "\(file.name)",
            "migration.direction": "\(direction.rawValue)",
        ]
        if !inTransaction { metadata["migration.transaction"] = "none" }
        logger.info(direction == .up ? "applying migration" : "rolling back migration", metadata: metadata)
        let started = ContinuousClock.now

        if inTransaction {
            try await execute("BEGIN", on: connection, operation: "starting a transaction for \(file.fileName)")
        }
        do {
            for statement in statements {
                do {
                    try await drain(connection.query(PostgresQuery(unsafeSQL: statement.sql), logger: logger))
                } catch {
                    throw Self.sqlError(error, file: file, direction: direction, statement: statement,
                                        lineOffset: lineOffset, inTransaction: inTransaction)
                }
            }
            try await execute(bookkeeping, on: connection, operation: "recording \(file.fileName) in \(table)")
            if inTransaction {
                do {
                    try await drain(connection.query("COMMIT", logger: logger))
                } catch {
                    // A deferred constraint or the like failed at commit time.
                    throw Self.sqlError(error, file: file, direction: direction, statement: nil,
                                        lineOffset: lineOffset, inTransaction: true)
                }
            }
        } catch {
            if inTransaction {
                // If ROLLBACK itself fails the connection is broken; the server rolls back.
                _ = try? await drain(connection.query("ROLLBACK", logger: logger))
            }
            throw error
        }
        metadata["migration.duration_ms"] = "\((ContinuousClock.now - started).milliseconds)"
        logger.info(direction == .up ? "applied migration" : "rolled back migration", metadata: metadata)
    }

    private func execute(_ query: PostgresQuery, on connection: PostgresConnection, operation: String) async throws {
        do {
            try await drain(connection.query(query, logger: logger))
        } catch {
            throw MigrationError.database(operation: operation, message: Self.describe(error))
        }
    }

    /// Reads a result to its end, so that errors raised while it streams surface here.
    private func drain(_ rows: PostgresRowSequence) async throws {
        for try await _ in rows {}
    }

    static func sqlError(
        _ error: any Error,
        file: MigrationFile,
        direction: MigrationError.Direction,
        statement: SQLStatementSplitter.Statement?,
        lineOffset: Int,
        inTransaction: Bool
    ) -> MigrationError {
        guard let psql = error as? PSQLError, let info = psql.serverInfo else {
            return .sqlFailed(
                file: file.fileName, direction: direction, line: statement.map { $0.line + lineOffset },
                message: describe(error), sqlState: nil, detail: nil, hint: nil, inTransaction: inTransaction)
        }
        var line = statement.map { $0.line + lineOffset }
        if let statement, let positionText = info[.position], let position = Int(positionText), position >= 1 {
            // `position` is 1-based, in characters of the statement we sent.
            let prefix = statement.sql.unicodeScalars.prefix(position - 1)
            let newlines = prefix.reduce(0) { $1 == "\n" ? $0 + 1 : $0 }
            line = statement.line + lineOffset + newlines
        }
        return .sqlFailed(
            file: file.fileName,
            direction: direction,
            line: line,
            message: info[.message] ?? "unknown error",
            sqlState: info[.sqlState],
            detail: info[.detail],
            hint: info[.hint],
            inTransaction: inTransaction
        )
    }

    /// A readable description of a database error (PostgresNIO's own is deliberately vague).
    static func describe(_ error: any Error) -> String {
        if let migrationError = error as? MigrationError {
            return migrationError.description
        }
        guard let psql = error as? PSQLError else {
            return "\(error)"
        }
        if let info = psql.serverInfo {
            var text = info[.message] ?? "server error"
            if let state = info[.sqlState] { text += " [SQLSTATE \(state)]" }
            return text
        }
        if let underlying = psql.underlying {
            return "\(psql.code): \(underlying)"
        }
        return "\(psql.code)"
    }
}

