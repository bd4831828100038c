import Foundation
import Logging
import PostgresNIO
import Testing
@testable import TrellisRuntime

@Suite("Revocation reaches every instance within a second, however late the commit or the poll")
struct RevocationTests {
    @Test func aRevocationThatCommitsSlowlyIsStillSeenWithinASecondOfItsCommit() async throws {
        try await withApp(scopes: ["agents:read"]) { client, _ in
            #expect(try await client.send(.get, "/v1/agents").status == .ok)  // cached on this instance
            let keyID = try #require(APIKeyToken(parsing: Substring(client.bearer))).id
            // Another instance revokes, stamping the row at once but committing 6 s later
            // (longer than the old fixed 5 s look-back window).
            try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
                try await owner.withConnection { connection in
                    let logger = Logger(label: "test")
                    _ = try await connection.query("BEGIN", logger: logger)
                    _ = try await connection.query(
                        "UPDATE api_keys SET revoked_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = \(keyID)",
                        logger: logger)
                    _ = try await connection.query("SELECT pg_sleep(6)", logger: logger).collect()
                    _ = try await connection.query("COMMIT", logger: logger)
                }
            }
            let committed = ContinuousClock.now
            var refused = false
            while !refused, ContinuousClock.now - committed < .seconds(3) {
                refused = try await client.send(.get, "/v1/agents").status == .unauthorized
                if !refused { try await Task.sleep(for: .milliseconds(50)) }
            }
            #expect(refused, "the key was still accepted 3 s after its revocation committed")
            #expect(ContinuousClock.now - committed < .milliseconds(1_500))
        }
    }

    @Test func aLatePollStillEvictsEveryKeyChangedSinceThePreviousOne() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let key = try await makeKey(workspace: workspace, scopes: ["agents:read"])
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let cache = APIKeyCache()
            let refresher = APIKeyCacheRefresher(postgres: client, cache: cache, logger: logger)
            let entry = APIKeyCache.Entry(
                workspaceID: workspace, secretHash: key.token.secretHash, scopes: ScopeSet(["agents:read"]), expiresAt: nil, loadedAt: .now)
            cache.insert(key.record.id, entry, lookedUpAt: cache.generation)
            // The previous poll ran 10 s ago (its mark, in the database's clock).
            let previousMark = try #require(
                try await client.query("SELECT statement_timestamp() - interval '10 seconds'", logger: logger).decode(Date.self).all().first)
            // The key was revoked 8 s ago: after that poll, but outside any fixed 5 s window.
            try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
                _ = try await owner.query("UPDATE api_keys SET revoked_at = clock_timestamp() WHERE id = \(key.record.id)", logger: logger)
                _ = try await owner.query(
                    "UPDATE api_keys SET updated_at = updated_at - interval '8 seconds' WHERE id = \(key.record.id)", logger: logger)
            }
            cache.applyPoll(changed: [], startedAt: .now)
            #expect(cache.trustedEntry(key.record.id) != nil)
            let mark = try await refresher.poll(since: previousMark, startedAt: .now)
            #expect(cache.trustedEntry(key.record.id) == nil, "the late poll missed a revocation made after the previous poll")
            #expect(mark > previousMark)
        }
    }

    @Test func theCommitStampIgnoresLastUseBatches() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let key = try await makeKey(workspace: workspace, scopes: ["agents:read"])
        let logger = Logger(label: "test")
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let before = try await withInspector { inspector in
                try await inspector.query("SELECT updated_at FROM api_keys WHERE id = \(key.record.id)", logger: logger).decode(Date.self).all().first
            }
            _ = try await client.query("SELECT trellis_api_keys_touch(\([key.record.id]), now())", logger: logger)
            let after = try await withInspector { inspector in
                try await inspector.query("SELECT updated_at, last_used_at FROM api_keys WHERE id = \(key.record.id)", logger: logger)
                    .decode((Date, Date?).self).all().first
            }
            #expect(after?.1 != nil)
            #expect(after?.0 == before)  // a last-use stamp must not churn every instance's cache
        }
    }
}
