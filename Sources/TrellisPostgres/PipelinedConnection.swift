import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO
import Synchronization

/// What a pipeline's connections count together, for `/metrics`: statements sent and not
/// yet answered, and connections closed because their oldest statement went unanswered past
/// the answer timeout. Updated on the connections' event loops, read by anyone.
public final class PipelineCounters: Sendable {
    public let statementsInFlight = Atomic<Int>(0)
    public let unansweredCloses = Atomic<Int>(0)

    public init() {}
}

/// One connection to PostgreSQL with any number of statements in flight on it: each is sent
/// as `Bind`/`Execute`/`Sync` without waiting for the ones before it, and the answers, which
/// the server sends in order, are matched to them first in, first out. Statements handed over
/// while the event loop works through its queue leave in one write and come back in few reads,
/// so the system calls and wake-ups of a round trip are shared by all of them, on both sides
/// (Benchmarks/README.md, "A pipelining client").
///
/// A named statement is parsed once per connection: its first use sends `Parse`, `Describe`
/// and `Sync` ahead of its first execution, in the same write. Each execution ends with its
/// own `Sync`, so it is its own implicit transaction and one that fails fails alone. That is
/// why only single statements run here: a transaction's statements must share a session
/// state that other requests' statements in the pipeline would see.
///
/// Most code uses ``PostgresPipeline``, which keeps one connection per event loop open. A
/// connection is never reopened; once closed, its statements fail with
/// ``PostgresPipelineError/connectionClosed``.
public final class PipelinedConnection: Sendable {
    let channel: any Channel
    private let handler: NIOLoopBound<PipelineHandler>

    private init(channel: any Channel, handler: NIOLoopBound<PipelineHandler>) {
        self.channel = channel
        self.handler = handler
    }

    /// Opens a connection on `eventLoop` and logs in: trust, cleartext, `md5` or
    /// SCRAM-SHA-256, within `configuration.connectTimeout` in all.
    public static func connect(
        configuration: PostgresPipeline.Configuration, on eventLoop: any EventLoop, counters: PipelineCounters = PipelineCounters()
    ) async throws(PostgresPipelineError) -> PipelinedConnection {
        let target = "\(configuration.host):\(configuration.port)"
        let timeout = TimeAmount(configuration.connectTimeout)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(timeout)
                .channelOption(.tcpOption(.tcp_nodelay), value: 1)
                .channelOption(.socketOption(.so_keepalive), value: 1)
                .connect(host: configuration.host, port: configuration.port).get()
        } catch {
            throw .connectionFailed("\(target): \(error)")
        }
        do {
            try await TLSRequest.negotiate(configuration.tls, on: channel, host: configuration.host, timeout: timeout)
        } catch {
            try? await channel.close()
            throw error
        }
        let started = eventLoop.makePromise(of: Void.self)
        let handler: NIOLoopBound<PipelineHandler>
        do {
            handler = try await eventLoop.submit {
                let handler = PipelineHandler(
                    login: .init(user: configuration.username, password: configuration.password, started: started),
                    maxInFlight: configuration.maxInFlight, answerTimeout: TimeAmount(configuration.answerTimeout), counters: counters)
                try channel.pipeline.syncOperations.addHandler(handler)
                var startup = channel.allocator.buffer(capacity: 256)
                var parameters = [("user", configuration.username)]
                if let database = configuration.database { parameters.append(("database", database)) }
                startup.writeStartup(parameters + configuration.startupParameters)
                channel.writeAndFlush(startup, promise: nil)
                // A login that does not finish in time fails here; the opening then closes the channel.
                started.failUnlessDone(within: timeout, "\(target) did not finish the login")
                return NIOLoopBound(handler, eventLoop: eventLoop)
            }.get()
            try await started.futureResult.get()
        } catch {
            let failure = error as? PostgresPipelineError ?? .connectionFailed("\(target): \(error)")
            started.fail(failure)  // when the handler never took it (the channel closed first)
            try? await channel.close()
            throw failure
        }
        return PipelinedConnection(channel: channel, handler: handler)
    }

    /// Runs one statement and returns its rows, every column in binary.
    ///
    /// - Parameters:
    ///   - sql: one SQL statement, its parameters `$1`…`$n`.
    ///   - name: the prepared statement's name on this connection, the same for the same
    ///     `sql` and parameter types; nil runs `sql` unnamed (parsed and planned each time,
    ///     for poolers that cannot keep prepared statements).
    ///   - deadline: when to stop waiting for the answer (a request's deadline): checked by the
    ///     connection's watchdog, so the wait ends within ``PipelineHandler/watchdogInterval``
    ///     of it. No timer is armed per statement.
    /// - Throws: ``PostgresPipelineError``; ``PostgresPipelineError/deadlinePassed`` past
    ///   `deadline`; `CancellationError` when the task is cancelled first (in both cases the
    ///   statement may still run: it was sent).
    public func rows(_ sql: String, named name: String?, _ bindings: SQLBindings, deadline: NIODeadline? = nil) async throws -> [SQLRow] {
        if let deadline, deadline <= .now() { throw PostgresPipelineError.deadlinePassed }
        let answer = PipelineAnswer(deadline: deadline)
        let handler = handler
        let loop = channel.eventLoop
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[SQLRow], any Error>) in
                if loop.inEventLoop {
                    guard answer.start(continuation) else { return }
                    handler.value.submit(sql, named: name, bindings, answer: answer)
                } else {
                    loop.execute {
                        guard answer.start(continuation) else { return }
                        handler.value.submit(sql, named: name, bindings, answer: answer)
                    }
                }
            }
        } onCancel: {
            loop.execute { answer.cancel() }
        }
    }

    public var isActive: Bool { channel.isActive }
    public var eventLoop: any EventLoop { channel.eventLoop }
    public var closeFuture: EventLoopFuture<Void> { channel.closeFuture }

    /// Sends `Terminate` and closes; statements in flight fail with ``PostgresPipelineError/connectionClosed``.
    public func close() async {
        var terminate = channel.allocator.buffer(capacity: 5)
        terminate.writeTerminate()
        try? await channel.writeAndFlush(terminate)
        try? await channel.close()
    }
}

/// Where one statement's answer goes: the waiting task's continuation. Touched only on the
/// connection's event loop, which is what makes it `Sendable`.
final class PipelineAnswer: @unchecked Sendable {
    private var continuation: CheckedContinuation<[SQLRow], any Error>?
    private var cancelled = false
    /// When the waiting task stops waiting (``expire()``); nil: only the answer timeout.
    let deadline: NIODeadline?

    init(deadline: NIODeadline?) {
        self.deadline = deadline
    }

    /// Keeps `continuation` for the answer; false (and the continuation resumed) if the task
    /// was cancelled before the statement was handed over.
    func start(_ continuation: CheckedContinuation<[SQLRow], any Error>) -> Bool {
        if cancelled {
            continuation.resume(throwing: CancellationError())
            return false
        }
        self.continuation = continuation
        return true
    }

    func finish(_ result: Result<[SQLRow], any Error>) {
        continuation?.resume(with: result)
        continuation = nil
    }

    func cancel() {
        if let continuation {
            continuation.resume(throwing: CancellationError())
            self.continuation = nil
        } else {
            cancelled = true
        }
    }

    /// The deadline passed: the task stops waiting; the answer, when it comes, goes nowhere.
    func expire() {
        continuation?.resume(throwing: PostgresPipelineError.deadlinePassed)
        continuation = nil
    }
}

/// The connection's protocol: the login, then the statements in flight and their answers,
/// matched in order. Runs on the connection's event loop only.
final class PipelineHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    struct Login {
        var user: String
        var password: String?
        var started: EventLoopPromise<Void>
        var scram: SCRAMClient?
        var scramFinal: SCRAMClient.Final?
    }

    /// What one `Sync` in flight answers: a statement's preparation or an execution.
    struct Pending {
        enum Kind {
            case prepare(String)
            case execute(statement: String)
        }
        var kind: Kind
        var answer: PipelineAnswer?
        var columns: SQLColumns?
        var rows: [ByteBuffer] = []
        var error: PostgresServerError?
        var sent: NIODeadline
    }

    /// A statement prepared (or being prepared) on this connection under its name: the text
    /// and parameter types it was parsed with, and its columns once described.
    struct PreparedStatement {
        var sql: String
        var types: [PostgresDataType]
        var columns: SQLColumns?
    }

    private var login: Login?
    private var context: ChannelHandlerContext?
    private var input = ByteBuffer()
    private var pending = CircularBuffer<Pending>(initialCapacity: 64)
    private var statements: [String: PreparedStatement] = [:]
    /// Why the last preparation of a statement failed, reported to the executions that
    /// depended on it instead of "prepared statement does not exist".
    private var preparationErrors: [String: PostgresServerError] = [:]
    private var flushQueued = false
    /// Set once the connection is closing: nothing more is written, so nothing more waits.
    private var closed = false
    private let maxInFlight: Int
    private let answerTimeout: TimeAmount
    private var watchdog: RepeatedTask?
    private let counters: PipelineCounters

    init(login: Login, maxInFlight: Int, answerTimeout: TimeAmount, counters: PipelineCounters) {
        self.login = login
        self.maxInFlight = maxInFlight
        self.answerTimeout = answerTimeout
        self.counters = counters
    }

    /// How often the watchdog looks at the statements in flight: a statement's deadline ends
    /// its wait at most this late, and an unanswered statement closes its connection at most
    /// this long after ``PostgresPipeline/Configuration/answerTimeout``.
    static let watchdogInterval = TimeAmount.milliseconds(50)

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // One repeated check for every statement's limits, instead of a timer armed and
        // cancelled per statement (each a lock and a linear search of the loop's timers).
        let handler = NIOLoopBound(self, eventLoop: context.eventLoop)
        watchdog = context.eventLoop.scheduleRepeatedTask(initialDelay: Self.watchdogInterval, delay: Self.watchdogInterval) { _ in
            handler.value.watch()
        }
    }

    /// Ends the waits whose deadline passed; and when the oldest statement has gone unanswered
    /// for longer than `answerTimeout`, the server or the network is gone: the connection
    /// closes, failing every statement on it, instead of letting them wait without end.
    private func watch() {
        guard let oldest = pending.first, let context else { return }
        let now = NIODeadline.now()
        if oldest.sent + answerTimeout < now {
            counters.unansweredCloses.add(1, ordering: .relaxed)
            fail(PostgresPipelineError.connectionClosed, context: context)
            return
        }
        for index in pending.indices {
            guard let answer = pending[index].answer, let deadline = answer.deadline, deadline <= now else { continue }
            answer.expire()
            pending[index].answer = nil
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    /// Writes the statement's messages (its preparation first, the first time) and queues one
    /// flush for everything written in this turn of the loop.
    func submit(_ sql: String, named name: String?, _ bindings: SQLBindings, answer: PipelineAnswer) {
        guard let context, login == nil, !closed else {
            answer.finish(.failure(PostgresPipelineError.connectionClosed))
            return
        }
        guard pending.count < maxInFlight else {
            answer.finish(.failure(PostgresPipelineError.overloaded))
            return
        }
        let now = NIODeadline.now()
        var out = context.channel.allocator.buffer(capacity: 64 + bindings.bytes.readableBytes + (name == nil ? sql.utf8.count : 0))
        // A name already prepared here for another text or other types (two callers naming
        // statements each their own way) is never bound to this one: it runs unnamed.
        var name = name
        if let given = name, let prepared = statements[given], prepared.sql != sql || prepared.types != bindings.types {
            name = nil
        }
        if let name {
            if statements[name] == nil {
                out.reserveCapacity(minimumWritableBytes: sql.utf8.count + 64)
                out.writeParse(name: name, sql: sql, parameterTypes: bindings.types)
                out.writeDescribeStatement(name)
                out.writeSync()
                pending.append(Pending(kind: .prepare(name), sent: now))
                statements[name] = PreparedStatement(sql: sql, types: bindings.types)
                preparationErrors[name] = nil
            }
            out.writeBind(statement: name, bindings)
        } else {
            out.reserveCapacity(minimumWritableBytes: sql.utf8.count + 64)
            out.writeParse(name: "", sql: sql, parameterTypes: bindings.types)
            out.writeBind(statement: "", bindings)
            out.writeDescribeUnnamedPortal()
        }
        out.writeExecute()
        out.writeSync()
        pending.append(Pending(kind: .execute(statement: name ?? ""), answer: answer, sent: now))
        counters.statementsInFlight.add(1, ordering: .relaxed)
        context.write(wrapOutboundOut(out), promise: nil)
        guard !flushQueued else { return }
        flushQueued = true
        context.eventLoop.assumeIsolated().execute {
            self.flushQueued = false
            self.context?.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        if input.readableBytes == 0 {
            input = bytes
        } else {
            input.writeBuffer(&bytes)
        }
        do {
            while let message = try BackendMessage.next(from: &input) {
                try receive(message, context: context)
            }
        } catch {
            fail(error, context: context)
        }
    }

    private func receive(_ message: BackendMessage, context: ChannelHandlerContext) throws(PostgresPipelineError) {
        if login != nil {
            try receiveDuringLogin(message, context: context)
            return
        }
        switch message.type {
        case UInt8(ascii: "D"):
            guard !pending.isEmpty else { throw .protocolViolation("a row arrived with no statement in flight") }
            var row = message.body
            row.moveReaderIndex(forwardBy: 2)
            pending[pending.startIndex].rows.append(row)
        case UInt8(ascii: "T"):
            guard !pending.isEmpty, let columns = SQLColumns(rowDescription: message.body) else {
                throw .protocolViolation("an unexpected or malformed row description")
            }
            pending[pending.startIndex].columns = columns
        case UInt8(ascii: "n"):
            if !pending.isEmpty { pending[pending.startIndex].columns = SQLColumns.none }
        case UInt8(ascii: "E"):
            guard !pending.isEmpty else { throw .protocolViolation("an error arrived with no statement in flight") }
            pending[pending.startIndex].error = PostgresServerError(message.body)
        case UInt8(ascii: "Z"):
            guard let done = popFirst() else { throw .protocolViolation("ReadyForQuery with no statement in flight") }
            complete(done)
        default:
            break  // ParseComplete, BindComplete, ParameterDescription, CommandComplete, notices, notifications, settings
        }
    }

    private func complete(_ done: Pending) {
        switch done.kind {
        case .prepare(let name):
            if let error = done.error {
                statements[name] = nil
                preparationErrors[name] = error
            } else {
                statements[name]?.columns = done.columns ?? SQLColumns.none
            }
        case .execute(let name):
            if var error = done.error {
                if error.sqlState == "26000", let preparation = preparationErrors[name] { error = preparation }
                done.answer?.finish(.failure(PostgresPipelineError.server(error)))
                return
            }
            let columns: SQLColumns
            if let own = done.columns {
                columns = own
            } else if let prepared = statements[name]?.columns {
                columns = prepared
            } else {
                columns = SQLColumns.none
            }
            done.answer?.finish(.success(done.rows.map { SQLRow(columns: columns, data: $0) }))
        }
    }

    private func receiveDuringLogin(_ message: BackendMessage, context: ChannelHandlerContext) throws(PostgresPipelineError) {
        var body = message.body
        switch message.type {
        case UInt8(ascii: "R"):
            guard let code: Int32 = body.readInteger() else { throw .protocolViolation("an empty authentication request") }
            try authenticate(code, body, context: context)
        case UInt8(ascii: "E"):
            throw .connectionFailed("the server refused the login: \(PostgresServerError(body))")
        case UInt8(ascii: "Z"):
            let started = login!.started
            login = nil
            started.succeed()
        default:
            break  // ParameterStatus, BackendKeyData, notices
        }
    }

    private func authenticate(_ code: Int32, _ body: ByteBuffer, context: ChannelHandlerContext) throws(PostgresPipelineError) {
        var body = body
        var out = context.channel.allocator.buffer(capacity: 128)
        switch code {
        case 0:
            return
        case 3:
            guard let password = login!.password else { throw .connectionFailed("the server asks for a password and the URL has none") }
            out.writePassword(Array(password.utf8) + [0])
        case 5:
            guard let password = login!.password else { throw .connectionFailed("the server asks for a password and the URL has none") }
            guard let salt = body.readBytes(length: 4) else { throw .protocolViolation("an md5 request without its salt") }
            out.writePassword(Array(md5PasswordAnswer(user: login!.user, password: password, salt: salt).utf8) + [0])
        case 10:
            var mechanisms: [String] = []
            while let mechanism = body.readNullTerminatedString(), !mechanism.isEmpty { mechanisms.append(mechanism) }
            guard mechanisms.contains("SCRAM-SHA-256") else {
                throw .connectionFailed("the server offers SASL \(mechanisms.joined(separator: ", ")), not SCRAM-SHA-256")
            }
            guard let password = login!.password else { throw .connectionFailed("the server asks for a password and the URL has none") }
            let scram = SCRAMClient(password: password)
            login!.scram = scram
            out.writeSASLInitialResponse(mechanism: "SCRAM-SHA-256", Array(scram.clientFirst.utf8))
        case 11:
            guard let scram = login!.scram else { throw .protocolViolation("a SCRAM challenge before SCRAM began") }
            let final = try scram.final(serverFirst: String(decoding: body.readableBytesView, as: UTF8.self))
            login!.scramFinal = final
            out.writePassword(Array(final.message.utf8))
        case 12:
            guard let final = login!.scramFinal else { throw .protocolViolation("a SCRAM outcome before the client's proof") }
            try SCRAMClient.verify(serverFinal: String(decoding: body.readableBytesView, as: UTF8.self), final)
            return
        default:
            throw .connectionFailed("the server asks for an authentication method this client does not speak (\(code))")
        }
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    /// The oldest statement in flight, taken off the queue (and off the count of executions).
    private func popFirst() -> Pending? {
        guard let done = pending.popFirst() else { return nil }
        if case .execute = done.kind { counters.statementsInFlight.subtract(1, ordering: .relaxed) }
        return done
    }

    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        // Before the login ends, another layer's error (a TLS handshake's) fails the connection's opening.
        let failure = error as? PostgresPipelineError ?? (login == nil ? .protocolViolation("\(error)") : .connectionFailed("\(error)"))
        if let login {
            self.login = nil
            login.started.fail(failure)
        }
        // Closed first, so a statement whose failure resumes its task finds the connection closed.
        context.close(promise: nil)
        failAll(.connectionClosed)
    }

    private func failAll(_ error: PostgresPipelineError) {
        closed = true
        watchdog?.cancel()
        watchdog = nil
        while let done = popFirst() { done.answer?.finish(.failure(error)) }
        statements = [:]
    }

    func channelInactive(context: ChannelHandlerContext) {
        if let login {
            self.login = nil
            login.started.fail(PostgresPipelineError.connectionFailed("the server closed the connection during the login"))
        }
        failAll(.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error, context: context)
    }
}
