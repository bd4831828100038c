import NIOConcurrencyHelpers
import NIOCore

/// What a ``RedisSubscriber`` delivers.
public enum RedisPubSubEvent: Sendable, Hashable {
    /// A message published to a subscribed channel or a channel matching a pattern.
    case message(RedisPubSubMessage)
    /// The subscriber's connection was reopened and every subscription re-issued on it (also
    /// sent on the first connection if a `subscribe` had thrown ``RedisError/unavailable``).
    /// Messages published while it was down were not received: replay from the source of truth.
    case resubscribed
    /// The consumer fell behind and the `count` oldest events were dropped at this point of the
    /// stream (a dropped ``resubscribed`` is among them). Replay, as for ``resubscribed``.
    case dropped(count: Int)
}

/// One pub/sub message.
public struct RedisPubSubMessage: Sendable, Hashable {
    /// The channel it was published to.
    public var channel: String
    /// The `PSUBSCRIBE` pattern it matched; nil for a plain `SUBSCRIBE`.
    public var pattern: String?
    /// The published bytes.
    public var payload: [UInt8]

    public init(channel: String, pattern: String? = nil, payload: [UInt8]) {
        self.channel = channel
        self.pattern = pattern
        self.payload = payload
    }

    /// The payload as text (bytes that are not UTF-8 become U+FFFD).
    public var payloadString: String { String(decoding: payload, as: UTF8.self) }

    /// Reads a `message` or `pmessage` push array.
    init?(push value: RedisValue) {
        guard case .array(let items) = value, let kind = items.first?.string else { return nil }
        switch (kind, items.count) {
        case ("message", 3):
            guard let channel = items[1].string, let payload = items[2].bytes else { return nil }
            self.init(channel: channel, payload: payload)
        case ("pmessage", 4):
            guard let pattern = items[1].string, let channel = items[2].string, let payload = items[3].bytes else { return nil }
            self.init(channel: channel, pattern: pattern, payload: payload)
        default:
            return nil
        }
    }
}

/// The events of a ``RedisSubscriber``: an `AsyncSequence` that ends when the subscriber stops.
///
/// Meant for one consumer. Several iterators share one buffer, each event going to one of them.
public struct RedisPubSubEvents: AsyncSequence, Sendable {
    public typealias Element = RedisPubSubEvent
    let buffer: PubSubEventBuffer

    public struct AsyncIterator: AsyncIteratorProtocol {
        let buffer: PubSubEventBuffer
        /// The next event, or nil once the subscriber has stopped or the task is cancelled.
        public mutating func next() async -> RedisPubSubEvent? { await buffer.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(buffer: buffer) }
}

/// A bounded FIFO between the connection's event loop and the consumer.
///
/// When it is full, a new event pushes out the oldest and a count of the dropped ones is kept; the
/// consumer's next read returns ``RedisPubSubEvent/dropped(count:)`` first, which is exactly where
/// the gap is (everything dropped came before what is still buffered).
final class PubSubEventBuffer: Sendable {
    private struct State {
        var events: CircularBuffer<RedisPubSubEvent>
        var droppedSinceRead = 0
        var droppedTotal = 0
        var finished = false
        var nextWaiterID = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<RedisPubSubEvent?, Never>)] = []

        mutating func take() -> RedisPubSubEvent? {
            if droppedSinceRead > 0 {
                defer { droppedSinceRead = 0 }
                return .dropped(count: droppedSinceRead)
            }
            return events.popFirst()
        }
    }

    let capacity: Int
    private let state: NIOLockedValueBox<State>

    init(capacity: Int) {
        self.capacity = max(capacity, 1)
        self.state = NIOLockedValueBox(State(events: CircularBuffer(initialCapacity: min(self.capacity, 256))))
    }

    /// Events dropped because the consumer was slow, since the start.
    var droppedTotal: Int { state.withLockedValue(\.droppedTotal) }

    func push(_ event: RedisPubSubEvent) {
        let waiter = state.withLockedValue { state -> CheckedContinuation<RedisPubSubEvent?, Never>? in
            guard !state.finished else { return nil }
            // A waiting consumer means the buffer is empty and nothing was dropped: hand it over.
            if !state.waiters.isEmpty { return state.waiters.removeFirst().continuation }
            if state.events.count >= capacity {
                state.events.removeFirst()
                state.droppedSinceRead += 1
                state.droppedTotal += 1
            }
            state.events.append(event)
            return nil
        }
        waiter?.resume(returning: event)
    }

    /// Ends the sequence: buffered events are still read, then `next()` returns nil.
    func finish() {
        let waiters = state.withLockedValue { state in
            state.finished = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
    }

    func next() async -> RedisPubSubEvent? {
        enum Step { case event(RedisPubSubEvent?), wait(Int) }
        let step = state.withLockedValue { state -> Step in
            if let event = state.take() { return .event(event) }
            if state.finished { return .event(nil) }
            defer { state.nextWaiterID += 1 }
            return .wait(state.nextWaiterID)
        }
        guard case .wait(let id) = step else {
            if case .event(let event) = step { return event }
            return nil
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<RedisPubSubEvent?, Never>) in
                let ready = state.withLockedValue { state -> Step? in
                    if let event = state.take() { return .event(event) }
                    if state.finished || Task.isCancelled { return .event(nil) }
                    state.waiters.append((id, continuation))
                    return nil
                }
                if case .event(let event) = ready { continuation.resume(returning: event) }
            }
        } onCancel: {
            let waiter = state.withLockedValue { state in
                state.waiters.firstIndex { $0.id == id }.map { state.waiters.remove(at: $0).continuation }
            }
            waiter?.resume(returning: nil)
        }
    }
}
