import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL

/// One TCP connection to Redis, with any number of commands in flight on it.
///
/// Most code uses ``RedisClient``, which keeps a pool of these alive; a connection on its own is
/// for tools and tests. It is never reopened: once closed (``isActive`` false) every command on
/// it fails with ``RedisError/connectionClosed``.
///
/// Errors thrown are ``RedisError``s. A command whose awaiting task is cancelled still waits for
/// its reply (it was sent and may run), at most its timeout.
public final class RedisConnection: Sendable {
    let channel: any Channel
    private let commandTimeout: TimeAmount
    /// Whether a flush is already queued on the connection's event loop (see ``write(_:)``).
    private let flushQueued: NIOLoopBoundBox<Bool>

    private init(channel: any Channel, commandTimeout: Duration) {
        self.channel = channel
        self.commandTimeout = TimeAmount(commandTimeout)
        flushQueued = .makeBoxSendingValue(false, as: Bool.self, eventLoop: channel.eventLoop)
    }

    /// Opens a connection: TCP connect within `connectTimeout`, then `AUTH` (when the
    /// configuration has a password) and `SELECT` (when the database is not 0), pipelined, with
    /// their replies checked.
    ///
    /// - Throws: ``RedisError/connectionFailed(_:)`` naming host, port and cause (a refused
    ///   `AUTH` carries the server's message, never the password).
    public static func connect(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.next(),
        logger: Logger
    ) async throws -> RedisConnection {
        try await connect(configuration: configuration, eventLoop: eventLoop, logger: logger, onPush: nil)
    }

    static func connect(
        configuration: RedisConfiguration,
        eventLoop: any EventLoop,
        logger: Logger,
        onPush: (@Sendable (RedisValue) -> Void)?
    ) async throws -> RedisConnection {
        let target = configuration.hostAndPort
        let maxPending = configuration.maxPendingCommands
        let tls = try configuration.tls.map { tls throws(RedisError) in
            (context: try tls.makeContext(for: target), serverName: RedisTLS.serverName(configuration.host))
        }
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(TimeAmount(configuration.connectTimeout))
            .channelOption(.socketOption(.so_keepalive), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls.context, serverHostname: tls.serverName))
                    }
                    try channel.pipeline.syncOperations.addHandler(RedisChannelHandler(maxPending: maxPending, onPush: onPush))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw RedisError.connectionFailed("cannot connect to \(target): \(Self.describe(connectError: error))")
        }
        let connection = RedisConnection(channel: channel, commandTimeout: configuration.commandTimeout)
        do {
            try await connection.handshake(configuration)
        } catch {
            await connection.close()
            throw error
        }
        logger.debug("Redis connection opened", metadata: ["redis.server": "\(target)", "redis.db": "\(configuration.database)"])
        return connection
    }

    /// `AUTH` and `SELECT` in one round trip; a refusal closes the connection. Over TLS with
    /// neither, a `PING`, so that the TLS handshake (and its certificate checks) happens here,
    /// where its failure is a failed connect, not a first command's.
    private func handshake(_ configuration: RedisConfiguration) async throws {
        var commands: [[RedisArgument]] = []
        if let password = configuration.password {
            if let username = configuration.username {
                commands.append(["AUTH", .string(username), .string(password)])
            } else {
                commands.append(["AUTH", .string(password)])
            }
        }
        if configuration.database != 0 {
            commands.append(["SELECT", .integer(Int64(configuration.database))])
        }
        if commands.isEmpty, configuration.tls != nil { commands.append(["PING"]) }
        guard !commands.isEmpty else { return }
        let replies: [RedisValue]
        do {
            replies = try await pipeline(commands, timeout: configuration.connectTimeout)
        } catch {
            let asked = configuration.tls == nil ? "AUTH/SELECT" : "over TLS"
            throw RedisError.connectionFailed("\(configuration.hostAndPort) did not answer \(asked): \(error)")
        }
        for (command, reply) in zip(commands, replies) {
            guard var message = reply.errorMessage else { continue }
            if let password = configuration.password, !password.isEmpty {
                message = message.replacing(password, with: "***")  // servers do not echo it; be sure
            }
            let name = command.first == "AUTH" ? "AUTH" : "SELECT \(configuration.database)"
            throw RedisError.connectionFailed("\(configuration.hostAndPort) refused \(name): \(message)")
        }
    }

    /// False once the connection has closed; it is never reopened.
    public var isActive: Bool { channel.isActive }

    /// The event loop the connection does its I/O on.
    public var eventLoop: any EventLoop { channel.eventLoop }

    /// Completes when the connection has closed, for whatever reason.
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Closes the connection; commands in flight fail with ``RedisError/connectionClosed``.
    public func close() async {
        try? await channel.close()
    }

    /// Sends one command and returns its reply.
    ///
    /// - Parameter timeout: how long to wait for the reply (default: the configuration's
    ///   `commandTimeout`); give blocking commands (`BLPOP key 5`) more than they block.
    /// - Throws: ``RedisError/server(_:)`` for an error reply, ``RedisError/timeout``,
    ///   ``RedisError/connectionClosed``, ``RedisError/overloaded``.
    public func send(_ arguments: [RedisArgument], timeout: Duration? = nil) async throws -> RedisValue {
        let bytes = encode([arguments])
        let value = try await withUnsafeThrowingContinuation { continuation in
            write(RedisRequest(bytes: bytes, reply: .one(continuation), timeout: replyTimeout(timeout)))
        }
        if case .error(let message) = value { throw RedisError.server(message) }
        return value
    }

    /// Sends one command and returns its reply; see the array form.
    public func send(_ arguments: RedisArgument..., timeout: Duration? = nil) async throws -> RedisValue {
        try await send(arguments, timeout: timeout)
    }

    /// Sends every command in one write and returns their replies in order. Error replies are
    /// returned in place as ``RedisValue/error(_:)`` rather than thrown, so one failed command does
    /// not hide the others' replies. The timeout covers the whole pipeline.
    public func pipeline(_ commands: [[RedisArgument]], timeout: Duration? = nil) async throws -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        return try await send(encode(commands), replies: commands.count, timeout: timeout)
    }

    /// Sends bytes that get `replies` replies (a pipeline, or `SUBSCRIBE a b c` on a pub/sub
    /// connection) and returns them in order.
    func send(_ bytes: ByteBuffer, replies: Int, timeout: Duration? = nil) async throws -> [RedisValue] {
        try await withUnsafeThrowingContinuation { continuation in
            write(RedisRequest(bytes: bytes, reply: .many(count: replies, continuation), timeout: replyTimeout(timeout)))
        }
    }

    /// A command's own timeout, or the connection's.
    private func replyTimeout(_ timeout: Duration?) -> TimeAmount {
        timeout.map(TimeAmount.init) ?? commandTimeout
    }

    /// Sends `PING` and ignores the answer: if none comes within the command timeout the handler
    /// closes the connection, which is the point (finding a dead pub/sub connection).
    func ping() {
        write(RedisRequest(bytes: encode([["PING"]]), reply: .discarded, timeout: commandTimeout))
    }

    func encode(_ commands: [[RedisArgument]]) -> ByteBuffer {
        var size = 0
        for command in commands {
            size += 16
            for argument in command { size += argument.encodedSizeEstimate }
        }
        var buffer = channel.allocator.buffer(capacity: size)
        for command in commands { buffer.writeRESPCommand(command) }
        return buffer
    }

    /// Hands the request to the handler, on the connection's event loop, and queues one flush
    /// behind it unless one is queued already: the commands that requests hand over while the
    /// loop works through its queue go out in one write (and reach Redis in one read), instead
    /// of a write system call and a wake-up each.
    ///
    /// The reply is answered exactly once: by the handler from the moment it takes the
    /// request, or here when the channel is no longer active. An active channel's pipeline
    /// holds the handler (nothing removes it before the channel closes), so a write on it
    /// reaches the handler; once closing begins, `isActive` is false and the request is failed
    /// without being written.
    private func write(_ request: RedisRequest) {
        if channel.eventLoop.inEventLoop {
            writeOnLoop(request)
        } else {
            channel.eventLoop.execute { self.writeOnLoop(request) }
        }
    }

    private func writeOnLoop(_ request: RedisRequest) {
        guard channel.isActive else {
            request.reply.fail(.connectionClosed)
            return
        }
        channel.write(request, promise: nil)
        guard !flushQueued.value else { return }
        flushQueued.value = true
        channel.eventLoop.execute {
            self.flushQueued.value = false
            self.channel.flush()
        }
    }

    private static func describe(connectError error: any Error) -> String {
        if let error = error as? NIOConnectionError {
            if let first = error.connectionErrors.first { return "\(first.error)" }
            if let dns = error.dnsAError ?? error.dnsAAAAError { return "host name lookup failed: \(dns)" }
            return "no address to connect to"
        }
        if case ChannelError.connectTimeout(let amount) = error {
            return "connect timed out after \(amount.nanoseconds / 1_000_000) ms"
        }
        return "\(error)"
    }
}

extension RedisTLS {
    /// The client side of these settings, made once per connection attempt. A CA file that
    /// cannot be read fails here, naming the file.
    func makeContext(for target: String) throws(RedisError) -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = verification == .full ? .fullVerification : .none
        if let caFile {
            guard FileManager.default.isReadableFile(atPath: caFile) else {
                throw .connectionFailed("\(target): the ssl_ca_certs file \(caFile) cannot be read")
            }
            configuration.trustRoots = .file(caFile)
        }
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            throw .connectionFailed("\(target): the TLS settings cannot be used: \(error)")
        }
    }

    /// The name sent for SNI and checked against the certificate: the host, unless it is an
    /// IP address (a certificate names hosts; NIOSSL then checks the address itself).
    static func serverName(_ host: String) -> String? {
        (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
    }
}

extension RedisConfiguration {
    /// `host:port`, with an IPv6 host in brackets: for messages and logs.
    var hostAndPort: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}

extension RedisArgument {
    /// Bytes this argument takes on the wire, near enough to size a buffer.
    var encodedSizeEstimate: Int {
        switch self {
        case .string(let text): text.utf8.count + 16
        case .bytes(let bytes): bytes.count + 16
        case .buffer(let buffer): buffer.readableBytes + 16
        case .integer: 36
        }
    }
}
