import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import Tracing
import TrellisTracing

/// A pool of Redis connections with pipelining, command timeouts and reconnects.
///
/// Nothing connects until ``run()`` runs: add the client to the `ServiceGroup` before the
/// services that use it (it then shuts down after them), or use ``withRedisClient(configuration:eventLoopGroup:logger:_:)``.
///
/// - Each command goes to the next live connection, round robin; many commands share a
///   connection at once (they are pipelined), so the pool stays small.
/// - A lost connection is reopened in the background after a backoff (50 ms doubling to 2 s,
///   with jitter), so the pool is back within about 2 s of a Redis restart.
/// - While no connection is up, commands fail at once with ``RedisError/unavailable``; they never
///   wait for Redis to come back. Only a command sent before the first connection attempt has
///   ended waits for it, at most the command timeout.
/// - A command is never retried on another connection: a command whose connection died may or
///   may not have run.
public final class RedisClient: Service, Sendable {
    /// The settings the pool was made with.
    public let configuration: RedisConfiguration
    private let eventLoopGroup: any EventLoopGroup
    private let logger: Logger
    /// Told of every command (each pipeline once): how long it took and whether it failed.
    private let onCommand: (@Sendable (Duration, _ failed: Bool) -> Void)?
    private let state: NIOLockedValueBox<State>
    private let startup = StartupGate()

    private enum Phase { case idle, running, shutDown }

    private struct State {
        var connections: [RedisConnection?]
        var nextIndex = 0
        var phase = Phase.idle
        var failedFirstAttempts = 0
        var statistics = RedisClientStatistics()
        var lastConnectionError: RedisError?
    }

    /// - Parameters:
    ///   - eventLoopGroup: where the connections do their I/O (default: NIO's shared group).
    ///   - logger: connection losses and reconnects are logged at `info`, attempts at `debug`.
    ///   - onCommand: told of every command and pipeline, with its duration and whether it
    ///     failed (an error reply, a timeout, no connection): for a latency histogram.
    public init(
        configuration: RedisConfiguration,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger,
        onCommand: (@Sendable (Duration, _ failed: Bool) -> Void)? = nil
    ) {
        precondition(configuration.poolSize > 0, "RedisConfiguration.poolSize must be at least 1")
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
        self.logger = logger
        self.onCommand = onCommand
        self.state = NIOLockedValueBox(State(connections: Array(repeating: nil, count: configuration.poolSize)))
    }

    /// Counters since the client was made.
    public var statistics: RedisClientStatistics { state.withLockedValue(\.statistics) }

    /// Why the latest connection attempt failed (nil if none has); for health checks and logs.
    public var lastConnectionError: RedisError? { state.withLockedValue(\.lastConnectionError) }

    /// Connections that are up right now.
    public var liveConnections: Int {
        state.withLockedValue { $0.connections.count { $0?.isActive == true } }
    }

    // MARK: Commands

    /// Sends one command and returns its reply.
    ///
    /// - Parameter timeout: how long to wait for the reply (default: `commandTimeout`); give
    ///   blocking commands (`BLPOP key 5`) more than they block.
    /// - Throws: ``RedisError/server(_:)`` for an error reply; ``RedisError/unavailable``,
    ///   ``RedisError/timeout``, ``RedisError/connectionClosed`` or ``RedisError/overloaded``.
    public func send(_ arguments: [RedisArgument], timeout: Duration? = nil) async throws -> RedisValue {
        let started = ContinuousClock.now
        do {
            let value = try await Traced.span(RedisSpan.name(arguments), kind: .client, attributes: { RedisSpan.describe([arguments], in: &$0) }) {
                try await connection(commands: 1).send(arguments, timeout: timeout)
            }
            onCommand?(ContinuousClock.now - started, false)
            return value
        } catch {
            record(error)
            onCommand?(ContinuousClock.now - started, true)
            throw error
        }
    }

    /// Sends one command and returns its reply: `try await client.send("GET", "\(key)")`.
    public func send(_ arguments: RedisArgument..., timeout: Duration? = nil) async throws -> RedisValue {
        try await send(arguments, timeout: timeout)
    }

    /// Sends every command in one write on one connection and returns the replies in order.
    /// Error replies come back in place as ``RedisValue/error(_:)``; the timeout covers the whole
    /// pipeline. Use `MULTI`…`EXEC` inside it for atomicity.
    public func pipeline(_ commands: [[RedisArgument]], timeout: Duration? = nil) async throws -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        let started = ContinuousClock.now
        do {
            let values = try await Traced.span("PIPELINE", kind: .client, attributes: { RedisSpan.describe(commands, in: &$0) }) {
                try await connection(commands: commands.count).pipeline(commands, timeout: timeout)
            }
            onCommand?(ContinuousClock.now - started, false)
            return values
        } catch {
            record(error)
            onCommand?(ContinuousClock.now - started, true)
            throw error
        }
    }

    /// The next live connection, round robin, counting `commands` sent on it.
    private func connection(commands: Int) async throws -> RedisConnection {
        if let connection = pick(commands: commands) { return connection }
        if !startup.isOpen, state.withLockedValue({ $0.phase != .shutDown }) {
            await startup.wait(timeout: configuration.commandTimeout, on: eventLoopGroup.any())
            if let connection = pick(commands: commands) { return connection }
        }
        state.withLockedValue { $0.statistics.unavailable += 1 }
        throw RedisError.unavailable
    }

    /// A live connection on the caller's own event loop when there is one (round robin among
    /// them), else the next live one: a command sent from an event loop (a request handler, with
    /// the event loops as the global executor) is then written, answered and resumed on that one
    /// thread, without a hop to another loop and back.
    private func pick(commands: Int) -> RedisConnection? {
        state.withLockedValue { state in
            guard state.phase != .shutDown else { return nil }
            let count = state.connections.count
            var other: (index: Int, connection: RedisConnection)?
            for offset in 0..<count {
                let index = (state.nextIndex + offset) % count
                guard let connection = state.connections[index], connection.isActive else { continue }
                if connection.eventLoop.inEventLoop {
                    other = (index, connection)
                    break
                }
                if other == nil { other = (index, connection) }
            }
            guard let (index, connection) = other else { return nil }
            // The next pick starts after this one: round robin, among the loop's own
            // connections and among all of them for a caller on no event loop.
            state.nextIndex = (index + 1) % count
            state.statistics.commands += commands
            return connection
        }
    }

    private func record(_ error: any Error) {
        if let error = error as? RedisError, error == .timeout {
            state.withLockedValue { $0.statistics.timeouts += 1 }
        }
    }

    // MARK: Lifecycle

    /// Opens the pool and keeps it open: reopens lost connections with backoff until graceful
    /// shutdown or cancellation, then closes every connection (commands in flight fail with
    /// ``RedisError/connectionClosed``, later ones with ``RedisError/unavailable``).
    /// Call it once.
    public func run() async throws {
        let first = state.withLockedValue { state in
            defer { state.phase = .running }
            return state.phase == .idle
        }
        precondition(first, "RedisClient.run() may be called only once")
        logger.debug("Redis pool starting", metadata: ["redis.server": "\(configuration)", "redis.pool.size": "\(configuration.poolSize)"])
        await cancelWhenGracefulShutdown {
            await withTaskCancellationHandler {
                await withDiscardingTaskGroup { group in
                    for slot in 0..<self.configuration.poolSize {
                        group.addTask { await self.maintain(slot: slot) }
                    }
                }
            } onCancel: {
                self.shutDown()
            }
        }
        shutDown()
    }

    private func shutDown() {
        let connections = state.withLockedValue { state in
            state.phase = .shutDown
            defer { state.connections = Array(repeating: nil, count: state.connections.count) }
            return state.connections.compactMap { $0 }
        }
        startup.open()
        for connection in connections { connection.channel.close(promise: nil) }
    }

    /// Keeps pool slot `slot` connected until shutdown.
    private func maintain(slot: Int) async {
        var attempt = 0
        var isFirstAttempt = true
        var hasConnected = false
        let logger = self.logger
        while !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(configuration: configuration, eventLoop: eventLoopGroup.next(), logger: logger)
                let accepted = state.withLockedValue { state in
                    guard state.phase == .running else { return false }
                    state.connections[slot] = connection
                    if hasConnected { state.statistics.reconnects += 1 }
                    return true
                }
                guard accepted else {
                    await connection.close()
                    return
                }
                startup.open()
                if hasConnected {
                    logger.info("Redis connection reopened", metadata: ["redis.server": "\(configuration.hostAndPort)", "redis.pool.slot": "\(slot)"])
                }
                hasConnected = true
                attempt = 0
                try? await connection.closeFuture.get()
                let stopping = state.withLockedValue { state in
                    if state.connections[slot] === connection { state.connections[slot] = nil }
                    return state.phase != .running
                }
                if stopping { return }
                logger.info("Redis connection lost; reopening", metadata: ["redis.server": "\(configuration.hostAndPort)", "redis.pool.slot": "\(slot)"])
            } catch {
                let redisError = error as? RedisError ?? .connectionFailed("\(error)")
                let allFirstAttemptsFailed = state.withLockedValue { state in
                    state.lastConnectionError = redisError
                    state.statistics.connectFailures += 1
                    if isFirstAttempt { state.failedFirstAttempts += 1 }
                    return state.failedFirstAttempts == state.connections.count
                }
                if isFirstAttempt, allFirstAttemptsFailed { startup.open() }
                if attempt == 0 {
                    logger.info("Redis connection attempt failed", metadata: ["redis.error": "\(redisError)", "redis.pool.slot": "\(slot)"])
                } else {
                    logger.debug("Redis connection attempt failed", metadata: ["redis.error": "\(redisError)", "redis.pool.slot": "\(slot)", "redis.attempt": "\(attempt)"])
                }
            }
            isFirstAttempt = false
            do {
                try await Task.sleep(for: configuration.reconnectBackoff.delay(attempt: attempt))
            } catch {
                return
            }
            attempt += 1
        }
    }
}

/// Counters of a ``RedisClient``, for metrics.
public struct RedisClientStatistics: Sendable, Hashable {
    /// Commands handed to a connection (each command of a pipeline counts).
    public var commands = 0
    /// Commands refused at once because no connection was up.
    public var unavailable = 0
    /// Commands that failed with ``RedisError/timeout``.
    public var timeouts = 0
    /// Lost connections that were reopened.
    public var reconnects = 0
    /// Connection attempts that failed (connect, `AUTH` or `SELECT`).
    public var connectFailures = 0

    public init() {}
}

/// Runs a ``RedisClient`` around `body` and shuts it down when `body` returns or throws: for
/// tests and tools that have no `ServiceGroup`.
public func withRedisClient<Result: Sendable>(
    configuration: RedisConfiguration,
    eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
    logger: Logger,
    _ body: (RedisClient) async throws -> Result
) async throws -> Result {
    let client = RedisClient(configuration: configuration, eventLoopGroup: eventLoopGroup, logger: logger)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { try await client.run() }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// The span of a Redis command or pipeline (OpenTelemetry's database conventions): named by
/// the command; the attributes name the commands only, never a key or a value.
enum RedisSpan {
    static func name(_ arguments: [RedisArgument]) -> String {
        guard case .string(let command) = arguments.first else { return "REDIS" }
        return command.uppercased()
    }

    static func describe(_ commands: [[RedisArgument]], in attributes: inout SpanAttributes) {
        attributes["db.system.name"] = "redis"
        attributes["db.operation.name"] = commands.count == 1 ? name(commands[0]) : "PIPELINE"
        if commands.count > 1 {
            attributes["db.operation.batch.size"] = commands.count
            attributes["trellis.redis.commands"] = commands.prefix(32).map(name).joined(separator: " ")
        }
    }
}
