import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Prometheus
import ServiceLifecycle

/// The series behind the webhook and audit alerts of `ops/prometheus/alerts.yml`: enabled
/// webhook endpoints by circuit state, and the last verification of every workspace's audit
/// chain (how many chains are broken, when it last ran, and each run's outcome).
public final class OperationsMetrics: Sendable {
    let circuitsOpen: Gauge
    let circuitsHalfOpen: Gauge
    let auditChains: Gauge
    let auditChainsBroken: Gauge
    let auditVerifiedAt: Gauge
    let auditVerifications: LabelledCounters
    /// 5xx responses and failed job attempts recorded for error tracking, by kind.
    let errors: LabelledCounters
    /// Error events forwarded to `TRELLIS_SENTRY_DSN`, by outcome: sent, failed.
    let sentryForwards: LabelledCounters
    private let registry: PrometheusCollectorRegistry
    private let dependencies = NIOLockedValueBox<[String: Gauge]>([:])

    /// `trellis_dependency_up{dependency}`: 1 while api.yaml's dependency answers, 0 while it is down.
    func dependencyUp(_ name: String) -> Gauge {
        dependencies.withLockedValue { gauges in
            if let gauge = gauges[name] { return gauge }
            let gauge = registry.gauge(
                "trellis_dependency_up", help: "1 while an external dependency of api.yaml answers its probe, 0 while it is down.",
                labels: [("dependency", name)])
            gauges[name] = gauge
            return gauge
        }
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        let circuits = "Enabled webhook endpoints by circuit state (open: no calls during the cooldown; half_open: the next delivery probes). Measured every 10 s."
        circuitsOpen = registry.gauge("trellis_webhook_circuits", help: circuits, labels: [("state", "open")])
        circuitsHalfOpen = registry.gauge("trellis_webhook_circuits", help: circuits, labels: [("state", "half_open")])
        auditChains = registry.gauge("trellis_audit_chains", help: "Workspaces with an audit chain, at the last verification.")
        auditChainsBroken = registry.gauge(
            "trellis_audit_chains_broken",
            help: "Workspaces whose audit chain did not verify at the last verification (altered, unlinked, missing or cut-short entries); `trellis audit verify` names the link.")
        auditVerifiedAt = registry.gauge(
            "trellis_audit_chain_verified_timestamp", unit: "seconds", help: "Unix time of the last audit-chain verification that ran to the end.")
        auditVerifications = LabelledCounters(
            registry: registry, name: "trellis_audit_verifications", label: "outcome",
            help: "Audit-chain verifications by this server: intact, broken, or failed (Postgres did not answer in time).")
        errors = LabelledCounters(
            registry: registry, name: "trellis_errors", label: "kind",
            help: "Errors recorded for error tracking (every 5xx, every failed job attempt), by kind: request, job.")
        sentryForwards = LabelledCounters(
            registry: registry, name: "trellis_error_forwards", label: "outcome",
            help: "Error events forwarded to TRELLIS_SENTRY_DSN, by outcome: sent, failed.")
        auditChainsBroken.set(Int64(0))
    }
}

/// Measures, in the background of every server: webhook circuits every ``circuitInterval``
/// (when webhooks are configured) and every workspace's audit chain every ``auditInterval``
/// (`TRELLIS_AUDIT_VERIFY_INTERVAL`; the first run a minute after start). Both through
/// SECURITY DEFINER functions that return counts only (migration 0018), since the server role
/// sees no other workspace's rows. A run that fails is logged and counted, never retried early.
public struct OperationsMonitor: Service {
    let postgres: PostgresClient
    let metrics: OperationsMetrics
    let logger: Logger
    /// The webhook circuit cooldown (``WebhookSettings/circuitCooldown``); nil: no webhooks, no measuring.
    let circuitCooldown: Duration?
    let auditInterval: Duration?
    public var circuitInterval: Duration = .seconds(10)
    /// When the first audit verification runs, after start (not at once: a fleet restarting
    /// together would scan the audit log together).
    public var firstAuditAfter: Duration = .seconds(60)
    /// The verification's own `statement_timeout` (the server's is for requests).
    public var auditStatementTimeout: Duration = .seconds(300)
    /// The longest wait for a pooled connection (`TRELLIS_PG_LEASE_TIMEOUT` in a server).
    public var leaseTimeout: Duration = .seconds(5)

    public init(postgres: PostgresClient, metrics: OperationsMetrics, circuitCooldown: Duration?, auditInterval: Duration?, logger: Logger) {
        self.postgres = postgres
        self.metrics = metrics
        self.circuitCooldown = circuitCooldown
        self.auditInterval = auditInterval
        self.logger = logger
    }

    public func run() async throws {
        guard circuitCooldown != nil || auditInterval != nil else { return }
        await cancelWhenGracefulShutdown {
            var nextAudit = auditInterval.map { _ in ContinuousClock.now + firstAuditAfter }
            while !Task.isCancelled {
                if let circuitCooldown { await measureCircuits(cooldown: circuitCooldown) }
                if let due = nextAudit, ContinuousClock.now >= due, let auditInterval {
                    await verifyAuditChains()
                    nextAudit = ContinuousClock.now + auditInterval
                }
                var wait = circuitCooldown == nil ? (auditInterval ?? circuitInterval) : circuitInterval
                if let due = nextAudit { wait = min(wait, max(.zero, due - ContinuousClock.now)) }
                try? await Task.sleep(for: wait)
            }
        }
    }

    func measureCircuits(cooldown: Duration) async {
        do {
            let counts = try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
                try await connection.query(
                    "SELECT open, half_open FROM trellis_webhook_circuits(\(Int32(clamping: cooldown.components.seconds)))", logger: logger
                ).decode((Int64, Int64).self).all()
            }
            metrics.circuitsOpen.set(counts.first?.0 ?? 0)
            metrics.circuitsHalfOpen.set(counts.first?.1 ?? 0)
        } catch {
            logger.debug("could not measure webhook circuits", metadata: ["error": "\(String(reflecting: error))"])
        }
    }

    /// One verification of every chain; returns (chains, broken) or nil when it failed.
    @discardableResult
    func verifyAuditChains() async -> (chains: Int64, broken: Int64)? {
        let started = ContinuousClock.now
        do {
            let counts = try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
                try await connection.query("BEGIN READ ONLY", logger: logger)
                do {
                    try await connection.query(
                        PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(auditStatementTimeout.components.seconds * 1000)"), logger: logger)
                    let rows = try await connection.query(
                        "SELECT workspaces, broken, entries FROM trellis_audit_broken_chains()", logger: logger
                    ).decode((Int64, Int64, Int64).self).all()
                    try await connection.query("COMMIT", logger: logger)
                    return rows.first ?? (0, 0, 0)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: logger)
                    throw error
                }
            }
            metrics.auditChains.set(counts.0)
            metrics.auditChainsBroken.set(counts.1)
            metrics.auditVerifiedAt.set(Date().timeIntervalSince1970)
            metrics.auditVerifications.increment(counts.1 == 0 ? "intact" : "broken")
            let elapsed = ContinuousClock.now - started
            if counts.1 > 0 {
                logger.error(
                    "audit chains do not verify: run `trellis audit verify` for the broken links",
                    metadata: ["broken_chains": "\(counts.1)", "chains": "\(counts.0)", "entries": "\(counts.2)"])
            } else {
                logger.info(
                    "audit chains verified", metadata: ["chains": "\(counts.0)", "entries": "\(counts.2)", "duration_ms": "\(elapsed.milliseconds)"])
            }
            return (counts.0, counts.1)
        } catch {
            metrics.auditVerifications.increment("failed")
            logger.warning("could not verify the audit chains", metadata: ["error": "\(String(reflecting: error))"])
            return nil
        }
    }
}
