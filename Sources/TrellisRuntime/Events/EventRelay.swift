import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import TrellisRedis

/// Moves committed events from the Postgres outbox (``EventOutbox``) to each workspace's Redis
/// stream (``EventStream``), on every server instance.
///
/// A write that left events wakes this instance's relay as soon as its transaction is over
/// (``kick()``); every ``pollInterval`` the relay also looks on its own, which picks up events
/// whose instance died between commit and publish. One relay works at a time across all
/// instances (a transaction-scoped advisory lock; the others skip the round), taking the oldest
/// rows (`FOR UPDATE SKIP LOCKED`), publishing them in order and deleting them in the same
/// transaction. If it dies after publishing and before its commit, the rows come back and the
/// next relay's publication of each is refused as a duplicate by its event id, so nothing is
/// lost and nothing doubles. While Redis does not answer, events wait in the outbox. The same
/// transaction makes each published event's webhook deliveries (migration 0014), so each is
/// made exactly once too.
public final class EventRelay: Service, Sendable {
    let postgres: PostgresClient
    let stream: EventStream
    let logger: Logger
    /// Rows per transaction.
    let batch: Int
    /// How often the relay looks without being woken.
    public let pollInterval: Duration
    let leaseTimeout: Duration?
    let webhooks: WebhookSettings?
    /// Each event topic (a resource path, `jobs`) with the read scope it needs: an endpoint
    /// receives an event only when the scopes it was made with allow its topic.
    let topicScopes: [String: String]
    private let wakes: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let counts = NIOLockedValueBox((published: 0, duplicates: 0, failures: 0))
    private let measuredBacklog = NIOLockedValueBox<(waiting: Int, oldestAge: Double)?>(nil)
    /// How often the relay measures the outbox's backlog (``lastBacklog``).
    static let backlogInterval: Duration = .seconds(5)

    /// The advisory lock that lets one relay work at a time (an arbitrary constant: "TRLSEVNT").
    static let lockKey: Int64 = 0x54524C5345564E54

    public init(
        postgres: PostgresClient, stream: EventStream, topicScopes: [String: String], logger: Logger, batch: Int = 100,
        pollInterval: Duration = .seconds(1), leaseTimeout: Duration? = .seconds(5), webhooks: WebhookSettings? = nil
    ) {
        self.webhooks = webhooks
        self.topicScopes = topicScopes
        self.postgres = postgres
        self.stream = stream
        self.logger = logger
        self.batch = batch
        self.pollInterval = pollInterval
        self.leaseTimeout = leaseTimeout
        (wakes, wake) = AsyncStream.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Events published, duplicates refused, and rounds that failed, since the start.
    public var published: Int { counts.withLockedValue(\.published) }
    public var duplicates: Int { counts.withLockedValue(\.duplicates) }
    public var failures: Int { counts.withLockedValue(\.failures) }
    /// The outbox's backlog as last measured (every ``backlogInterval``, whether or not rounds
    /// succeed: events piling up while Redis is down show here); nil until measured or while
    /// Postgres does not answer.
    public var lastBacklog: (waiting: Int, oldestAge: Double)? { measuredBacklog.withLockedValue { $0 } }

    /// Asks for a round now (a transaction just committed events).
    public func kick() {
        wake.yield()
    }

    public func run() async throws {
        let wake = self.wake
        let interval = pollInterval
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wake.yield()
                }
            }
            group.addTask { [self] in
                while !Task.isCancelled {
                    let measured = try? await backlog(logger: logger)
                    measuredBacklog.withLockedValue { $0 = measured }
                    try? await Task.sleep(for: Self.backlogInterval)
                }
            }
            await withGracefulShutdownHandler {
                var failing = false
                for await _ in wakes {
                    do {
                        while try await relayRound() >= batch {}
                        if failing { logger.notice("event relay recovered") }
                        failing = false
                    } catch {
                        counts.withLockedValue { $0.failures += 1 }
                        if !failing { logger.warning("event relay failed; events wait in the outbox", metadata: ["error": "\(String(reflecting: error))"]) }
                        failing = true
                    }
                }
            } onGracefulShutdown: {
                wake.finish()
            }
            group.cancelAll()
        }
        // What the last requests committed, before the process goes (other instances, or the
        // next start, relay the rest).
        _ = try? await relayRound()
    }

    /// One transaction: up to ``batch`` events published and forgotten. Returns how many rows
    /// it took (0 when another relay holds the lock or nothing waits).
    @discardableResult
    public func relayRound() async throws -> Int {
        try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
            _ = try await connection.query("BEGIN", logger: logger)
            do {
                let locked = try await connection.query("SELECT pg_try_advisory_xact_lock(\(Self.lockKey))", logger: logger)
                    .decode(Bool.self).all().first ?? false
                guard locked else {
                    _ = try await connection.query("COMMIT", logger: logger)
                    return 0
                }
                let rows = try await connection.query(
                    "SELECT seq, workspace_id, event_id, payload FROM trellis_outbox_claim(\(Int32(batch)))", logger: logger
                ).decode((Int64, UUID, UUID, String).self).all()
                var done: [Int64] = []
                var failure: (any Error)?
                for (seq, workspace, eventID, payload) in rows {
                    do {
                        let id = try await stream.publish(workspace: workspace, eventID: eventID, payload: payload)
                        counts.withLockedValue { id == nil ? ($0.duplicates += 1) : ($0.published += 1) }
                        done.append(seq)
                    } catch {
                        // Keep the order: stop here; the rest waits for the next round.
                        failure = error
                        break
                    }
                }
                if !done.isEmpty {
                    // Every relay fans out (whatever its own settings), so no event skips its
                    // deliveries because an instance without webhooks relayed it.
                    let attempts = webhooks?.maxAttempts ?? WebhookSettings.defaultMaxAttempts
                    let timeout = webhooks?.timeout ?? WebhookSettings.defaultTimeout
                    let backoff = webhooks?.backoff ?? WebhookSettings.defaultBackoff
                    let topics = topicScopes.keys.sorted()
                    let scopes = topics.map { topicScopes[$0]! }
                    _ = try await connection.query(
                        """
                        SELECT trellis_webhooks_fan_out(\(done), \(topics), \(scopes), \(WebhookSettings.queue), \(Int32(attempts)),
                            \(Int32(timeout.components.seconds + 5)), \(Int32(backoff.base)), \(Int32(backoff.cap)))
                        """, logger: logger
                    ).collect()
                }
                if !done.isEmpty {
                    _ = try await connection.query("SELECT trellis_outbox_done(\(done))", logger: logger).collect()
                }
                _ = try await connection.query("COMMIT", logger: logger)
                if let failure { throw failure }
                return rows.count
            } catch {
                _ = try? await connection.query("ROLLBACK", logger: logger)
                throw error
            }
        }
    }

    /// Events waiting in the outbox and the age of the oldest, in seconds.
    public func backlog(logger: Logger) async throws -> (waiting: Int, oldestAge: Double) {
        try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
            try await connection.query("SELECT waiting, oldest_age_seconds FROM trellis_outbox_backlog()", logger: logger)
                .decode((Int, Double).self).all().first ?? (0, 0)
        }
    }
}
