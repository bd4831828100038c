import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle

/// Keeps this instance's ``APIKeyCache`` honest and does the platform's small chores:
/// every 250 ms it evicts keys changed in the last few seconds (revocation reaches every
/// instance within a second), every 5 s it writes `last_used_at` for the keys used since
/// (one UPDATE per instance, not one per request), and every minute it prunes expired
/// idempotency keys.
public struct APIKeyCacheRefresher: Service {
    let postgres: PostgresClient
    let cache: APIKeyCache
    let logger: Logger

    static let flushInterval: Duration = .seconds(5)
    static let pruneInterval: Duration = .seconds(60)

    public init(postgres: PostgresClient, cache: APIKeyCache, logger: Logger) {
        self.postgres = postgres
        self.cache = cache
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            let clock = ContinuousClock()
            var lastFlush = clock.now
            var lastPrune = clock.now - Self.pruneInterval
            var failing = false
            while !Task.isCancelled {
                let started = clock.now
                do {
                    try await poll(startedAt: started)
                    if failing { logger.notice("API key cache refresh recovered") }
                    failing = false
                } catch {
                    // Until a poll succeeds again every request verifies its key in Postgres.
                    if !failing { logger.warning("API key cache refresh failed", metadata: ["error": "\(error)"]) }
                    failing = true
                }
                if started - lastFlush >= Self.flushInterval {
                    await flushLastUsed()
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

    func poll(startedAt: ContinuousClock.Instant) async throws {
        var changed: [UUID] = []
        let rows = try await postgres.query(
            "SELECT id FROM trellis_api_keys_changed_since(now() - interval '5 seconds')", logger: logger)
        for try await id in rows.decode(UUID.self) { changed.append(id) }
        cache.applyPoll(changed: changed, startedAt: startedAt)
    }

    func flushLastUsed() async {
        let used = cache.takeUsed()
        guard !used.isEmpty else { return }
        do {
            _ = try await postgres.query("SELECT trellis_api_keys_touch(\(used), now())", logger: logger)
        } catch {
            logger.debug("could not record API key use", metadata: ["error": "\(error)"])
        }
    }

    func pruneIdempotencyKeys() async {
        do {
            _ = try await postgres.query("SELECT trellis_idempotency_keys_prune()", logger: logger)
        } catch {
            logger.debug("could not prune idempotency keys", metadata: ["error": "\(error)"])
        }
    }
}
