import App
import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

/// `trellis backup` / `trellis restore` (issue 12, item 4) against the test cluster: a database
/// populated through the API is backed up (sealed), restored into a new one, and the restored
/// one serves the same objects to the same key, with every row count and the audit chain
/// intact; and every reason to refuse a restore is found before anything is written.
@Suite("backup and restore (issue 12)", .serialized)
struct BackupRestoreTests {
    let logger = silentLogger

    @Test func aSealedBackupRestoredIntoANewDatabaseServesTheSameObjectsToTheSameKey() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        try await ScratchDatabase.with(migrated: true) { source in
            try await source.addWorkspace(workspace)
            let key = try await source.makeKey(workspace: workspace)
            // Objects written through the API (so each has its audit entry), read back as the API shows them.
            let originals: [String: JSONValue] = try await withApp(workspace: workspace, databaseURL: source.appURL) { client, _ in
                let swarm = try await client.send(.post, "/v1/swarms", json: #"{"name":"Crew"}"#, as: .bearer(key)).object().id()
                var shown: [String: JSONValue] = [:]
                for (i, name) in ["Ada", "Grace", "Linus"].enumerated() {
                    let id = try await client.send(
                        .post, "/v1/agents", json: #"{"name":"\#(name)","swarm_id":"\#(swarm)","tags":["t\#(i)"],"config":{"n":\#(i)}}"#,
                        as: .bearer(key)
                    ).object().id()
                    shown["/v1/agents/\(id)"] = try await client.send(.get, "/v1/agents/\(id)", as: .bearer(key)).json
                }
                shown["/v1/swarms/\(swarm)"] = try await client.send(.get, "/v1/swarms/\(swarm)", as: .bearer(key)).json
                return shown
            }
            #expect(originals.count == 4)

            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-backup-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let backupKey = try BackupKey(base64: Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString())
            let manifest = try await DatabaseBackup.create(
                source: source.backupURL, into: folder, key: backupKey, timeout: .seconds(120), logger: logger)
            #expect(manifest.rowCounts["agents"] == 3)
            #expect(manifest.rowCounts["swarms"] == 1)
            #expect(manifest.rowCounts["api_keys"] == 1)
            #expect(manifest.schemaVersion == manifest.migrations.last?.version)
            #expect(manifest.migrations.count == (try Self.migrationFiles()).count)
            #expect(manifest.dump.encryption == "AES-256-GCM" && manifest.dump.keyFingerprint == backupKey.fingerprint)
            // The dump on disk is sealed: no agent's name in it.
            let stored = try Data(contentsOf: folder.appendingPathComponent(manifest.dump.file))
            #expect(stored.range(of: Data("Grace".utf8)) == nil)

            try await ScratchDatabase.with(migrated: false) { target in
                let report = try await DatabaseBackup.restore(
                    from: folder, into: target.ownerURL, verifyingAs: target.backupURL, key: backupKey,
                    migrations: try Self.migrationFiles(), timeout: .seconds(120), logger: logger)
                #expect(report.tablesChecked == manifest.rowCounts.count)
                #expect(report.rows == manifest.rowCounts.values.reduce(0, +))
                #expect(report.pendingMigrations.isEmpty)

                // Counted independently of the restore's own check.
                let agents = try await target.asBackupRole { client in
                    try await client.query("SELECT count(*)::bigint FROM agents WHERE workspace_id = \(workspace)", logger: logger)
                        .collect().first?.decode(Int64.self)
                }
                #expect(agents == 3)

                // The same key, on a server over the restored database, sees exactly what it saw.
                try await withApp(workspace: workspace, databaseURL: target.appURL) { client, _ in
                    for (path, original) in originals {
                        let response = try await client.send(.get, path, as: .bearer(key))
                        #expect(response.status == .ok, "\(path): \(response.text)")
                        #expect(try response.json == original, "\(path)")
                    }
                    let list = try await client.send(.get, "/v1/agents?limit=10", as: .bearer(key)).object()
                    #expect(list.array("data").count == 3)
                }

                // The audit chain came across whole: every write above, linked and intact.
                let reports = try await target.asOwner { client in
                    try await AuditChainVerifier.verify(client, workspace: workspace, logger: logger)
                }
                #expect(reports.count == 1)
                #expect(reports.first?.entries ?? 0 >= 4)
                #expect(reports.first?.brokenLink == nil)
            }
        }
    }

    @Test func aRestoreRefusesADamagedDumpAWrongKeyOtherMigrationsOrAFullTargetBeforeWritingAnything() async throws {
        try await ScratchDatabase.with(migrated: true) { source in
            try await source.addWorkspace(try await TestDatabase.shared.makeWorkspace())
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-backup-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: folder) }
            let backupKey = try BackupKey(base64: Data(repeating: 3, count: 32).base64EncodedString())
            let manifest = try await DatabaseBackup.create(
                source: source.backupURL, into: folder, key: backupKey, timeout: .seconds(120), logger: logger)
            let files = try Self.migrationFiles()

            // Backing up again into the same folder, or through a role bound by RLS.
            await expectRefusal("already exists") {
                _ = try await DatabaseBackup.create(source: source.backupURL, into: folder, key: nil, timeout: .seconds(60), logger: logger)
            }
            let ownerFolder = folder.appendingPathExtension("owner")
            defer { try? FileManager.default.removeItem(at: ownerFolder) }
            await expectRefusal("does not bypass row-level security") {
                _ = try await DatabaseBackup.create(source: source.ownerURL, into: ownerFolder, key: nil, timeout: .seconds(60), logger: logger)
            }

            try await ScratchDatabase.with(migrated: false) { target in
                func restore(_ from: URL, key: BackupKey? = backupKey, migrations: [MigrationFile] = files) async throws {
                    _ = try await DatabaseBackup.restore(
                        from: from, into: target.ownerURL, verifyingAs: target.backupURL, key: key, migrations: migrations,
                        timeout: .seconds(60), logger: logger)
                }
                await expectRefusal("set TRELLIS_BACKUP_KEY") { try await restore(folder, key: nil) }
                await expectRefusal("fingerprint is \(backupKey.fingerprint)") {
                    try await restore(folder, key: try BackupKey(base64: Data(repeating: 4, count: 32).base64EncodedString()))
                }
                var changed = files
                changed[3].checksum = String(repeating: "0", count: 64)
                await expectRefusal("migration \(files[3].fileName) changed since the backup") { try await restore(folder, migrations: changed) }
                await expectRefusal("which this build's migrations/ lacks") { try await restore(folder, migrations: Array(files.dropLast())) }
                // A build with one more migration restores, and says what `migrate up` will apply.
                #expect(try DatabaseBackup.checkMigrations(manifest.migrations, against: files + [try MigrationFile(
                    fileName: "9999_later.sql", contents: "-- migrate:up\nSELECT 1;\n-- migrate:down\nSELECT 1;\n")]).map(\.fileName) == ["9999_later.sql"])

                // A flipped byte: the checksum catches it. With the manifest's checksum forged to match, the seal does.
                let damaged = folder.deletingLastPathComponent().appendingPathComponent("damaged-\(UUID().uuidString)")
                defer { try? FileManager.default.removeItem(at: damaged) }
                try FileManager.default.copyItem(at: folder, to: damaged)
                let dump = damaged.appendingPathComponent(manifest.dump.file)
                var bytes = [UInt8](try Data(contentsOf: dump))
                bytes[bytes.count / 2] ^= 0x40
                try Data(bytes).write(to: dump)
                await expectRefusal("does not match its manifest") { try await restore(damaged) }
                var forged = manifest
                forged.dump.sha256 = try DatabaseBackup.digest(of: dump).sha256
                try forged.write(to: damaged)
                await expectRefusal("does not match its MAC") { try await restore(damaged) }
                // Even re-signed (only the key's holder could), the altered chunk is refused by the seal.
                try forged.signed(with: backupKey).write(to: damaged)
                await expectRefusal("does not authenticate") { try await restore(damaged) }
                // A manifest edited to claim other counts is refused before anything is written.
                var inflated = manifest
                inflated.rowCounts["agents"] = 1000
                try inflated.write(to: damaged)
                try Data(contentsOf: folder.appendingPathComponent(manifest.dump.file)).write(to: dump)
                await expectRefusal("does not match its MAC") { try await restore(damaged) }
                #expect(try manifest.mac != nil && manifest.isAuthentic(under: backupKey))

                // Nothing of the refused restores reached the target.
                #expect(try await target.relationCount() == 0)
                // The source is not empty: refused before pg_restore runs.
                await expectRefusal("is not empty") {
                    _ = try await DatabaseBackup.restore(
                        from: folder, into: source.ownerURL, verifyingAs: source.backupURL, key: backupKey, migrations: files,
                        timeout: .seconds(60), logger: logger)
                }
                // And the good backup still restores into the target the refusals left alone.
                try await restore(folder)
                #expect(try await target.relationCount() > 0)
            }
        }
    }

    static func migrationFiles() throws -> [MigrationFile] {
        try MigrationDirectory.load(TestEnvironment.repositoryRoot.appendingPathComponent("migrations"))
    }
}

/// Fails the test unless `body` throws a ``BackupError`` whose message contains `words`.
func expectRefusal(_ words: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("no refusal; expected one mentioning '\(words)'", sourceLocation: sourceLocation)
    } catch let error as BackupError {
        #expect(error.message.contains(words), "\(error.message)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a BackupError mentioning '\(words)', got \(error)", sourceLocation: sourceLocation)
    }
}
