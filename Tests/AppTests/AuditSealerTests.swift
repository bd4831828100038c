import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
@testable import TrellisRuntime

private func unsealed(_ workspace: UUID) async throws -> Int {
    try await withInspector { client in
        try await client.query("SELECT count(*)::bigint FROM audit_log WHERE workspace_id = \(workspace) AND seq IS NULL",
                               logger: Logger(label: "test")).decode(Int64.self).all().first.map(Int.init) ?? -1
    }
}

@Suite("The audit chain is sealed off the write path")
struct AuditSealerTests {
    @Test func anAuditedWriteDoesNotWaitForItsWorkspacesChainHead() async throws {
        try await withApp { client, workspace in
            #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"first"}"#).status == .created)
            // Hold the chain head, as a long sealing round (or the old insert trigger) would.
            let holding = NIOLockedValueBox(false)
            let holder = Task {
                try await withInspector { inspector in
                    try await inspector.withConnection { connection in
                        let logger = Logger(label: "test")
                        _ = try await connection.query(
                            "INSERT INTO audit_chain_heads VALUES (\(workspace), 0, decode(repeat('00', 32), 'hex')) ON CONFLICT DO NOTHING",
                            logger: logger)
                        _ = try await connection.query("BEGIN", logger: logger)
                        _ = try await connection.query(
                            "SELECT 1 FROM audit_chain_heads WHERE workspace_id = \(workspace) FOR UPDATE", logger: logger).collect()
                        holding.withLockedValue { $0 = true }
                        try? await Task.sleep(for: .seconds(20))
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                    }
                }
            }
            defer { holder.cancel() }
            while !holding.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
            // A write that queued for the head would wait out the 5 s lock_timeout and fail (a
            // 503); a prompt one takes milliseconds, and 3 s each leaves room for a busy machine.
            for i in 0..<5 {
                let started = ContinuousClock.now
                #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"while held \#(i)"}"#).status == .created)
                #expect(ContinuousClock.now - started < .seconds(3), "an audited write waited for the chain head")
            }
            holder.cancel()
        }
    }

    @Test func entriesAreSealedWithinASecondAndTheChainVerifies() async throws {
        let workspace = try await withApp { client, workspace in
            for i in 0..<20 { _ = try await client.send(.post, "/v1/tools", json: #"{"name":"t\#(i)"}"#) }
            let deadline = ContinuousClock.now + .seconds(2)
            while try await unsealed(workspace) > 0, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(try await unsealed(workspace) == 0, "entries were still unsealed 2 s after their writes")
            return workspace
        }
        let report = try #require(try await AuditLogTests.verify(workspace))
        #expect(report.brokenLink == nil)
        #expect(report.entries >= 21)
        #expect(report.staleUnsealed == 0)
    }

    @Test func concurrentSealersNeverSealAnEntryTwice() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
            for i in 0..<300 {
                _ = try await owner.query(
                    "INSERT INTO audit_log (workspace_id, actor, action) VALUES (\(workspace), 'test', \("test.\(i)"))", logger: logger)
            }
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
                        try await AuditSealer.sealAll(client, logger: logger)
                    }
                }
            }
            try await group.waitForAll()
        }
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            try await AuditSealer.sealAll(client, logger: logger)
        }
        #expect(try await unsealed(workspace) == 0)
        let report = try #require(try await AuditLogTests.verify(workspace))
        #expect(report.entries == 300)
        #expect(report.brokenLink == nil)
    }

    @Test func anEntryThatCommitsLateIsSealedAfterTheOthersAndTheChainHolds() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
            try await owner.withConnection { slow in
                _ = try await slow.query("BEGIN", logger: logger)
                _ = try await slow.query(
                    "INSERT INTO audit_log (workspace_id, actor, action) VALUES (\(workspace), 'test', 'slow')", logger: logger)
                // Later entries commit and are sealed first.
                try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { other in
                    for i in 0..<3 {
                        _ = try await other.query(
                            "INSERT INTO audit_log (workspace_id, actor, action) VALUES (\(workspace), 'test', \("fast.\(i)"))", logger: logger)
                    }
                    try await AuditSealer.sealAll(other, logger: logger)
                }
                _ = try await slow.query("COMMIT", logger: logger)
            }
        }
        // The late entry is sealed by the next sealing pass, here run by the test itself (it
        // relied on another test's server to run one, and once verified before any did).
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            try await AuditSealer.sealAll(client, logger: logger)
        }
        let report = try #require(try await AuditLogTests.verify(workspace))
        #expect(report.brokenLink == nil)
        #expect(report.entries == 4)
        let last = try await withInspector { client in
            try await client.query("SELECT action FROM audit_log WHERE workspace_id = \(workspace) ORDER BY seq DESC LIMIT 1",
                                   logger: logger).decode(String.self).all().first
        }
        #expect(last == "slow")
    }

    @Test func verifyReportsEntriesNoSealerTookForAMinute() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let logger = Logger(label: "test")
        // Keep every sealer (other tests run theirs) away from this workspace: they skip a
        // workspace whose chain head is locked.
        let holding = NIOLockedValueBox(false)
        let release = NIOLockedValueBox(false)
        let holder = Task {
            try await withInspector { inspector in
                try await inspector.withConnection { connection in
                    _ = try await connection.query(
                        "INSERT INTO audit_chain_heads VALUES (\(workspace), 0, decode(repeat('00', 32), 'hex'))", logger: logger)
                    _ = try await connection.query("BEGIN", logger: logger)
                    _ = try await connection.query(
                        "SELECT 1 FROM audit_chain_heads WHERE workspace_id = \(workspace) FOR UPDATE", logger: logger).collect()
                    holding.withLockedValue { $0 = true }
                    while !release.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
                    _ = try await connection.query("COMMIT", logger: logger)
                }
            }
        }
        while !holding.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
            _ = try await owner.query(
                """
                INSERT INTO audit_log (workspace_id, actor, action, occurred_at)
                VALUES (\(workspace), 'test', 'old', clock_timestamp() - interval '2 minutes')
                """, logger: logger)
        }
        let waiting = try await AuditLogTests.verify(workspace)
        #expect(waiting?.staleUnsealed == 1)
        #expect(waiting?.entries == 0)
        release.withLockedValue { $0 = true }
        try await holder.value
        let sealed = try #require(try await AuditLogTests.verify(workspace))
        #expect(sealed.entries == 1)
        #expect(sealed.brokenLink == nil)
        #expect(try await unsealed(workspace) == 0)
    }

    @Test func theSealerCannotBeUsedToRewriteASealedEntry() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
            _ = try await owner.query("INSERT INTO audit_log (workspace_id, actor, action) VALUES (\(workspace), 'test', 'x')", logger: logger)
            try await AuditSealer.sealAll(owner, logger: logger)
            do {
                try await owner.withTransaction(logger: logger) { connection in
                    _ = try await connection.query("SELECT set_config('trellis.audit_sealing', 'on', true)", logger: logger)
                    _ = try await connection.query(
                        "UPDATE audit_log SET seq = NULL, hash = NULL, prev_hash = NULL WHERE workspace_id = \(workspace)", logger: logger)
                }
                Issue.record("a sealed entry was unsealed")
            } catch let error as PostgresTransactionError {
                let psql = try #require(error.closureError as? PSQLError)
                #expect(psql.serverInfo?[.message]?.contains("append-only") == true)
            }
        }
    }
}
