import Foundation
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle
import TrellisRedis

/// This instance's open event streams, woken when their workspace's Redis stream grows.
///
/// One pub/sub connection (``RedisSubscriber``) per instance, subscribed to the channel of each
/// workspace that has at least one open stream here. A message wakes that workspace's streams,
/// which then read the Redis stream from where each left off; a reconnect or a dropped message
/// wakes them all. So the channel only says "look": what a client receives always comes from the
/// stream, in order, exactly once.
public final class EventHub: Service, Sendable {
    let subscriber: RedisSubscriber
    let logger: Logger
    /// The most streams open at once on this instance (`TRELLIS_EVENTS_MAX_STREAMS`); one more is a 503.
    public let maxStreams: Int

    private struct State {
        var next = 0
        var streams: [UUID: [Int: AsyncStream<Void>.Continuation]] = [:]
        var open = 0
        var closed = false
    }

    private let state = NIOLockedValueBox(State())
    private let dropped = NIOLockedValueBox([String: Int]())

    public init(subscriber: RedisSubscriber, logger: Logger, maxStreams: Int = 10_000) {
        self.subscriber = subscriber
        self.logger = logger
        self.maxStreams = maxStreams
    }

    /// Streams open now.
    public var openStreams: Int { state.withLockedValue(\.open) }

    /// Streams ended by the server, by reason (`slow`, `redis`), since the start.
    public var droppedStreams: [String: Int] { dropped.withLockedValue { $0 } }

    func countDropped(_ reason: String) {
        dropped.withLockedValue { $0[reason, default: 0] += 1 }
    }

    /// A registration: its wake-ups, and how to end it.
    struct Registration: Sendable {
        let workspace: UUID
        let id: Int
        let wakes: AsyncStream<Void>
        let wake: AsyncStream<Void>.Continuation
    }

    /// Registers a stream of `workspace`; nil when ``maxStreams`` are open or the hub is shutting down.
    func open(_ workspace: UUID) async -> Registration? {
        let (wakes, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let (id, first) = state.withLockedValue { state -> (Int?, Bool) in
            guard !state.closed, state.open < maxStreams else { return (nil, false) }
            state.next += 1
            state.open += 1
            let first = state.streams[workspace] == nil
            state.streams[workspace, default: [:]][state.next] = wake
            return (state.next, first)
        }
        guard let id else { return nil }
        if first {
            // Down now: remembered, subscribed on reconnect, announced by `.resubscribed`.
            try? await subscriber.subscribe([EventStream.channel(workspace)])
        }
        return Registration(workspace: workspace, id: id, wakes: wakes, wake: wake)
    }

    /// Ends a registration; the workspace's channel is left once its last stream here ends.
    func close(_ registration: Registration) async {
        registration.wake.finish()
        let last = state.withLockedValue { state -> Bool in
            guard state.streams[registration.workspace]?.removeValue(forKey: registration.id) != nil else { return false }
            state.open -= 1
            if state.streams[registration.workspace]?.isEmpty == true {
                state.streams[registration.workspace] = nil
                return true
            }
            return false
        }
        if last { try? await subscriber.unsubscribe([EventStream.channel(registration.workspace)]) }
    }

    private func wake(_ workspace: UUID?) {
        state.withLockedValue { state in
            if let workspace {
                if let streams = state.streams[workspace] { for wake in streams.values { wake.yield() } }
            } else {
                for streams in state.streams.values { for wake in streams.values { wake.yield() } }
            }
        }
    }

    /// Reads the subscriber until it ends; on graceful shutdown every open stream ends (so
    /// the HTTP server's drain is not held by clients that never hang up).
    public func run() async throws {
        await withGracefulShutdownHandler {
            for await event in subscriber.events {
                switch event {
                case .message(let message):
                    wake(EventStream.workspace(ofChannel: message.channel))
                case .resubscribed, .dropped:
                    wake(nil)
                }
            }
        } onGracefulShutdown: {
            self.endAll()
        }
        endAll()
    }

    /// Ends every open stream and refuses new ones.
    func endAll() {
        let wakes = state.withLockedValue { state -> [AsyncStream<Void>.Continuation] in
            state.closed = true
            return state.streams.values.flatMap(\.values)
        }
        for wake in wakes { wake.finish() }
    }
}
