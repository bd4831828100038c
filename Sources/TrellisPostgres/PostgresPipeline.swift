import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// Pipelined connections to one PostgreSQL database, `connectionsPerLoop` on each event loop
/// (default one), kept open while ``run()`` runs: a connection that closes is reopened, after
/// 100 ms and then up to 5 s between attempts. A statement goes to a connection on the
/// caller's own event loop when there is one, so it is written, answered and resumed on one
/// thread.
public final class PostgresPipeline: Service, Sendable {
    public struct Configuration: Sendable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String?
        /// Session settings sent at login (`statement_timeout`, `plan_cache_mode`, …).
        public var startupParameters: [(String, String)]
        /// TCP connect and login together: 10 s unless set.
        public var connectTimeout: Duration
        public var connectionsPerLoop: Int
        /// Statements in flight on one connection before more are refused with
        /// ``PostgresPipelineError/overloaded``: 1,024 unless set.
        public var maxInFlight: Int
        /// The longest a statement waits for its answer before its connection is taken for
        /// gone and closed, failing every statement on it: 60 s unless set. Keep it above the
        /// server's `statement_timeout`, which ends a slow statement first.
        public var answerTimeout: Duration
        /// Open every connection at start (a server), or each when a read on its event loop
        /// first wants it (tests, which run hundreds of pipelines side by side): true unless set.
        public var openAtStart = true
        /// Whether connections speak TLS: none unless set (see ``TLS``).
        public var tls = TLS.disable

        /// TLS as libpq's `sslmode` asks for it, decided per connection by the server's answer
        /// to an `SSLRequest`.
        public enum TLS: Sendable {
            /// Never.
            case disable
            /// When the server accepts it; in the clear when it does not (`allow`, `prefer`).
            case prefer(TLSConfiguration)
            /// Always: a server that does not accept TLS is a failed connection (`require`,
            /// `verify-ca`, `verify-full`, which differ in what the configuration verifies).
            case require(TLSConfiguration)
        }

        public init(
            host: String, port: Int, username: String, password: String?, database: String?,
            startupParameters: [(String, String)] = [], connectTimeout: Duration = .seconds(10), connectionsPerLoop: Int = 1,
            maxInFlight: Int = 1024, answerTimeout: Duration = .seconds(60)
        ) {
            self.answerTimeout = answerTimeout
            self.host = host
            self.port = port
            self.username = username
            self.password = password
            self.database = database
            self.startupParameters = startupParameters
            self.connectTimeout = connectTimeout
            self.connectionsPerLoop = max(1, connectionsPerLoop)
            self.maxInFlight = max(1, maxInFlight)
        }
    }

    public let configuration: Configuration
    private let loops: [any EventLoop]
    /// Each connection's place: the connection while it is open, and whether its task runs.
    private struct Slot {
        var connection: PipelinedConnection?
        var started = false
    }

    private let slots: Mutex<[Slot]>
    /// Slots a read wanted before their task was started (``Configuration/openAtStart`` false).
    private let wanted: (stream: AsyncStream<Int>, continuation: AsyncStream<Int>.Continuation)
    private let turn = Atomic<Int>(0)
    private let opened = Atomic<Int>(0)
    private let counters = PipelineCounters()
    private let logger: Logger

    public init(configuration: Configuration, eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) {
        self.configuration = configuration
        loops = Array(eventLoopGroup.makeIterator())
        slots = Mutex(Array(repeating: Slot(), count: loops.count * configuration.connectionsPerLoop))
        wanted = AsyncStream.makeStream(of: Int.self)
        self.logger = logger
    }

    /// Opens the connections (all at once, or as reads want them) and keeps them open until
    /// the task is cancelled or the service group shuts down; then closes them.
    public func run() async throws {
        let count = slots.withLock { $0.count }
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                if self.configuration.openAtStart {
                    self.slots.withLock { slots in
                        for index in slots.indices { slots[index].started = true }
                    }
                    for slot in 0..<count { group.addTask { await self.keepOpen(slot) } }
                }
                for await slot in self.wanted.stream {
                    group.addTask { await self.keepOpen(slot) }
                }
            }
        }
    }

    /// How many connections are open now.
    public var openConnections: Int {
        slots.withLock { $0.reduce(0) { $0 + (($1.connection?.isActive ?? false) ? 1 : 0) } }
    }

    /// How many connections have been opened since the pipeline started, reopened ones included.
    public var connectionsOpened: Int { opened.load(ordering: .relaxed) }

    /// How many statements have been sent and not answered yet, over every connection.
    public var statementsInFlight: Int { counters.statementsInFlight.load(ordering: .relaxed) }

    /// How many connections were closed because a statement went unanswered past
    /// ``Configuration/answerTimeout`` (the server or the network gone quiet).
    public var unansweredCloses: Int { counters.unansweredCloses.load(ordering: .relaxed) }

    /// Waits until every connection is open, at most `timeout`.
    public func waitUntilOpen(timeout: Duration = .seconds(10)) async throws {
        let deadline = ContinuousClock.now + timeout
        while openConnections < slots.withLock({ $0.count }) {
            guard ContinuousClock.now < deadline else { throw PostgresPipelineError.unavailable }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    /// Runs one statement on a connection of the caller's event loop (another's if that one is
    /// closed); see ``PipelinedConnection/rows(_:named:_:deadline:)``.
    public func rows(_ sql: String, named name: String?, _ bindings: SQLBindings, deadline: NIODeadline? = nil) async throws -> [SQLRow] {
        try await pick().rows(sql, named: name, bindings, deadline: deadline)
    }

    private func pick() throws(PostgresPipelineError) -> PipelinedConnection {
        let perLoop = configuration.connectionsPerLoop
        var first = 0
        if let current = MultiThreadedEventLoopGroup.currentEventLoop, let index = loops.firstIndex(where: { $0 === current }) {
            first = index * perLoop
        }
        if perLoop > 1 { first += turn.add(1, ordering: .relaxed).newValue % perLoop }
        let (connection, start) = slots.withLock { slots -> (PipelinedConnection?, Int?) in
            var start: Int?
            if !slots[first].started {
                slots[first].started = true
                start = first
            }
            for offset in 0..<slots.count {
                if let connection = slots[(first + offset) % slots.count].connection, connection.isActive { return (connection, start) }
            }
            return (nil, start)
        }
        if let start { wanted.continuation.yield(start) }
        guard let connection else { throw .unavailable }
        return connection
    }

    private func keepOpen(_ slot: Int) async {
        let loop = loops[slot / configuration.connectionsPerLoop]
        var backoff = Duration.milliseconds(100)
        while !Task.isCancelled {
            let connection: PipelinedConnection
            do {
                connection = try await PipelinedConnection.connect(configuration: configuration, on: loop, counters: counters)
            } catch {
                logger.warning("pipelined Postgres connection failed", metadata: ["error": "\(error)", "retry_in": "\(backoff)"])
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, .seconds(5))
                continue
            }
            backoff = .milliseconds(100)
            slots.withLock { $0[slot].connection = connection }
            opened.add(1, ordering: .relaxed)
            await withTaskCancellationHandler {
                try? await connection.closeFuture.get()
            } onCancel: {
                connection.channel.close(promise: nil)
            }
            slots.withLock { $0[slot].connection = nil }
            if Task.isCancelled { await connection.close() }
        }
    }
}
