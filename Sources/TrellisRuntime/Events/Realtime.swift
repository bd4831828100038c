/// The realtime services of one instance (issue 10, item 5): the outbox relay, the Redis
/// streams clients read, and the hub that wakes this instance's open streams. Nil in
/// ``TrellisServices/realtime`` without Redis (`REDIS_URL`) or with `TRELLIS_EVENTS=off`: then
/// no write leaves an event and `GET /v1/events` is a 503 that says why.
public struct Realtime: Sendable {
    public let stream: EventStream
    public let relay: EventRelay
    public let hub: EventHub
    /// A comment frame goes out after this long without one (`TRELLIS_EVENTS_HEARTBEAT`), so
    /// proxies and clients see an idle stream is alive.
    public let heartbeat: Duration
    /// A stream ends this long after it opened (`TRELLIS_EVENTS_MAX_DURATION`); the client
    /// reconnects with `Last-Event-ID` and misses nothing. This bounds how long a credential
    /// revoked (or a session ended) after the stream opened keeps receiving, and spreads
    /// long-lived clients over instances as they come and go.
    public let maxDuration: Duration

    public init(stream: EventStream, relay: EventRelay, hub: EventHub, heartbeat: Duration = .seconds(15), maxDuration: Duration = .seconds(3_600)) {
        self.stream = stream
        self.relay = relay
        self.hub = hub
        self.heartbeat = heartbeat
        self.maxDuration = maxDuration
    }
}
