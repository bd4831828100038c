import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps this instance's ``APIKeyCache`` honest and does the platform's small chores:
/// every 250 ms it evicts keys changed since its last successful poll (revocation reaches
/// every instance within a second), every 5 s it writes `last_used_at` for the keys used
/// since (one UPDATE per instance, not one per request), and every minute it prunes
/// expired idempotency keys.
///
/// "Since its last poll" is a high-water mark in the database's clock, less
/// ``APIKeyCache/pollOverlap``: a poll that runs late still sees every change since the
/// previous one, and a key's `updated_at` is stamped as its change commits
/// (`migrations/0006_api_key_commit_stamp.sql`), so a slow commit is not missed either.
public struct APIKeyCacheRefresher: Service {
    let postgres: PostgresClient
    let cache: APIKeyCache
    let logger: Logger
    /// Whose failed-authentication counts to write out (none in tools and some tests).
    let authenticator: Authenticator?

    static let flushInterval: Duration = .seconds(5)
    static let pruneInterval: Duration = .seconds(60)

    public init(postgres: PostgresClient, cache: APIKeyCache, logger: Logger, authenticator: Authenticator? = nil) {
        self.postgres = postgres
        self.cache = cache
        self.logger = logger
        self.authenticator = authenticator
    }

    /// The refresher for `services`: their pool, key cache and failed-authentication log.
    public init(services: TrellisServices, logger: Logger) {
        self.init(postgres: services.postgres, cache: services.authenticator.keyCache, logger: logger, authenticator: services.authenticator)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var lastFlush = clock.now
            var lastPrune = clock.now - Self.pruneInterval
            var failing = false
            var since: Date?
            while !Task.isCancelled {
                let started = clock.now
                do {
                    since = try await poll(since: since, startedAt: started)
                    if failing { logger.notice("API key cache refresh recovered") }
                    failing = false
                } catch {
                    // Shutting down: the poll was cut short, nothing failed.
                    if Task.isCancelled { break }
                    // Until a poll succeeds again every request verifies its key in Postgres.
                    if !failing { logger.warning("API key cache refresh failed", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                if started - lastFlush >= Self.flushInterval {
                    await flushLastUsed()
                    await authenticator?.flushSuppressedFailures(logger: logger)
                    lastFlush = started
                }
                if started - lastPrune >= Self.pruneInterval {
                    await pruneIdempotencyKeys()
                    lastPrune = started
                }
                try? await Task.sleep(for: APIKeyCache.pollInterval)
            }
        }
        await flushLastUsed()
    }

    /// Evicts the keys changed since `since` (the previous poll's mark; nil for the first
    /// poll, when the cache is empty) and returns this poll's mark: the database's time.
    func poll(since: Date?, startedAt: ContinuousClock.Instant) async throws -> Date {
        let overlap = Double(APIKeyCache.pollOverlap.milliseconds) / 1_000
        let rows = try await postgres.rows(
            """
            SELECT statement_timestamp(), array(SELECT id FROM trellis_api_keys_changed_since(
                coalesce(\(since), statement_timestamp()) - make_interval(secs => \(overlap))))
            """, logger: logger)
        guard let (mark, changed) = try rows.first?.decode((Date, [UUID]).self) else {
            throw CancellationError()
        }
        cache.applyPoll(changed: changed, startedAt: startedAt)
        return mark
    }

    func flushLastUsed() async {
        let used = cache.takeUsed()
        guard !used.isEmpty else { return }
        do {
            // Keys whose row another transaction holds (a revocation, say) are skipped rather
            // than waited for, so this loop's next poll is not delayed; they go out next time.
            let skipped = try await postgres.rows(
                "SELECT * FROM trellis_api_keys_touch(\(used), now())", logger: logger
            ).map { try $0.decode(UUID.self) }
            for id in skipped { cache.recordUse(id) }
        } catch {
            for id in used { cache.recordUse(id) }
            logger.debug("could not record API key use", metadata: ["error": "\(error)"])
        }
    }

    func pruneIdempotencyKeys() async {
        do {
            _ = try await postgres.rows("SELECT trellis_idempotency_keys_prune()", logger: logger)
        } catch {
            logger.debug("could not prune idempotency keys", metadata: ["error": "\(error)"])
        }
    }
}
