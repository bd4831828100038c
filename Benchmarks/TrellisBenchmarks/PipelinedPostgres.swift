import Foundation
import NIOCore
import NIOPosix

/// An experiment, not a client: the least a pipelined PostgreSQL read can cost on this stack,
/// for the `pfloor` route of `request-path` (issue 8: is a client that keeps many statements in
/// flight on one connection worth building?).
///
/// One connection per event loop, opened with trust authentication only (the benchmark's
/// local Postgres), one statement parsed once per connection, then any number of
/// `Bind`/`Execute`/`Sync` triples in flight on each connection, answered in order. Statements
/// handed over while the loop works through its queue leave in one write, as
/// `RedisConnection`'s commands do. Every statement is its own implicit transaction (a `Sync`
/// each), so one failing fails alone. There is no reconnect, no timeout, no TLS, no SCRAM:
/// what it measures is the protocol's cost, not a product's.
final class PipelinedPostgres: Sendable {
    let connections: [PipelinedPostgresConnection]

    private init(connections: [PipelinedPostgresConnection]) {
        self.connections = connections
    }

    /// Opens one connection on each of `group`'s loops and prepares `sql` on each as `name`.
    static func connect(
        url: String, startupParameters: [(String, String)], statement name: String, sql: String,
        group: MultiThreadedEventLoopGroup = .singleton
    ) async throws -> PipelinedPostgres {
        guard let components = URLComponents(string: url), let host = components.host, let user = components.user else {
            throw BenchmarkError("pfloor: cannot read \(url)")
        }
        let database = String(components.path.dropFirst())
        var connections: [PipelinedPostgresConnection] = []
        for loop in group.makeIterator() {
            let connection = try await PipelinedPostgresConnection.connect(
                host: host, port: components.port ?? 5432, user: user, database: database,
                startupParameters: startupParameters, on: loop)
            try await connection.prepare(name: name, sql: sql)
            connections.append(connection)
        }
        return PipelinedPostgres(connections: connections)
    }

    /// Runs the prepared statement with binary `parameters` on the connection of the caller's
    /// event loop (any connection off a loop) and returns the first column of each row, as text.
    func query(_ statement: String, binary parameters: [[UInt8]]) async throws -> [String] {
        let current = MultiThreadedEventLoopGroup.currentEventLoop
        let connection = connections.first { current != nil && $0.channel.eventLoop === current! } ?? connections[0]
        return try await connection.query(statement, binary: parameters)
    }

    func close() async {
        for connection in connections { try? await connection.channel.close() }
    }
}

final class PipelinedPostgresConnection: Sendable {
    let channel: any Channel
    private let flushQueued: NIOLoopBoundBox<Bool>

    private init(channel: any Channel) {
        self.channel = channel
        flushQueued = .makeBoxSendingValue(false, as: Bool.self, eventLoop: channel.eventLoop)
    }

    static func connect(
        host: String, port: Int, user: String, database: String, startupParameters: [(String, String)], on loop: any EventLoop
    ) async throws -> PipelinedPostgresConnection {
        let channel = try await ClientBootstrap(group: loop)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(PipelineHandler()) }
            }
            .connect(host: host, port: port).get()
        let connection = PipelinedPostgresConnection(channel: channel)
        var startup = channel.allocator.buffer(capacity: 256)
        startup.writeInteger(Int32(0))  // length, set below
        startup.writeInteger(Int32(196_608))  // protocol 3.0
        for (key, value) in [("user", user), ("database", database)] + startupParameters {
            startup.writeNullTerminated(key)
            startup.writeNullTerminated(value)
        }
        startup.writeInteger(UInt8(0))
        startup.setInteger(Int32(startup.readableBytes), at: 0)
        _ = try await connection.send(startup)
        return connection
    }

    func prepare(name: String, sql: String) async throws {
        var message = channel.allocator.buffer(capacity: 64 + sql.utf8.count)
        message.writeMessage("P") {
            $0.writeNullTerminated(name)
            $0.writeNullTerminated(sql)
            $0.writeInteger(Int16(0))
        }
        message.writeMessage("S") { _ in }
        _ = try await send(message)
    }

    func query(_ statement: String, binary parameters: [[UInt8]]) async throws -> [String] {
        var message = channel.allocator.buffer(capacity: 64 + parameters.reduce(0) { $0 + $1.count + 4 })
        message.writeMessage("B") {
            $0.writeInteger(UInt8(0))  // unnamed portal
            $0.writeNullTerminated(statement)
            $0.writeInteger(Int16(1))
            $0.writeInteger(Int16(1))  // every parameter binary
            $0.writeInteger(Int16(parameters.count))
            for parameter in parameters {
                $0.writeInteger(Int32(parameter.count))
                $0.writeBytes(parameter)
            }
            $0.writeInteger(Int16(0))  // results in text
        }
        message.writeMessage("E") {
            $0.writeInteger(UInt8(0))
            $0.writeInteger(Int32(0))
        }
        message.writeMessage("S") { _ in }
        return try await send(message)
    }

    /// Writes `bytes` (ending in a `Sync`, or the startup message) and waits for the
    /// `ReadyForQuery` that ends their answer.
    private func send(_ bytes: ByteBuffer) async throws -> [String] {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[String], any Error>) in
            let pending = PendingAnswer(continuation)
            if channel.eventLoop.inEventLoop {
                write(bytes, pending)
            } else {
                channel.eventLoop.execute { self.write(bytes, pending) }
            }
        }
    }

    private func write(_ bytes: ByteBuffer, _ pending: PendingAnswer) {
        channel.write(PipelineHandler.Outbound(bytes: bytes, answer: pending)).whenFailure { pending.finish(.failure($0)) }
        guard !flushQueued.value else { return }
        flushQueued.value = true
        channel.eventLoop.execute {
            self.flushQueued.value = false
            self.channel.flush()
        }
    }
}

/// One statement's answer being read: its rows' first columns, or the server's error.
final class PendingAnswer: @unchecked Sendable {
    private var continuation: CheckedContinuation<[String], any Error>?
    var rows: [String] = []
    var error: String?

    init(_ continuation: CheckedContinuation<[String], any Error>) {
        self.continuation = continuation
    }

    func finish(_ result: Result<[String], any Error>) {
        continuation?.resume(with: result)
        continuation = nil
    }
}

final class PipelineHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = Outbound
    typealias OutboundOut = ByteBuffer

    struct Outbound {
        var bytes: ByteBuffer
        var answer: PendingAnswer
    }

    private var waiting = CircularBuffer<PendingAnswer>(initialCapacity: 64)
    private var input: ByteBuffer?

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let outbound = unwrapOutboundIn(data)
        waiting.append(outbound.answer)
        context.write(wrapOutboundOut(outbound.bytes), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input == nil || input!.readableBytes == 0 {
            input = bytes
        } else {
            input!.writeBuffer(&bytes)
        }
        while let (type, body) = nextMessage() {
            handle(type, body, context: context)
        }
    }

    private func nextMessage() -> (UInt8, ByteBuffer)? {
        guard let type: UInt8 = input!.getInteger(at: input!.readerIndex),
            let length: Int32 = input!.getInteger(at: input!.readerIndex + 1),
            input!.readableBytes >= Int(length) + 1
        else { return nil }
        input!.moveReaderIndex(forwardBy: 5)
        let body = input!.readSlice(length: Int(length) - 4)!
        return (type, body)
    }

    private func handle(_ type: UInt8, _ body: ByteBuffer, context: ChannelHandlerContext) {
        var body = body
        switch type {
        case UInt8(ascii: "D"):
            guard let head = waiting.first, let columns: Int16 = body.readInteger(), columns > 0,
                let length: Int32 = body.readInteger()
            else { return }
            head.rows.append(length < 0 ? "" : body.readString(length: Int(length)) ?? "")
        case UInt8(ascii: "E"):
            waiting.first?.error = String(decoding: body.readableBytesView, as: UTF8.self)
        case UInt8(ascii: "Z"):
            guard let head = waiting.popFirst() else { return }
            if let error = head.error {
                head.finish(.failure(BenchmarkError("pfloor: the server said \(error)")))
            } else {
                head.finish(.success(head.rows))
            }
        case UInt8(ascii: "R"):
            if let code: Int32 = body.readInteger(), code != 0 {
                waiting.popFirst()?.finish(.failure(BenchmarkError("pfloor: only trust authentication (asked for \(code))")))
                context.close(promise: nil)
            }
        default:
            break  // ParseComplete, BindComplete, CommandComplete, ParameterStatus, BackendKeyData, notices
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        while let answer = waiting.popFirst() { answer.finish(.failure(BenchmarkError("pfloor: connection closed"))) }
    }
}

extension ByteBuffer {
    fileprivate mutating func writeNullTerminated(_ text: String) {
        writeString(text)
        writeInteger(UInt8(0))
    }

    /// A protocol message: its type byte, its length (itself included), its body.
    fileprivate mutating func writeMessage(_ type: Character, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(type.asciiValue!)
        let start = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - start), at: start)
    }
}
