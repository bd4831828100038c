import Foundation
import Logging
import Testing

@testable import TrellisRedis
import TrellisTestSupport

let quietLogger = Logger(label: "trellis.tests.redis", factory: { _ in SwiftLogNoOpLogHandler() })

/// A key prefix no other test uses, so tests can share one server and run in parallel.
func uniquePrefix(_ test: String = #function) -> String {
    "trellis:test:\(test.prefix { $0 != "(" }):\(UUID().uuidString):"
}

struct TimedOut: Error, CustomStringConvertible {
    var what: String
    var description: String { "timed out waiting for \(what)" }
}

/// Polls `condition` every 20 ms until it is true; throws after `limit`.
func eventually(_ what: String, within limit: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TimedOut(what: what)
}

/// The next event of `events`, or a thrown ``TimedOut`` after `limit`.
func nextEvent(_ events: RedisPubSubEvents, within limit: Duration = .seconds(10)) async throws -> RedisPubSubEvent {
    try await withThrowingTaskGroup(of: RedisPubSubEvent?.self) { group in
        group.addTask {
            var iterator = events.makeAsyncIterator()
            return await iterator.next()
        }
        group.addTask {
            try await Task.sleep(for: limit)
            throw TimedOut(what: "a pub/sub event")
        }
        defer { group.cancelAll() }
        guard let event = try await group.next()! else { throw TimedOut(what: "a pub/sub event (the stream ended)") }
        return event
    }
}

/// Runs `body` with a ``RedisSubscriber`` running beside it.
func withSubscriber<Result: Sendable>(
    _ configuration: RedisConfiguration,
    _ body: (RedisSubscriber) async throws -> Result
) async throws -> Result {
    let subscriber = RedisSubscriber(configuration: configuration, logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self, returning: Result.self) { group in
        group.addTask { try await subscriber.run() }
        defer { group.cancelAll() }
        return try await body(subscriber)
    }
}

/// A private `redis-server` child process on a free port, for tests that restart Redis or need
/// their own password or databases. Stopped with SIGKILL (a crash, the harder case for the client;
/// a child started by Foundation's `Process` has SIGTERM blocked).
final class PrivateRedisServer: @unchecked Sendable {
    let port: Int
    let extraArguments: [String]
    private var process: Process?

    /// Starts a server on a free port (retrying on another port if that one is taken meanwhile).
    static func start(_ extraArguments: [String] = []) async throws -> PrivateRedisServer {
        var lastError: (any Error)?
        for _ in 0..<5 {
            let server = PrivateRedisServer(port: try freeLocalPort(), extraArguments: extraArguments)
            do {
                try await server.start()
                return server
            } catch {
                lastError = error
                await server.stop()
            }
        }
        throw lastError!
    }

    private init(port: Int, extraArguments: [String]) {
        self.port = port
        self.extraArguments = extraArguments
    }

    var url: String { "redis://127.0.0.1:\(port)" }

    /// (Re)starts the server on the same port and waits until it accepts connections.
    func start() async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"] + extraArguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        let probe = RedisConfiguration(host: "127.0.0.1", port: port)
        try await eventually("redis-server on port \(port) to start", within: .seconds(5)) {
            guard process.isRunning else { throw TimedOut(what: "redis-server exited at start") }
            let connection = try await RedisConnection.connect(configuration: probe, logger: quietLogger)
            let reply: Result<RedisValue, any Error>
            do { reply = .success(try await connection.send("PING")) } catch { reply = .failure(error) }
            await connection.close()
            switch reply {
            case .success: return true
            case .failure(RedisError.server): return true  // NOAUTH: up, but wants a password
            case .failure(let error): throw error
            }
        }
    }

    /// Kills the server (SIGKILL) and waits until it has exited.
    func stop() async {
        guard let process else { return }
        self.process = nil
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Runs `body` with a private server and stops the server afterwards, also when `body` throws.
func withPrivateRedisServer<Result: Sendable>(
    _ extraArguments: [String] = [],
    _ body: (PrivateRedisServer) async throws -> Result
) async throws -> Result {
    let server = try await PrivateRedisServer.start(extraArguments)
    do {
        let result = try await body(server)
        await server.stop()
        return result
    } catch {
        await server.stop()
        throw error
    }
}
