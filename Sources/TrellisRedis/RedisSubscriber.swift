import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle

/// A dedicated pub/sub connection (RESP2 puts a subscribed connection in a mode where it can run
/// nothing else, so it is never one of the pool's).
///
/// Subscribe with ``subscribe(_:)`` / ``psubscribe(_:)`` and read ``events``. Nothing connects
/// until ``run()`` runs (add it to the `ServiceGroup`, as ``RedisClient``).
///
/// - The subscriber remembers every channel and pattern. When its connection drops it reopens
///   it with the configured backoff, re-issues every `SUBSCRIBE`/`PSUBSCRIBE`, and puts
///   ``RedisPubSubEvent/resubscribed`` into the stream *before* any message of the new connection:
///   messages published in between are lost, so the consumer should replay from the source of
///   truth (e.g. Postgres) at that point.
/// - It pings every `subscriberPingInterval`; no answer within `commandTimeout` closes the
///   connection and the same reconnect follows, so a silently dead connection is found too.
/// - ``events`` holds at most `subscriberBufferSize` events. A consumer slower than the
///   publishers loses the oldest, and then reads ``RedisPubSubEvent/dropped(count:)`` where they
///   were (counted in ``droppedEvents``): the publisher and the connection never wait for it.
public final class RedisSubscriber: Service, Sendable {
    /// The settings the subscriber was made with (`poolSize` is not used: it has one connection).
    public let configuration: RedisConfiguration
    /// Messages and gap markers, in order, for one consumer. Ends when ``run()`` returns.
    public let events: RedisPubSubEvents
    private let buffer: PubSubEventBuffer
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    private let state = NIOLockedValueBox(State())
    private let startup = StartupGate()

    private enum Phase { case idle, running, shutDown }

    private struct State {
        var connection: RedisConnection?
        var channels: Set<String> = []
        var patterns: Set<String> = []
        var phase = Phase.idle
        var reconnects = 0
        var lastConnectionError: RedisError?
        /// A `subscribe` threw `.unavailable`: the next connection announces `.resubscribed`
        /// even if it is the first.
        var owesResubscribed = false
    }

    /// Makes a subscriber; nothing connects until ``run()`` runs.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) {
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.buffer = PubSubEventBuffer(capacity: configuration.subscriberBufferSize)
        self.events = RedisPubSubEvents(buffer: buffer)
    }

    /// Events dropped because the consumer was slow, since the start.
    public var droppedEvents: Int { buffer.droppedTotal }
    /// Lost connections that were reopened (each one also put ``RedisPubSubEvent/resubscribed``
    /// into the stream if there were subscriptions).
    public var reconnects: Int { state.withLockedValue(\.reconnects) }
    /// Why the latest connection attempt failed (nil if none has).
    public var lastConnectionError: RedisError? { state.withLockedValue(\.lastConnectionError) }

    // MARK: Subscriptions

    /// Subscribes to `channels` and returns once the server has confirmed each one.
    ///
    /// The channels are remembered first: if the connection is down this throws
    /// ``RedisError/unavailable``, yet they are subscribed as soon as it is back, announced by
    /// ``RedisPubSubEvent/resubscribed``.
    public func subscribe(_ channels: [String]) async throws {
        try await change(.subscribe, channels)
    }

    /// Subscribes to channels matching each glob pattern (`events:*`); see ``subscribe(_:)``.
    public func psubscribe(_ patterns: [String]) async throws {
        try await change(.psubscribe, patterns)
    }

    /// Forgets `channels` and unsubscribes from them if the connection is up.
    public func unsubscribe(_ channels: [String]) async throws {
        try await change(.unsubscribe, channels)
    }

    /// Forgets `patterns` and unsubscribes from them if the connection is up.
    public func punsubscribe(_ patterns: [String]) async throws {
        try await change(.punsubscribe, patterns)
    }

    private enum Change: String {
        case subscribe = "SUBSCRIBE", psubscribe = "PSUBSCRIBE", unsubscribe = "UNSUBSCRIBE", punsubscribe = "PUNSUBSCRIBE"
    }

    private func change(_ change: Change, _ names: [String]) async throws {
        let names = Array(Set(names))
        guard !names.isEmpty else { return }
        var connection = state.withLockedValue { state -> RedisConnection? in
            switch change {
            case .subscribe: state.channels.formUnion(names)
            case .psubscribe: state.patterns.formUnion(names)
            case .unsubscribe: state.channels.subtract(names)
            case .punsubscribe: state.patterns.subtract(names)
            }
            return state.connection
        }
        if connection == nil, !startup.isOpen, state.withLockedValue({ $0.phase != .shutDown }) {
            await startup.wait(timeout: configuration.commandTimeout, on: eventLoopGroup.any())
            connection = state.withLockedValue(\.connection)
        }
        guard let connection, connection.isActive else {
            guard change == .subscribe || change == .psubscribe else { return }  // nothing to undo on a connection that is down
            state.withLockedValue { $0.owesResubscribed = true }
            throw RedisError.unavailable
        }
        try await Self.issue(change.rawValue, names, on: connection)
    }

    /// Sends `command names…` and checks the per-name confirmations.
    private static func issue(_ command: String, _ names: [String], on connection: RedisConnection) async throws {
        let arguments = [RedisArgument.string(command)] + names.map(RedisArgument.string)
        let replies = try await connection.send(connection.encode([arguments]), replies: names.count)
        if let message = replies.lazy.compactMap(\.errorMessage).first {
            throw RedisError.server(message)
        }
    }

    // MARK: Lifecycle

    /// Keeps the pub/sub connection open, reconnecting and resubscribing, until graceful shutdown
    /// or cancellation; then closes it and ends ``events``. Call it once.
    public func run() async throws {
        let first = state.withLockedValue { state in
            defer { state.phase = .running }
            return state.phase == .idle
        }
        precondition(first, "RedisSubscriber.run() may be called only once")
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                await self.maintain()
            } onCancel: {
                self.shutDown()
            }
        }
        shutDown()
        buffer.finish()
    }

    private func shutDown() {
        let connection = state.withLockedValue { state in
            state.phase = .shutDown
            defer { state.connection = nil }
            return state.connection
        }
        startup.open()
        connection?.channel.close(promise: nil)
    }

    private func maintain() async {
        var attempt = 0
        var hasConnected = false
        let buffer = self.buffer
        let target = configuration.hostAndPort
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(
                    configuration: configuration,
                    eventLoop: eventLoopGroup.next(),
                    logger: logger,
                    onPush: { value in
                        if let message = RedisPubSubMessage(push: value) { buffer.push(.message(message)) }
                    }
                )
                let subscriptions = state.withLockedValue { state -> (channels: [String], patterns: [String], announce: Bool)? in
                    guard state.phase == .running else { return nil }
                    state.connection = connection
                    if hasConnected { state.reconnects += 1 }
                    let announce = (hasConnected || state.owesResubscribed) && !(state.channels.isEmpty && state.patterns.isEmpty)
                    state.owesResubscribed = false
                    return (Array(state.channels), Array(state.patterns), announce)
                }
                guard let subscriptions else {
                    await connection.close()
                    return
                }
                if hasConnected { logger.info("Redis pub/sub connection reopened", metadata: ["redis.server": "\(target)"]) }
                hasConnected = true
                attempt = 0
                // Before the SUBSCRIBEs, so the marker precedes every message of this connection.
                if subscriptions.announce { buffer.push(.resubscribed) }
                startup.open()
                let interval = TimeAmount(configuration.subscriberPingInterval)
                let pinger = connection.channel.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
                    connection.ping()
                }
                do {
                    if !subscriptions.channels.isEmpty { try await Self.issue("SUBSCRIBE", subscriptions.channels, on: connection) }
                    if !subscriptions.patterns.isEmpty { try await Self.issue("PSUBSCRIBE", subscriptions.patterns, on: connection) }
                    // An `unsubscribe` that ran meanwhile may have reached the server before these
                    // SUBSCRIBEs did: undo whatever is no longer wanted.
                    let (channels, patterns) = state.withLockedValue { state in
                        (subscriptions.channels.filter { !state.channels.contains($0) }, subscriptions.patterns.filter { !state.patterns.contains($0) })
                    }
                    if !channels.isEmpty { try await Self.issue("UNSUBSCRIBE", channels, on: connection) }
                    if !patterns.isEmpty { try await Self.issue("PUNSUBSCRIBE", patterns, on: connection) }
                } catch {
                    logger.info("Redis pub/sub resubscribe failed; reconnecting", metadata: ["redis.error": "\(error)"])
                    await connection.close()
                }
                try? await connection.closeFuture.get()
                pinger.cancel()
                let stopping = state.withLockedValue { state in
                    if state.connection === connection { state.connection = nil }
                    return state.phase != .running
                }
                if stopping { return }
                logger.info("Redis pub/sub connection lost; reopening", metadata: ["redis.server": "\(target)"])
            } catch {
                let redisError = error as? RedisError ?? .connectionFailed("\(error)")
                state.withLockedValue { $0.lastConnectionError = redisError }
                if !hasConnected { startup.open() }
                if attempt == 0 {
                    logger.info("Redis pub/sub connection attempt failed", metadata: ["redis.error": "\(redisError)"])
                } else {
                    logger.debug("Redis pub/sub connection attempt failed", metadata: ["redis.error": "\(redisError)", "redis.attempt": "\(attempt)"])
                }
            }
            do {
                try await Task.sleep(for: configuration.reconnectBackoff.delay(attempt: attempt))
            } catch {
                return
            }
            attempt += 1
        }
    }
}
