import PostgresNIO
import Prometheus

/// The Postgres pool as this process's request path uses it: connections leased, callers
/// waiting for one, and how long they waited (OTel's `db.client.connection.*`).
///
/// postgres-nio 1.33.2 does not let a `PostgresClient` user see its pool: the pool's
/// observability delegate is fixed to an internal type that only logs. So these series are
/// measured around the leases of the ``TenantTransaction``s and ``TenantStatement``s that are
/// given them (the resource routes'); other leases (key management and admin routes, the
/// authenticator's key look-ups, the cache refresher, `/health/ready`) are not counted. Idle
/// connections are not observable from outside the pool and are not exported;
/// `db_client_connection_max` minus the used count is the head-room.
public final class PoolMetrics: Sendable {
    let used: Gauge
    let pending: Gauge
    let maximum: Gauge
    let waitTime: DurationHistogram

    /// Lease waits are short when all is well: sub-millisecond buckets up to 10 s.
    static let buckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    init(registry: PrometheusCollectorRegistry) {
        used = registry.gauge(
            "db_client_connection", unit: "count", help: "Postgres connections currently leased by resource-route transactions and reads.",
            labels: [("db_client_connection_state", "used")])
        pending = registry.gauge(
            "db_client_connection_pending", unit: "requests", help: "Resource-route transactions and reads waiting for a Postgres connection.")
        maximum = registry.gauge("db_client_connection", unit: "max", help: "The pool's configured maximum number of Postgres connections.")
        waitTime = registry.durations(
            "db_client_connection_wait_time", help: "Time resource-route transactions and reads waited to lease a Postgres connection.",
            buckets: Self.buckets)
    }

    /// Records the pool's configured size (the server calls this once at start).
    public func setMaximumConnections(_ count: Int) {
        maximum.set(to: Double(count))
    }

    /// `client.withConnection(body)`, counted as pending until the lease arrives, then as
    /// used until `body` returns; the wait goes into the histogram.
    func lease<T: Sendable>(from client: PostgresClient, _ body: (PostgresConnection) async throws -> T) async throws -> T {
        pending.increment()
        let start = ContinuousClock.now
        var leased = false
        do {
            return try await client.withConnection { connection in
                waitTime.record(ContinuousClock.now - start)
                pending.decrement()
                leased = true
                used.increment()
                defer { used.decrement() }
                return try await body(connection)
            }
        } catch {
            if !leased { pending.decrement() }
            throw error
        }
    }
}

extension PostgresClient {
    /// A leased connection for `body`, measured by `metrics` when given. Every lease Trellis
    /// takes goes through here, so that a connection that died under `body` goes back to the
    /// pool only once the pool knows it is dead (``PostgresConnection/untilPoolKnowsIfClosed(after:)``).
    func withConnection<T: Sendable>(
        measuredBy metrics: PoolMetrics?, _ body: (PostgresConnection) async throws -> T
    ) async throws -> T {
        let guarded: (PostgresConnection) async throws -> T = { connection in
            do {
                let value = try await body(connection)
                await connection.untilPoolKnowsIfClosed()
                return value
            } catch {
                await connection.untilPoolKnowsIfClosed(after: error)
                throw error
            }
        }
        guard let metrics else { return try await withConnection(guarded) }
        return try await metrics.lease(from: self, guarded)
    }
}

extension PostgresConnection {
    /// If the connection is closed or closing, waits until its close has completed; `error`
    /// (what the last statement threw) may say it is about to close: a FATAL or PANIC from the
    /// server, or a connection-level failure, ends the session even before the channel says so.
    ///
    /// A session the server ended (a FATAL error, a restart) closes its channel, but the pool
    /// hears of it only on the event loop's next turn, after the channel's handlers are gone. A
    /// connection released in between was handed to the next lease as if alive, and a query
    /// written to a channel without handlers is never answered: the next request (or the
    /// key-cache refresher, or the sealer) waited forever (seen as a test run that hung after a
    /// test ended a session with `pg_terminate_backend`). Closing it and waiting for the close
    /// future lets the pool's own close callback, registered before, run first.
    func untilPoolKnowsIfClosed(after error: (any Error)? = nil) async {
        guard isClosed || Self.endsSession(error) else { return }
        try? await close()
        _ = try? await closeFuture.get()
    }

    /// Whether `error` means the session is over.
    static func endsSession(_ error: (any Error)?) -> Bool {
        guard let psql = error as? PSQLError else { return false }
        switch psql.code {
        case .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .connectionError, .messageDecodingFailure,
             .unexpectedBackendMessage:
            return true
        case .server:
            let severity = psql.serverInfo?[.severity]
            return severity == "FATAL" || severity == "PANIC"
        default:
            return false
        }
    }
}
