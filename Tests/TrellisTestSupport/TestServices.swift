import Foundation
import Logging
import TrellisRedis

/// Where the integration tests find Redis: `TRELLIS_TEST_REDIS_URL`, set by scripts/test. A
/// missing variable fails the test that needs it (never a silent skip).
public enum RedisTestEnvironment {
    public static func configuration() throws -> RedisConfiguration {
        let name = "TRELLIS_TEST_REDIS_URL"
        guard let url = ProcessInfo.processInfo.environment[name], !url.isEmpty else { throw Missing(name: name) }
        // The shared server is up for the whole run; what is slow is this 2-core machine while
        // hundreds of tests start at once. A test of timeouts sets its own (on a private server).
        var configuration = try RedisConfiguration(url: url)
        configuration.connectTimeout = .seconds(10)
        configuration.commandTimeout = .seconds(10)
        return configuration
    }

    public struct Missing: Error, CustomStringConvertible {
        public var name: String
        public var description: String { "\(name) is not set: run the tests with scripts/test, which starts Redis and sets it" }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read what the kernel chose, close.
public func freeLocalPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw NoFreePort() }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw NoFreePort() }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// No free port could be found on 127.0.0.1.
public struct NoFreePort: Error {}

/// Polls `condition` every 20 ms until it is true; throws after `limit`.
public func eventually(_ what: String, within limit: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let clock = ContinuousClock()
    let deadline = clock.now + limit
    while clock.now < deadline {
        if (try? await condition()) == true { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    throw TimedOut(what: what)
}

public struct TimedOut: Error, CustomStringConvertible {
    public var what: String

    public init(what: String) {
        self.what = what
    }
    public var description: String { "timed out waiting for \(what)" }
}

/// The environment lacks what a test needs (a variable `scripts/test` sets): the message says what.
public struct TestEnvironmentError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// The support code's own logger: silent.
let supportLogger = Logger(label: "trellis.tests.support", factory: { _ in SwiftLogNoOpLogHandler() })

/// A private `redis-server` child process on a free port, for tests that restart Redis or need
/// their own password or databases. Stopped with SIGKILL (a crash, the harder case for the client;
/// a child started by Foundation's `Process` has SIGTERM blocked).
public final class PrivateRedisServer: @unchecked Sendable {
    public let port: Int
    public let extraArguments: [String]
    private var process: Process?

    /// Starts a server on a free port (retrying on another port if that one is taken meanwhile).
    public static func start(_ extraArguments: [String] = []) async throws -> PrivateRedisServer {
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

    public var url: String { "redis://127.0.0.1:\(port)" }

    /// (Re)starts the server on the same port and waits until it accepts connections.
    public func start() async throws {
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
            let connection = try await RedisConnection.connect(configuration: probe, logger: supportLogger)
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
    public func stop() async {
        guard let process else { return }
        self.process = nil
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        while process.isRunning {
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// Runs `body` with a private server and stops the server afterwards, also when `body` throws.
public func withPrivateRedisServer<Result: Sendable>(
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
