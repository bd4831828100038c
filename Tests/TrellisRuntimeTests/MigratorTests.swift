import Foundation
import Logging
import PostgresNIO
import Testing

@testable import TrellisRuntime

// MARK: - Helpers

/// Where the integration tests find PostgreSQL: set by scripts/test. A missing variable fails
/// the test that needs it (never a silent skip), as the app tests do.
enum DatabaseTestEnvironment {
    static func url(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(name: name) }
        return value
    }

    struct Missing: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not set: run the tests with scripts/test, which starts Postgres and sets it" }
    }
}

private let quietLogger = Logger(label: "trellis.tests.migrations", factory: { _ in SwiftLogNoOpLogHandler() })

private func migration(_ fileName: String, up: String, down: String = "") throws -> MigrationFile {
    var text = "-- migrate:up\n\(up)\n"
    if !down.isEmpty { text += "\n-- migrate:down\n\(down)\n" }
    return try MigrationFile(fileName: fileName, contents: text)
}

@discardableResult
private func exec(_ client: PostgresClient, _ sql: String) async throws -> [PostgresRow] {
    var rows: [PostgresRow] = []
    for try await row in try await client.query(PostgresQuery(unsafeSQL: sql), logger: quietLogger) {
        rows.append(row)
    }
    return rows
}

private func scalarInt(_ client: PostgresClient, _ sql: String) async throws -> Int {
    let rows = try await exec(client, sql)
    return try rows.first?.decode(Int.self) ?? -1
}

private func tableExists(_ client: PostgresClient, _ table: String) async throws -> Bool {
    try await scalarInt(client, "SELECT count(*)::int FROM pg_class WHERE relname = '\(table)' AND relkind IN ('r', 'i')") > 0
}

private func recordedVersions(_ client: PostgresClient) async throws -> [String] {
    try await exec(client, "SELECT version FROM trellis_migrations ORDER BY version").map { try $0.decode(String.self) }
}

/// Advisory locks held in the current database by any session.
private func advisoryLocks(_ client: PostgresClient) async throws -> Int {
    try await scalarInt(client, """
        SELECT count(*)::int FROM pg_locks
        WHERE locktype = 'advisory' AND granted
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
        """)
}

/// Runs `body` with a client connected to a fresh database `mig_<random>` owned by the owner
/// role of `TRELLIS_TEST_DATABASE_OWNER_URL`, and drops the database afterwards.
private func withScratchDatabase(
    clients: Int = 1,
    _ body: ([PostgresClient]) async throws -> Void
) async throws {
    let admin = try DatabaseURL(try DatabaseTestEnvironment.url("TRELLIS_TEST_PG_ADMIN_URL"))
    var owner = try DatabaseURL(try DatabaseTestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL"))
    let name = "mig_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(16)
    owner.database = name

    let adminClient = PostgresClient(configuration: admin.clientConfiguration, backgroundLogger: quietLogger)
    let ownerClients = (0..<clients).map { _ in
        PostgresClient(configuration: owner.clientConfiguration, backgroundLogger: quietLogger)
    }
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await adminClient.run() }
        for client in ownerClients {
            group.addTask { await client.run() }
        }
        defer { group.cancelAll() }
        try await exec(adminClient, "CREATE DATABASE \"\(name)\" OWNER \"\(owner.username)\"")
        let result: Result<Void, any Error>
        do {
            try await body(ownerClients)
            result = .success(())
        } catch {
            result = .failure(error)
        }
        try await exec(adminClient, "DROP DATABASE IF EXISTS \"\(name)\" WITH (FORCE)")
        try result.get()
    }
}

private let threeMigrations: [MigrationFile] = {
    do {
        return [
            try migration(
                "0002_add_posts.sql",
                up: "CREATE TABLE posts (id bigserial PRIMARY KEY, author_id bigint REFERENCES authors(id));",
                down: "DROP TABLE posts;"),
            try migration(
                "0001_create_authors.sql",
                up: """
                    CREATE TABLE authors (id bigserial PRIMARY KEY, name text NOT NULL);
                    INSERT INTO authors (name) VALUES ('Ada; Lovelace');
                    """,
                down: "DROP TABLE authors;"),
            try migration(
                "0003_add_comments.sql",
                up: "CREATE TABLE comments (id bigserial PRIMARY KEY, post_id bigint REFERENCES posts(id));",
                down: "DROP TABLE comments;"),
        ]
    } catch {
        fatalError("fixture: \(error)")
    }
}()

// MARK: - Integration tests (real PostgreSQL)

@Suite("Migrator against PostgreSQL")
struct MigratorIntegrationTests {
    @Test("up applies pending migrations in version order and records them")
    func upAppliesInOrder() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let applied = try await migrator.up(threeMigrations)
            #expect(applied.map(\.version) == ["0001", "0002", "0003"])

            let rows = try await exec(client, "SELECT version, name, checksum, applied_at FROM trellis_migrations ORDER BY version")
            let decoded = try rows.map { try $0.decode((String, String, String, Date).self) }
            #expect(decoded.map(\.0) == ["0001", "0002", "0003"])
            #expect(decoded.map(\.1) == ["create_authors", "add_posts", "add_comments"])
            let byVersion = Dictionary(uniqueKeysWithValues: threeMigrations.map { ($0.version, $0.checksum) })
            for row in decoded {
                #expect(row.2 == byVersion[row.0])
                #expect(abs(row.3.timeIntervalSinceNow) < 300)
            }
            #expect(try await tableExists(client, "comments"))
            #expect(try await scalarInt(client, "SELECT count(*)::int FROM authors WHERE name = 'Ada; Lovelace'") == 1)
            #expect(try await advisoryLocks(client) == 0)
        }
    }

    @Test("status lists pending and applied migrations")
    func statusShowsPendingAndApplied() async throws {
        try await withScratchDatabase { clients in
            let migrator = Migrator(client: clients[0], logger: quietLogger)
            let before = try await migrator.status(threeMigrations)
            #expect(before.map(\.version) == ["0001", "0002", "0003"])
            #expect(before.allSatisfy { $0.applied == nil && !$0.checksumMismatch && !$0.fileMissing })

            let applied = try await migrator.up(threeMigrations, to: "0002")
            #expect(applied.map(\.version) == ["0001", "0002"])

            let after = try await migrator.status(threeMigrations)
            #expect(after.map(\.version) == ["0001", "0002", "0003"])
            #expect(after.map(\.isApplied) == [true, true, false])
            #expect(after.map(\.name) == ["create_authors", "add_posts", "add_comments"])
            #expect(after.allSatisfy { !$0.checksumMismatch })
        }
    }

    @Test("running up again is a no-op")
    func upIsIdempotent() async throws {
        try await withScratchDatabase { clients in
            let migrator = Migrator(client: clients[0], logger: quietLogger)
            #expect(try await migrator.up(threeMigrations).count == 3)
            let firstRun = try await exec(clients[0], "SELECT applied_at FROM trellis_migrations ORDER BY version")
                .map { try $0.decode(Date.self) }
            #expect(try await migrator.up(threeMigrations).isEmpty)
            let secondRun = try await exec(clients[0], "SELECT applied_at FROM trellis_migrations ORDER BY version")
                .map { try $0.decode(Date.self) }
            #expect(firstRun == secondRun)
            #expect(try await scalarInt(clients[0], "SELECT count(*)::int FROM authors") == 1)
        }
    }

    @Test("down rolls back the last applied migration, then more steps")
    func downRollsBack() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            try await migrator.up(threeMigrations)

            let rolledBack = try await migrator.down(threeMigrations)
            #expect(rolledBack.map(\.version) == ["0003"])
            #expect(try await !tableExists(client, "comments"))
            #expect(try await tableExists(client, "posts"))
            #expect(try await recordedVersions(client) == ["0001", "0002"])

            let more = try await migrator.down(threeMigrations, steps: 5)
            #expect(more.map(\.version) == ["0002", "0001"])
            #expect(try await recordedVersions(client).isEmpty)
            #expect(try await !tableExists(client, "authors"))
            #expect(try await migrator.down(threeMigrations).isEmpty)

            // And forward again.
            #expect(try await migrator.up(threeMigrations).count == 3)
        }
    }

    @Test("a failing migration names its file, keeps earlier ones and leaves nothing partial")
    func failingMigration() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let files = [
                try migration("0001_good.sql", up: "CREATE TABLE good (id int);", down: "DROP TABLE good;"),
                try migration(
                    "0002_broken.sql",
                    up: """
                        CREATE TABLE partial (id int);
                        INSERT INTO partial VALUES (1);
                        CREATE TABLE broken (
                            id int,
                            oops integr
                        );
                        """,
                    down: "DROP TABLE broken; DROP TABLE partial;"),
                try migration("0003_later.sql", up: "CREATE TABLE later (id int);", down: "DROP TABLE later;"),
            ]
            let error = await #expect(throws: MigrationError.self) {
                try await migrator.up(files)
            }
            guard case .sqlFailed(let file, let direction, let line, let message, let sqlState, _, _, let inTransaction)? = error
            else {
                Issue.record("expected sqlFailed, got \(String(describing: error))")
                return
            }
            #expect(file == "0002_broken.sql")
            #expect(direction == .up)
            #expect(message.contains("integr"))
            #expect(sqlState == "42704")
            // `-- migrate:up` is line 1; `oops integr` is line 6 of the file.
            #expect(line == 6)
            #expect(inTransaction)
            let description = String(describing: error!)
            #expect(description.contains("0002_broken.sql:6"))
            #expect(description.contains("rolled back"))

            #expect(try await recordedVersions(client) == ["0001"])
            #expect(try await tableExists(client, "good"))
            #expect(try await !tableExists(client, "partial"))
            #expect(try await !tableExists(client, "later"))
            #expect(try await advisoryLocks(client) == 0)

            // Fixing the file lets the run continue.
            var fixed = files
            fixed[1] = try migration("0002_broken.sql", up: "CREATE TABLE broken (id int);", down: "DROP TABLE broken;")
            #expect(try await migrator.up(fixed).map(\.version) == ["0002", "0003"])
        }
    }

    @Test("a changed applied migration is reported and nothing is applied")
    func checksumMismatch() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let first = try migration("0001_init.sql", up: "CREATE TABLE init (id int);", down: "DROP TABLE init;")
            try await migrator.up([first])

            let edited = try migration("0001_init.sql", up: "CREATE TABLE init (id bigint);", down: "DROP TABLE init;")
            let second = try migration("0002_next.sql", up: "CREATE TABLE next (id int);", down: "DROP TABLE next;")
            #expect(edited.checksum != first.checksum)

            let error = await #expect(throws: MigrationError.self) {
                try await migrator.up([edited, second])
            }
            guard case .checksumMismatch(let file, let version, let appliedChecksum, let fileChecksum)? = error else {
                Issue.record("expected checksumMismatch, got \(String(describing: error))")
                return
            }
            #expect(file == "0001_init.sql")
            #expect(version == "0001")
            #expect(appliedChecksum == first.checksum)
            #expect(fileChecksum == edited.checksum)
            let description = String(describing: error!)
            #expect(description.contains("Never edit an applied migration"))
            #expect(description.contains("new migration"))

            #expect(try await !tableExists(client, "next"))
            #expect(try await recordedVersions(client) == ["0001"])
            let status = try await migrator.status([edited, second])
            #expect(status.map(\.checksumMismatch) == [true, false])

            // Rolling back is refused too.
            await #expect(throws: MigrationError.self) {
                try await migrator.down([edited, second])
            }
            #expect(try await tableExists(client, "init"))
        }
    }

    @Test("concurrent up calls apply each migration exactly once")
    func concurrentUp() async throws {
        try await withScratchDatabase(clients: 2) { clients in
            var files = [
                try migration("0001_log.sql", up: "CREATE TABLE applications (version text NOT NULL);")
            ]
            for version in 2...4 {
                files.append(
                    try migration(
                        String(format: "%04d_step_%d.sql", version, version),
                        up: """
                            SELECT pg_sleep(0.1);
                            INSERT INTO applications VALUES ('\(version)');
                            CREATE TABLE step_\(version) (id int);
                            """))
            }
            let a = Migrator(client: clients[0], logger: quietLogger)
            let b = Migrator(client: clients[1], logger: quietLogger)
            async let first = a.up(files)
            async let second = b.up(files)
            let (appliedByA, appliedByB) = try await (first, second)

            let all = (appliedByA + appliedByB).map(\.version).sorted()
            #expect(all == ["0001", "0002", "0003", "0004"])
            #expect(Set(appliedByA.map(\.version)).isDisjoint(with: appliedByB.map(\.version)))
            #expect(try await scalarInt(clients[0], "SELECT count(*)::int FROM applications") == 3)
            #expect(
                try await scalarInt(clients[0], "SELECT count(DISTINCT version)::int FROM applications") == 3)
            #expect(try await recordedVersions(clients[0]) == ["0001", "0002", "0003", "0004"])
            #expect(try await advisoryLocks(clients[0]) == 0)
        }
    }

    @Test("-- migrate:no-transaction runs CREATE INDEX CONCURRENTLY")
    func noTransactionMigration() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let table = try migration("0001_items.sql", up: "CREATE TABLE items (id int, name text);", down: "DROP TABLE items;")
            let index = try MigrationFile(
                fileName: "0002_items_name_index.sql",
                contents: """
                    -- migrate:up
                    -- migrate:no-transaction
                    CREATE INDEX CONCURRENTLY items_name_idx ON items (name);

                    -- migrate:down
                    -- migrate:no-transaction
                    DROP INDEX CONCURRENTLY items_name_idx;
                    """)
            #expect(!index.upRunsInTransaction)
            #expect(!index.downRunsInTransaction)
            #expect(table.upRunsInTransaction)
            try await migrator.up([table, index])
            #expect(try await tableExists(client, "items_name_idx"))
            #expect(try await migrator.down([table, index]).map(\.version) == ["0002"])
            #expect(try await !tableExists(client, "items_name_idx"))

            // The same in a transaction fails, and says so.
            let inTransaction = try migration(
                "0002_items_name_index.sql", up: "CREATE INDEX CONCURRENTLY items_name_idx ON items (name);")
            let error = await #expect(throws: MigrationError.self) {
                try await migrator.up([table, inTransaction])
            }
            #expect(String(describing: error).contains("CREATE INDEX CONCURRENTLY cannot run inside a transaction block"))
        }
    }

    @Test("multi-statement files with functions, dollar quotes and BEGIN ATOMIC")
    func multiStatementFile() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let file = try MigrationFile(
                fileName: "0001_functions.sql",
                contents: """
                    -- A header comment; with a semicolon.
                    -- migrate:up
                    CREATE TABLE notes (id int PRIMARY KEY, body text NOT NULL); /* block; comment */
                    CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        NEW.body := NEW.body || ';';
                        RETURN NEW;
                    END;
                    $$;
                    CREATE TRIGGER notes_bump BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION bump();
                    CREATE FUNCTION twice(x int) RETURNS int LANGUAGE sql
                    BEGIN ATOMIC
                        SELECT x * 2;
                    END;
                    INSERT INTO notes VALUES (1, 'it''s; fine'), (2, E'back\\'slash;'), (3, $tag$dollar; $$ quoted$tag$);

                    -- migrate:down
                    DROP TABLE notes;
                    DROP FUNCTION bump();
                    DROP FUNCTION twice(int);
                    """)
            try await migrator.up([file])
            let bodies = try await exec(client, "SELECT body FROM notes ORDER BY id").map { try $0.decode(String.self) }
            #expect(bodies == ["it's; fine;", "back'slash;;", "dollar; $$ quoted;"])
            #expect(try await scalarInt(client, "SELECT twice(21)") == 42)
            try await migrator.down([file])
            #expect(try await !tableExists(client, "notes"))
        }
    }

    @Test("rolling back needs a down section; nothing is rolled back without one")
    func missingDownSection() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let files = [
                try migration("0001_a.sql", up: "CREATE TABLE a (id int);", down: "DROP TABLE a;"),
                try migration("0002_b.sql", up: "CREATE TABLE b (id int);"),
            ]
            try await migrator.up(files)
            let error = await #expect(throws: MigrationError.self) {
                try await migrator.down(files, steps: 2)
            }
            #expect(error == .missingDownSection(file: "0002_b.sql"))
            #expect(String(describing: error!).contains("0002_b.sql"))
            #expect(try await recordedVersions(client) == ["0001", "0002"])
            #expect(try await tableExists(client, "a"))
            await #expect(throws: MigrationError.invalidSteps(0)) {
                try await migrator.down(files, steps: 0)
            }
        }
    }

    @Test("an applied migration whose file is missing is listed by status and stops up")
    func appliedFileMissing() async throws {
        try await withScratchDatabase { clients in
            let migrator = Migrator(client: clients[0], logger: quietLogger)
            try await migrator.up(threeMigrations)
            let remaining = Array(threeMigrations.filter { $0.version != "0002" })
            let status = try await migrator.status(remaining)
            #expect(status.map(\.version) == ["0001", "0002", "0003"])
            #expect(status.map(\.fileMissing) == [false, true, false])
            #expect(status[1].name == "add_posts")
            #expect(status[1].isApplied)

            await #expect(throws: MigrationError.appliedFileMissing(version: "0002", name: "add_posts")) {
                try await migrator.up(remaining + [try migration("0004_more.sql", up: "SELECT 1;")])
            }
            await #expect(throws: MigrationError.unknownTarget(version: "0009")) {
                try await migrator.up(threeMigrations, to: "0009")
            }
        }
    }

    @Test("the lock and session are released after a failure, on the pooled connection")
    func sessionIsCleanAfterFailure() async throws {
        try await withScratchDatabase { clients in
            let client = clients[0]
            let migrator = Migrator(client: client, logger: quietLogger)
            let files = [
                try migration("0001_path.sql", up: "CREATE SCHEMA other; SET search_path TO other; CREATE TABLE t (id int);"),
                try migration("0002_fail.sql", up: "SELECT 1/0;"),
            ]
            await #expect(throws: MigrationError.self) {
                try await migrator.up(files)
            }
            #expect(try await advisoryLocks(client) == 0)
            let searchPath = try await exec(client, "SHOW search_path").first?.decode(String.self)
            #expect(searchPath == "\"$user\", public")
            #expect(try await recordedVersions(client) == ["0001"])
        }
    }
}

// MARK: - Files and folders

@Suite("Migration files")
struct MigrationFileTests {
    private func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-migrations-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    private func write(_ text: String, _ name: String, in dir: URL) throws {
        try Data(text.utf8).write(to: dir.appendingPathComponent(name))
    }

    @Test("load sorts by version, splits sections and checksums the whole file")
    func loadSorts() throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let second = "-- migrate:up\nCREATE TABLE b (id int);\n-- migrate:down\nDROP TABLE b;\n"
        try write(second, "0010_b.sql", in: dir)
        try write("-- migrate:up\nCREATE TABLE a (id int);\n", "0002_a.sql", in: dir)
        try write("notes", "README.md", in: dir)
        let files = try MigrationDirectory.load(dir)
        #expect(files.map(\.version) == ["0002", "0010"])
        #expect(files.map(\.name) == ["a", "b"])
        #expect(files[1].up == "CREATE TABLE b (id int);")
        #expect(files[1].down == "DROP TABLE b;\n")
        #expect(files[0].down == "")
        #expect(!files[0].hasDown)
        #expect(files[1].checksum == MigrationChecksum.sha256Hex(second))
        #expect(files[1].fileName == "0010_b.sql")
        #expect(try MigrationDirectory.load(dir.appendingPathComponent("missing")).isEmpty)
    }

    @Test("errors name the file: missing up, duplicate version, bad name, SQL above up")
    func loadErrors() throws {
        let cases: [(name: String, text: String, expect: (MigrationError) -> Bool)] = [
            ("0001_x.sql", "CREATE TABLE x (id int);\n", {
                if case .malformedFile(let file, 1, _) = $0 { return file.hasSuffix("/0001_x.sql") }
                return false
            }),
            ("0001_x.sql", "-- just a comment\n-- migrate:down\nDROP TABLE x;\n", {
                if case .missingUpSection(let file) = $0 { return file.hasSuffix("/0001_x.sql") }
                return false
            }),
            ("0001_x.sql", "-- migrate:up\n-- nothing yet\n-- migrate:down\n", {
                if case .emptyUpSection(let file) = $0 { return file.hasSuffix("/0001_x.sql") }
                return false
            }),
            ("0001_x.sql", "-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;\n", {
                if case .malformedFile(_, 3, _) = $0 { return true }
                return false
            }),
            ("create_x.sql", "-- migrate:up\nSELECT 1;\n", {
                if case .invalidFileName(let file, _) = $0 { return file.hasSuffix("/create_x.sql") }
                return false
            }),
            ("0001_Create-X.sql", "-- migrate:up\nSELECT 1;\n", {
                if case .invalidFileName(let file, _) = $0 { return file.hasSuffix("/0001_Create-X.sql") }
                return false
            }),
        ]
        for testCase in cases {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(at: dir) }
            try write(testCase.text, testCase.name, in: dir)
            do {
                _ = try MigrationDirectory.load(dir)
                Issue.record("\(testCase.name) with \(testCase.text.debugDescription) loaded without error")
            } catch let error as MigrationError {
                #expect(testCase.expect(error), "unexpected error \(error)")
                #expect(error.description.contains(testCase.name))
            }
        }

        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        try write("-- migrate:up\nSELECT 1;\n", "0003_one.sql", in: dir)
        try write("-- migrate:up\nSELECT 2;\n", "3_two.sql", in: dir)
        #expect {
            _ = try MigrationDirectory.load(dir)
        } throws: { error in
            guard case .duplicateVersion(_, let files) = error as? MigrationError else { return false }
            return files.count == 2 && files.contains { $0.hasSuffix("0003_one.sql") } && files.contains { $0.hasSuffix("3_two.sql") }
        }
    }

    @Test("create numbers files and sanitizes names")
    func createNumbers() throws {
        let dir = try temporaryDirectory().appendingPathComponent("migrations")
        defer { try? FileManager.default.removeItem(at: dir.deletingLastPathComponent()) }
        let first = try MigrationDirectory.create(in: dir, name: "Create Agents!")
        #expect(first.lastPathComponent == "0001_create_agents.sql")
        let second = try MigrationDirectory.create(in: dir, name: "add-index  (name)")
        #expect(second.lastPathComponent == "0002_add_index_name.sql")
        let third = try MigrationDirectory.create(
            in: dir, name: "tags", up: "ALTER TABLE agents ADD tags jsonb;", down: "ALTER TABLE agents DROP tags;")
        #expect(third.lastPathComponent == "0003_tags.sql")
        let template = try String(contentsOf: first, encoding: .utf8)
        #expect(template.contains("-- migrate:up\n"))
        #expect(template.contains("-- migrate:down\n"))
        // An untouched template is refused by load: it would record an empty migration.
        #expect(throws: MigrationError.emptyUpSection(file: first.path)) {
            _ = try MigrationDirectory.load(dir)
        }
        try FileManager.default.removeItem(at: first)
        try FileManager.default.removeItem(at: second)
        let files = try MigrationDirectory.load(dir)
        #expect(files.count == 1)
        #expect(files[0].up == "ALTER TABLE agents ADD tags jsonb;\n")
        #expect(files[0].down.hasPrefix("ALTER TABLE agents DROP tags;"))
        #expect(try MigrationDirectory.create(in: dir, name: "next").lastPathComponent == "0004_next.sql")
        #expect(throws: MigrationError.invalidName("!!!")) {
            _ = try MigrationDirectory.create(in: dir, name: "!!!")
        }
    }

    @Test("no-transaction marker on the file's first line applies to both sections")
    func fileLevelNoTransaction() throws {
        let file = try MigrationFile(
            fileName: "0001_idx.sql",
            contents: "-- migrate:no-transaction\n-- migrate:up\nCREATE INDEX CONCURRENTLY i ON t (x);\n-- migrate:down\nDROP INDEX CONCURRENTLY i;\n")
        #expect(!file.upRunsInTransaction)
        #expect(!file.downRunsInTransaction)
    }
}

// MARK: - SQL splitting

@Suite("SQL statement splitter")
struct SQLStatementSplitterTests {
    private func split(_ sql: String) -> [String] {
        SQLStatementSplitter.split(sql).map(\.sql)
    }

    @Test("splits on semicolons outside quotes and comments")
    func basics() {
        #expect(split("SELECT 1; SELECT 2;") == ["SELECT 1;", "SELECT 2;"])
        #expect(split("SELECT 1") == ["SELECT 1"])
        #expect(split("  -- only a comment\n/* and ; this */\n") == [])
        #expect(split("SELECT ';'; SELECT \"a;b\" FROM t;") == ["SELECT ';';", "SELECT \"a;b\" FROM t;"])
        #expect(split("SELECT 'it''s;'; SELECT 2") == ["SELECT 'it''s;';", "SELECT 2"])
        #expect(split("SELECT E'a\\';b'; SELECT 2") == ["SELECT E'a\\';b';", "SELECT 2"])
        #expect(split("SELECT 1 -- trailing; comment\n; SELECT 2") == ["SELECT 1 -- trailing; comment\n;", "SELECT 2"])
        #expect(split("SELECT /* a /* nested; */ b; */ 1; SELECT 2") == ["SELECT /* a /* nested; */ b; */ 1;", "SELECT 2"])
    }

    @Test("dollar quotes")
    func dollarQuotes() {
        #expect(split("SELECT $$a;b$$; SELECT $x$ $$; $x$;") == ["SELECT $$a;b$$;", "SELECT $x$ $$; $x$;"])
        // $1 is a parameter, not a quote; identifiers may contain $.
        #expect(split("SELECT $1; SELECT a$b; SELECT 3") == ["SELECT $1;", "SELECT a$b;", "SELECT 3"])
    }

    @Test("BEGIN ATOMIC bodies stay whole; a transaction BEGIN does not")
    func beginAtomic() {
        let sql = """
            CREATE OR REPLACE FUNCTION f(x int) RETURNS int LANGUAGE sql
            BEGIN ATOMIC
              SELECT CASE WHEN x > 0 THEN 1 ELSE 0 END;
              SELECT x;
            END;
            BEGIN; SELECT 1; COMMIT;
            """
        let parts = split(sql)
        #expect(parts.count == 4)
        #expect(parts[0].hasPrefix("CREATE OR REPLACE FUNCTION") && parts[0].hasSuffix("END;"))
        #expect(Array(parts.dropFirst()) == ["BEGIN;", "SELECT 1;", "COMMIT;"])
    }

    @Test("reports the line each statement starts on")
    func lines() {
        let statements = SQLStatementSplitter.split("\n-- c\nSELECT 1;\n\n  SELECT\n 2;")
        #expect(statements.map(\.line) == [3, 5])
    }
}

// MARK: - Checksums

@Suite("Migration checksums (SHA-256)")
struct MigrationChecksumTests {
    @Test("known vectors")
    func vectors() {
        #expect(MigrationChecksum.sha256Hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(MigrationChecksum.sha256Hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            MigrationChecksum.sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            MigrationChecksum.sha256Hex(String(repeating: "a", count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
        // 55, 56 and 64 bytes: the padding edge cases.
        #expect(
            MigrationChecksum.sha256Hex(String(repeating: "a", count: 55))
                == "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318")
        #expect(
            MigrationChecksum.sha256Hex(String(repeating: "a", count: 56))
                == "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a")
        #expect(
            MigrationChecksum.sha256Hex(String(repeating: "a", count: 64))
                == "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb")
    }
}

// MARK: - Database URLs

@Suite("Database URLs")
struct DatabaseURLTests {
    @Test("parses user, password, host, port and database, percent-decoded")
    func parses() throws {
        let url = try DatabaseURL("postgres://trellis_app:p%40ss%3Aw%2Ford@127.0.0.1:54329/trellis_dev")
        #expect(url.username == "trellis_app")
        #expect(url.password == "p@ss:w/ord")
        #expect(url.host == "127.0.0.1")
        #expect(url.port == 54329)
        #expect(url.database == "trellis_dev")
        #expect(url.sslMode == .prefer)
        #expect(url.description == "postgres://trellis_app:***@127.0.0.1:54329/trellis_dev")

        let minimal = try DatabaseURL("postgresql://postgres@localhost")
        #expect(minimal.port == 5432)
        #expect(minimal.password == nil)
        #expect(minimal.database == nil)

        let ipv6 = try DatabaseURL("postgres://u:p@[::1]:6543/db?sslmode=disable&application_name=trellis")
        #expect(ipv6.host == "::1")
        #expect(ipv6.port == 6543)
        #expect(ipv6.sslMode == .disable)
        #expect(ipv6.applicationName == "trellis")

        // sslrootcert: the certificates verify-ca and verify-full trust, for both clients alike.
        let verified = try DatabaseURL("postgres://u:p@db.example/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20bundle.pem")
        #expect(verified.sslRootCertificates == "/etc/ca bundle.pem")
        #expect(verified.description == "postgres://u:***@db.example:5432/app?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20bundle.pem")
        if case let .require(settings) = verified.tls {
            #expect(settings.certificateVerification == .fullVerification)
            #expect(settings.trustRoots == .file("/etc/ca bundle.pem"))
        } else {
            Issue.record("verify-full must require TLS")
        }
        if case .require = verified.pipelineConfiguration().tls {} else { Issue.record("verify-full must require TLS on the pipeline") }
        if case .prefer = try DatabaseURL("postgres://u@h/db").tls {} else { Issue.record("prefer: TLS when offered") }
        if case .prefer = try DatabaseURL("postgres://u@h/db").pipelineConfiguration().tls {} else { Issue.record("prefer must prefer TLS") }
        if case .disable = try DatabaseURL("postgres://u@h/db?sslmode=disable").tls {} else { Issue.record("disable: no TLS") }

        let configuration = try postgresConfiguration(fromURL: "postgres://a:b@db.internal:5433/app?connect_timeout=3")
        #expect(configuration.host == "db.internal")
        #expect(configuration.port == 5433)
        #expect(configuration.username == "a")
        #expect(configuration.password == "b")
        #expect(configuration.database == "app")
        #expect(configuration.options.connectTimeout == .seconds(3))
        let viaInit = try PostgresClient.Configuration(url: "postgres://a@h/d")
        #expect(viaInit.host == "h")
    }

    @Test("errors say what is wrong and never echo the password")
    func errors() {
        let secret = "hunter2secret"
        let bad = [
            "",
            "mysql://u:\(secret)@h/db",
            "postgres://u:\(secret)@h:99999/db",
            "postgres://:\(secret)@h/db",
            "postgres://u:\(secret)@/db",
            "postgres://u:\(secret)%zz@h/db",
            "postgres://u:\(secret)@h/db?sslmode=sometimes",
            "postgres://u:\(secret)@h/db?sslrootcert=",
            "postgres://u:\(secret)@h/db?pool=5",
            "u:\(secret)@h/db",
        ]
        for text in bad {
            do {
                _ = try DatabaseURL(text)
                Issue.record("accepted \(text)")
            } catch {
                let description = String(describing: error)
                #expect(description.hasPrefix("invalid database URL: "))
                #expect(!description.contains(secret), "leaked the password: \(description)")
            }
        }
    }
}
