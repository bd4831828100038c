import Prometheus
import Synchronization

/// Realtime as `/metrics` shows it: open event streams, streams the server ended and why,
/// events the relay published (and duplicates it refused), failed relay rounds, and HTTP
/// connections closed because their client stopped reading. Copied from the services'
/// counters at each scrape, like ``RedisMetrics``.
public final class EventMetrics: Sendable {
    let openStreams: Gauge
    let dropped: LabelledCounters
    let relayed: LabelledCounters
    let relayFailures: Counter
    let outboxWaiting: Gauge
    let outboxOldestAge: Gauge
    /// Incremented as it happens (``WebSocketUpgradeChannel``'s `onStall`).
    public let stalledConnections: Counter
    private let watched = Mutex<(realtime: Realtime?, seen: Seen)>((nil, Seen()))

    struct Seen {
        var published = 0
        var duplicates = 0
        var failures = 0
        var dropped: [String: Int] = [:]
    }

    init(registry: PrometheusCollectorRegistry) {
        openStreams = registry.gauge(
            "trellis_event_streams_open", help: "Event streams (GET /v1/events, GET /v1/realtime, GraphQL subscriptions) open on this instance.")
        dropped = LabelledCounters(
            registry: registry, name: "trellis_event_streams_dropped", label: "reason",
            help: "Event streams the server ended: redis (Redis stopped answering mid-stream).")
        relayed = LabelledCounters(
            registry: registry, name: "trellis_events_relayed", label: "outcome",
            help: "Outbox events the relay moved to Redis: published, or duplicate (published before by a relay that died before forgetting it).")
        relayFailures = registry.counter(
            "trellis_event_relay_failures", help: "Relay rounds that failed (Postgres or Redis); their events wait in the outbox.")
        outboxWaiting = registry.gauge(
            "trellis_event_outbox_waiting", help: "Events committed and not yet relayed to Redis (measured every 5 s; -1 while Postgres does not answer).")
        outboxOldestAge = registry.gauge(
            "trellis_event_outbox_oldest_age", unit: "seconds", help: "Age of the oldest event waiting in the outbox (0 when none waits).")
        stalledConnections = registry.counter(
            "trellis_http_stalled_connections",
            help: "Connections closed because the client stopped reading its response for TRELLIS_HTTP_WRITE_TIMEOUT (slow event-stream clients among them).")
    }

    /// The realtime services each scrape copies.
    public func watch(_ realtime: Realtime) {
        watched.withLock { $0 = (realtime, Seen()) }
    }

    /// Adds what the watched services counted since the last scrape.
    func refresh() {
        guard let (realtime, delta) = watched.withLock({ state -> (Realtime, Seen)? in
            guard let realtime = state.realtime else { return nil }
            let now = Seen(
                published: realtime.relay.published, duplicates: realtime.relay.duplicates, failures: realtime.relay.failures,
                dropped: realtime.hub.droppedStreams)
            var delta = Seen(
                published: now.published - state.seen.published, duplicates: now.duplicates - state.seen.duplicates,
                failures: now.failures - state.seen.failures)
            for (reason, count) in now.dropped { delta.dropped[reason] = count - (state.seen.dropped[reason] ?? 0) }
            state.seen = now
            return (realtime, delta)
        }) else { return }
        openStreams.set(Int64(realtime.hub.openStreams))
        let backlog = realtime.relay.lastBacklog
        outboxWaiting.set(Int64(backlog?.waiting ?? -1))
        outboxOldestAge.set(backlog?.oldestAge ?? 0)
        if delta.published > 0 { relayed.increment("published", by: delta.published) }
        if delta.duplicates > 0 { relayed.increment("duplicate", by: delta.duplicates) }
        if delta.failures > 0 { relayFailures.increment(by: Int64(delta.failures)) }
        for (reason, count) in delta.dropped where count > 0 { dropped.increment(reason, by: count) }
    }
}
