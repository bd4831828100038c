import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
@testable import TrellisRuntime

@Suite("Revocation reaches every instance within a second, however late the commit or the poll")
struct RevocationTests {
    /// The fixed look-back of the refresher before the fix (issue 7 item 2): a revocation
    /// whose transaction stayed open longer than this was never seen by any poll.
    static let preFixLookBack: Duration = .seconds(5)

    @Test func aRevocationThatCommitsSlowlyIsStillSeenWithinASecondOfItsCommit() async throws {
        let keyCache = NIOLockedValueBox<APIKeyCache?>(nil)
        try await withApp(scopes: ["agents:read"], configure: { _, services in
            keyCache.withLockedValue { $0 = services.authenticator.keyCache }
        }) { client, _ in
            let cache = try #require(keyCache.withLockedValue { $0 })
            #expect(try await client.send(.get, "/v1/agents").status == .ok)
            let keyID = try #require(APIKeyToken(parsing: Substring(client.bearer))).id
            // Another instance revokes (as APIKeys.revoke does), stamping the row at once but
            // committing only once that stamp, and the key's creation, are older than any
            // look-back (the old fixed window, and the overlap each poll now allows): only the
            // stamp made at commit (migration 0006) lets a poll see the revocation then.
            let aged = max(Self.preFixLookBack, APIKeyCache.pollOverlap) + .milliseconds(500)
            try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
                try await owner.withConnection { connection in
                    let logger = Logger(label: "test")
                    _ = try await connection.query("BEGIN", logger: logger)
                    _ = try await connection.query(
                        "UPDATE api_keys SET revoked_at = clock_timestamp(), updated_at = clock_timestamp() WHERE id = \(keyID)",
                        logger: logger)
                    let seconds = Double(aged.components.seconds) + Double(aged.components.attoseconds) / 1e18
                    _ = try await connection.query("SELECT pg_sleep(\(seconds))", logger: logger).collect()
                    // While the revocation is still uncommitted this instance verifies the key
                    // again and caches it: the entry the commit must evict. (The entry of the
                    // first request is gone: the polls that saw the key's creation evicted it,
                    // which is why a key made just before, never cached again, proves nothing.)
                    let cached = try await eventually(timeout: .seconds(5), interval: .milliseconds(50)) {
                        try await client.send(.get, "/v1/agents").status == .ok && cache.holdsEntry(keyID)
                    }
                    _ = try await connection.query("COMMIT", logger: logger)
                    #expect(cached, "the key was not cached again before the revocation committed")
                }
            }
            let committed = ContinuousClock.now
            // Revocation reaches every instance within a second: allow that and one poll
            // interval, then every request until the end of the window must be refused.
            // The window ends 3 s after the commit, and not before a few requests went out after
            // the grace: a refusal can take seconds on a busy machine (it is audited).
            let grace = .seconds(1) + APIKeyCache.pollInterval
            let window: Duration = .seconds(3)
            var answers: [(sent: Duration, status: HTTPResponse.Status)] = []
            var late: [(sent: Duration, status: HTTPResponse.Status)] { answers.filter { $0.sent >= grace } }
            while ContinuousClock.now - committed < window || late.count < 3, ContinuousClock.now - committed < .seconds(30) {
                let sent = ContinuousClock.now - committed
                answers.append((sent, try await client.send(.get, "/v1/agents").status))
                try await Task.sleep(for: .milliseconds(50))
            }
            let summary = answers.map { "\(Self.ms($0.sent))ms:\($0.status.code)" }.joined(separator: " ")
            #expect(late.count >= 3, "too few requests after the grace to tell: \(summary)")
            #expect(late.allSatisfy { $0.status == .unauthorized }, "the revoked key was not refused after its commit: \(summary)")
        }
    }

    private static func ms(_ d: Duration) -> Int64 { d.components.seconds * 1_000 + d.components.attoseconds / 1_000_000_000_000_000 }

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

    @Test func theLastUseFlushSkipsAKeyWhoseRowIsHeldInsteadOfWaitingForIt() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let held = try await makeKey(workspace: workspace, scopes: ["agents:read"])
        let free = try await makeKey(workspace: workspace, scopes: ["agents:read"])
        let logger = Logger(label: "test")
        let holding = NIOLockedValueBox(false)
        let holder = Task {
            try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { owner in
                try await owner.withConnection { connection in
                    _ = try await connection.query("BEGIN", logger: logger)
                    // An open revocation of `held`, as a slow `DELETE /v1/api-keys/{id}` would be.
                    _ = try await connection.query("UPDATE api_keys SET revoked_at = now() WHERE id = \(held.record.id)", logger: logger)
                    holding.withLockedValue { $0 = true }
                    try? await Task.sleep(for: .seconds(20))
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                }
            }
        }
        defer { holder.cancel() }
        while !holding.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(10)) }
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let started = ContinuousClock.now
            let skipped = try await client.query(
                "SELECT * FROM trellis_api_keys_touch(\([held.record.id, free.record.id]), now())", logger: logger
            ).decode(UUID.self).all()
            // Waiting would have taken until the 5 s lock_timeout (or the holder's 20 s).
            #expect(ContinuousClock.now - started < .seconds(2))
            #expect(skipped == [held.record.id])
        }
        let lastUsed = try await withInspector { inspector in
            try await inspector.query(
                "SELECT id, last_used_at FROM api_keys WHERE id IN (\(held.record.id), \(free.record.id))", logger: logger
            ).decode((UUID, Date?).self).all()
        }
        #expect(lastUsed.first { $0.0 == free.record.id }?.1 != nil)
        #expect(lastUsed.first { $0.0 == held.record.id }?.1 == nil)
        holder.cancel()
    }
}

extension APIKeyCache {
    /// Whether the cache holds an entry for `id`, trusted now or not: a stalled poll
    /// distrusts every entry without dropping any, and the next poll trusts them again
    /// unless it evicts them.
    /// Asked as of a moment long before now, when every entry held counts as trusted.
    func holdsEntry(_ id: UUID) -> Bool {
        trustedEntry(id, now: .now - .seconds(3_600)) != nil
    }
}
