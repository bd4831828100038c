import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
@testable import TrellisRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Holds every connection of `services`' pool (4 in tests) until `release` is cancelled.
private func occupyPool(_ services: TrellisServices, connections: Int = 4) -> Task<Void, Never> {
    Task {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    _ = try? await services.postgres.withConnection { _ in try await Task.sleep(for: .seconds(60)) }
                }
            }
        }
    }
}

/// Polls `condition` until it holds or `timeout` passes.
private func eventually(_ timeout: Duration = .seconds(5), _ condition: @Sendable () async throws -> Bool) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try await Task.sleep(for: .milliseconds(20))
    }
    return try await condition()
}

@Suite("Every wait has a limit: request deadline, pool lease, Postgres timeouts")
struct RequestLimitTests {
    @Test func aFullPoolIsA503WithRetryAfterAfterTheLeaseTimeoutNotAHang() async throws {
        var timeouts = Timeouts()
        timeouts.poolLease = .milliseconds(300)
        let captured = NIOLockedValueBox<TrellisServices?>(nil)
        try await withApp(timeouts: timeouts, configure: { _, services in captured.withLockedValue { $0 = services } }) { client, workspace in
            // The key is now cached (retried: a loaded machine can be slow to first answer).
            #expect(try await eventually(.seconds(10)) { try await client.send(.get, "/v1/agents").status == .ok })
            let services = try #require(captured.withLockedValue { $0 })
            let holder = occupyPool(services)
            defer { holder.cancel() }
            try await Task.sleep(for: .milliseconds(200))  // let the holders lease every connection
            // A write: it needs a pooled connection, where a read may be served by the pipeline.
            let started = ContinuousClock.now
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":"never stored"}"#)
            let elapsed = ContinuousClock.now - started
            #expect(res.status == .serviceUnavailable)
            #expect(try res.object().string("code") == "service_unavailable")
            #expect(try res.object().string("detail")?.contains("300 ms") == true)
            #expect(res.headers[.retryAfter] != nil)
            #expect(elapsed < .seconds(3), "waited \(elapsed)")
            holder.cancel()
            #expect(try await eventually { try await client.send(.get, "/v1/agents").status == .ok })
            let stored = try await withInspector { client in
                try await client.query("SELECT count(*) FROM agents WHERE workspace_id = \(workspace)", logger: Logger(label: "test"))
                    .decode(Int.self).all().first
            }
            #expect(stored == 0)
        }
    }

    @Test func aRequestPastItsDeadlineIsCancelledAndAnswered503() async throws {
        var timeouts = Timeouts()
        timeouts.request = .milliseconds(300)
        timeouts.poolLease = .seconds(30)
        let captured = NIOLockedValueBox<TrellisServices?>(nil)
        try await withApp(timeouts: timeouts, configure: { _, services in captured.withLockedValue { $0 = services } }) { client, workspace in
            #expect(try await eventually(.seconds(10)) { try await client.send(.get, "/v1/agents").status == .ok })
            let services = try #require(captured.withLockedValue { $0 })
            let holder = occupyPool(services)
            defer { holder.cancel() }
            try await Task.sleep(for: .milliseconds(200))
            let started = ContinuousClock.now
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":"never stored"}"#)
            #expect(res.status == .serviceUnavailable)
            #expect(try res.object().string("detail")?.contains("did not finish within 300 ms") == true)
            #expect(res.headers[.retryAfter] != nil)
            #expect(ContinuousClock.now - started < .seconds(3))
            holder.cancel()
            let last = NIOLockedValueBox("")
            let recovered = try await eventually(.seconds(10)) {
                let res = try await client.send(.get, "/v1/agents")
                last.withLockedValue { $0 = "\(res.status) \(res.text)" }
                return res.status == .ok
            }
            #expect(recovered, "after the pool was freed: \(last.withLockedValue { $0 })")
            let stored = try await withInspector { client in
                try await client.query("SELECT count(*) FROM agents WHERE workspace_id = \(workspace)", logger: Logger(label: "test"))
                    .decode(Int.self).all().first
            }
            #expect(stored == 0)
        }
    }

    @Test func aPipelinedReadPastItsDeadlineIsAnswered503AndTheReadsAfterItAreServed() async throws {
        try await withLockableDatabase { database, workspace, key in
            let captured = NIOLockedValueBox<TrellisServices?>(nil)
            try await withApp(
                workspace: workspace, timeouts: Self.shortDeadline, openAtStart: true, databaseURL: database.appURL,
                configure: { _, services in captured.withLockedValue { $0 = services } }
            ) { client, _ in
                // Every loop's pipelined connection open, so the read below cannot fall back to
                // the pool (where it would wait out the lock, up to lock_timeout); then the key
                // cached (retried: a loaded machine can be slow to first answer).
                let pipeline = try #require(captured.withLockedValue { $0 }?.pipeline)
                try await pipeline.waitUntilOpen(timeout: .seconds(20))
                #expect(try await eventually(.seconds(10)) { try await client.send(.get, "/v1/agents", as: .bearer(key)).status == .ok })
                try await expectDeadlineWhileAgentsAreLocked(in: database) { try await client.send(.get, "/v1/agents", as: .bearer(key)) }
                // The abandoned read's answer goes nowhere; the next reads get their own.
                #expect(try await eventually { try await client.send(.get, "/v1/agents", as: .bearer(key)).status == .ok })
            }
        }
    }

    @Test func aPooledWriteBlockedOnALockIsAnswered503AtItsDeadlineNotAtTheLockTimeout() async throws {
        try await withLockableDatabase { database, workspace, key in
            try await withApp(workspace: workspace, timeouts: Self.shortDeadline, databaseURL: database.appURL) { client, _ in
                #expect(try await eventually(.seconds(10)) { try await client.send(.get, "/v1/agents", as: .bearer(key)).status == .ok })
                try await expectDeadlineWhileAgentsAreLocked(in: database) {
                    try await client.send(.post, "/v1/agents", json: #"{"name":"blocked"}"#, as: .bearer(key))
                }
                // The next write is served, and the abandoned one was rolled back.
                #expect(try await eventually {
                    try await client.send(.post, "/v1/agents", json: #"{"name":"after"}"#, as: .bearer(key)).status == .created
                })
                let names = try await database.asSuperuser { superuser in
                    try await superuser.query("SELECT name FROM agents ORDER BY name", logger: silentLogger).decode(String.self).all()
                }
                #expect(names == ["after"])
            }
        }
    }

    /// A 300 ms request deadline; `lock_timeout` stays 5 s.
    static var shortDeadline: Timeouts {
        var timeouts = Timeouts()
        timeouts.request = .milliseconds(300)
        return timeouts
    }

    @Test func aRequestsTransactionHasItsWaitLimitsCutToTheTimeLeftAndNeverRaised() async throws {
        let identity = Identity(workspaceID: UUID(), kind: .cli, credentialID: "tests", scopes: ScopeSet(["*"]))
        /// `lock_timeout` and `statement_timeout` in a transaction that starts with the
        /// connection's own settings and then the request's.
        func limits(lock: String, statement: String, left: Duration?) async throws -> (lock: String, statement: String) {
            try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
                try await client.withConnection { connection in
                    _ = try await connection.query("BEGIN", logger: silentLogger)
                    _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL lock_timeout = '\(lock)'"), logger: silentLogger)
                    _ = try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = '\(statement)'"), logger: silentLogger)
                    _ = try await connection.query(
                        TenantTransaction.settings(for: identity, within: left.map { RequestDeadline(timeout: $0) }), logger: silentLogger)
                    let row = try await connection.query(
                        "SELECT current_setting('lock_timeout'), current_setting('statement_timeout')", logger: silentLogger
                    ).decode((String, String).self).all().first
                    _ = try await connection.query("ROLLBACK", logger: silentLogger)
                    let (lock, statement) = try #require(row)
                    return (lock, statement)
                }
            }
        }
        // Outside a request: the connection's own.
        #expect(try await limits(lock: "5s", statement: "15s", left: nil) == ("5s", "15s"))
        // Far from the deadline: never raised.
        #expect(try await limits(lock: "150ms", statement: "15s", left: .seconds(30)) == ("150ms", "15s"))
        // Near it: both cut to what is left (a few ms may have passed), and a setting of 0 (none) too.
        let near = try await limits(lock: "5s", statement: "0", left: .milliseconds(400))
        for setting in [near.lock, near.statement] {
            let ms = try #require(Int(setting.dropLast(2)), "\(setting)")
            #expect(setting.hasSuffix("ms") && ms > 0 && ms <= 400, "\(setting)")
        }
    }

    @Test func everyServerConnectionCarriesTheConfiguredPostgresTimeouts() async throws {
        var timeouts = Timeouts()
        timeouts.statement = .milliseconds(250)
        timeouts.lock = .milliseconds(150)
        timeouts.idleInTransaction = .seconds(7)
        let captured = NIOLockedValueBox<TrellisServices?>(nil)
        try await withApp(timeouts: timeouts, configure: { _, services in captured.withLockedValue { $0 = services } }) { _, _ in
            let services = try #require(captured.withLockedValue { $0 })
            let settings = try await services.postgres.query(
                "SELECT current_setting('statement_timeout'), current_setting('lock_timeout'), current_setting('idle_in_transaction_session_timeout')",
                logger: Logger(label: "test")
            ).decode((String, String, String).self).all().first
            #expect(settings?.0 == "250ms")
            #expect(settings?.1 == "150ms")
            #expect(settings?.2 == "7s")
            do {
                _ = try await services.postgres.query("SELECT pg_sleep(2)", logger: Logger(label: "test")).collect()
                Issue.record("a 2 s statement outlived a 250 ms statement_timeout")
            } catch let error as PSQLError {
                #expect(error.serverInfo?[.sqlState] == "57014")
            }
        }
    }

    @Test func aWriteBlockedOnALockIsA503AfterTheLockTimeout() async throws {
        var timeouts = Timeouts()
        timeouts.lock = .milliseconds(200)
        try await withApp(timeouts: timeouts) { client, _ in
            let agent = try await client.send(.post, "/v1/agents", json: #"{"name":"locked"}"#).object()
            let id = try #require(agent.string("id"))
            let locked = NIOLockedValueBox(false)
            let holder = Task {
                try await withInspector { inspector in
                    try await inspector.withConnection { connection in
                        _ = try await connection.query("BEGIN", logger: Logger(label: "test"))
                        _ = try await connection.query(
                            "SELECT 1 FROM agents WHERE id = \(UUID(uuidString: id)!) FOR UPDATE", logger: Logger(label: "test")).collect()
                        locked.withLockedValue { $0 = true }
                        try? await Task.sleep(for: .seconds(30))
                        _ = try? await connection.query("ROLLBACK", logger: Logger(label: "test"))
                    }
                }
            }
            defer { holder.cancel() }
            #expect(try await eventually { locked.withLockedValue { $0 } })
            let res = try await client.send(.patch, "/v1/agents/\(id)", json: #"{"name":"changed"}"#)
            #expect(res.status == .serviceUnavailable)
            #expect(res.headers[.retryAfter] != nil)
            #expect(!res.text.contains("lock"))  // no SQL detail leaks
            holder.cancel()
        }
    }

    @Test func timeoutsComeFromTheEnvironmentAndBadValuesNameTheirVariable() throws {
        let base = ["DATABASE_URL": "postgres://u:p@127.0.0.1:5432/db"]
        let configured = try ServerConfiguration.fromEnvironment(
            base.merging(["TRELLIS_REQUEST_TIMEOUT": "2s", "TRELLIS_PG_LEASE_TIMEOUT": "750ms", "TRELLIS_HTTP_IDLE_TIMEOUT": "3m",
                          "TRELLIS_PG_POOL_SIZE": "12"]) { $1 })
        #expect(configured.timeouts.request == .seconds(2))
        #expect(configured.timeouts.poolLease == .milliseconds(750))
        #expect(configured.timeouts.httpIdle == .seconds(180))
        #expect(configured.timeouts.statement == Timeouts().statement)
        #expect(configured.poolSize == 12)
        #expect(throws: ServerConfiguration.Invalid.self) {
            try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_PG_LOCK_TIMEOUT": "soon"]) { $1 })
        }
        do {
            _ = try ServerConfiguration.fromEnvironment(
                base.merging(["TRELLIS_PG_LOCK_TIMEOUT": "soon", "TRELLIS_HTTP_BODY_TIMEOUT": "0s", "TRELLIS_PG_POOL_SIZE": "0"]) { $1 })
        } catch let invalid as ServerConfiguration.Invalid {
            #expect(invalid.problems.count == 3)
            #expect(invalid.problems.contains { $0.hasPrefix("TRELLIS_PG_LOCK_TIMEOUT") && $0.contains("'soon'") })
            #expect(invalid.problems.contains { $0.hasPrefix("TRELLIS_HTTP_BODY_TIMEOUT") })
            #expect(invalid.problems.contains { $0.hasPrefix("TRELLIS_PG_POOL_SIZE") })
        }
    }
}

/// A loopback TCP client: enough to be a slow or idle HTTP peer.
///
/// It never blocks a thread while waiting: the server under test runs in this process,
/// and a test that parked one of the two cooperative threads in `poll` starved the
/// server's handlers (a prompt client then saw no response within 2 s). Waits poll with
/// a zero timeout and sleep between polls instead.
private final class RawConnection {
    let fd: Int32

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else { throw Unexpected(message: "connect failed: errno \(errno)") }
    }

    deinit { close(fd) }

    /// Sends `text`; false once the server has closed the connection.
    @discardableResult
    func send(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Waits up to `milliseconds` for the socket to become readable, without blocking the thread.
    private func becomesReadable(within milliseconds: Int32) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(milliseconds))
        while true {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 0) > 0 { return true }
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(5))
        }
    }

    /// True when the server closed the connection (EOF or reset), waiting up to `milliseconds`.
    func isClosed(waitingUpTo milliseconds: Int32) async -> Bool {
        guard await becomesReadable(within: milliseconds) else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { return true }
            if n < 0 { return errno != EAGAIN && errno != EWOULDBLOCK }
        }
    }

    /// Reads until `marker` arrives or `milliseconds` pass.
    func read(until marker: String, waitingUpTo milliseconds: Int32) async -> String {
        var received: [UInt8] = []
        let deadline = ContinuousClock.now + .milliseconds(Int(milliseconds))
        var buffer = [UInt8](repeating: 0, count: 4096)
        while ContinuousClock.now < deadline, !String(decoding: received, as: UTF8.self).contains(marker) {
            guard await becomesReadable(within: 50) else { continue }
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n == 0 { break }
            if n < 0 {
                if errno == EAGAIN || errno == EWOULDBLOCK { continue }
                break
            }
            received += buffer[0..<n]
        }
        return String(decoding: received, as: UTF8.self)
    }
}

@Suite("HTTP connections: idle, slow-header and slow-body sockets are closed")
struct ConnectionTimeoutTests {
    static var timeouts: Timeouts {
        var timeouts = Timeouts()
        // Seconds, not milliseconds: under a full test run on 2 cores the event loop and the
        // test's own polling can each stall for a second or more (a 600 ms limit was once seen
        // to close a connection after 2.4 s, and to cut off a client pausing only 50 ms).
        timeouts.httpIdle = .seconds(2)
        timeouts.httpHeader = .seconds(2)
        timeouts.httpBody = .seconds(2)
        return timeouts
    }

    /// A live server (real sockets) with Trellis's HTTP channel and one route.
    func withLiveServer(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let router = Router(context: TrellisRequestContext.self)
        router.get("/hello") { _, _ in "hello" }
        router.post("/echo") { request, _ in
            let bytes = try await request.body.collect(upTo: 1 << 16)
            return String(buffer: bytes)
        }
        let app = Application(
            router: router, server: .http1(timeouts: Self.timeouts, webSocket: WebSocketLimits(), router: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Logger(label: "test"))
        try await app.test(.live) { client in
            try await body(try #require(client.port))
        }
    }

    /// Sends one byte every 100 ms (which keeps any plain idle timer from firing) and
    /// returns how long the server took to close the connection, or nil if it never did.
    private func trickle(_ connection: RawConnection, _ text: String, for limit: Duration = .seconds(12)) async -> Duration? {
        let started = ContinuousClock.now
        var bytes = Array(text).makeIterator()
        while ContinuousClock.now - started < limit {
            if await connection.isClosed(waitingUpTo: 100) { return ContinuousClock.now - started }
            if !connection.send(String(bytes.next() ?? "x")) { return ContinuousClock.now - started }
        }
        return nil
    }

    @Test func anIdleConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withLiveServer { port in
            let connection = try RawConnection(port: port)
            let started = ContinuousClock.now
            var closed = false
            while !closed, ContinuousClock.now - started < .seconds(12) { closed = await connection.isClosed(waitingUpTo: 100) }
            #expect(closed)
            #expect(ContinuousClock.now - started >= .milliseconds(1_900))
        }
    }

    @Test func aHeaderSentByteByByteIsCutOffAfterTheHeaderTimeout() async throws {
        try await withLiveServer { port in
            let connection = try RawConnection(port: port)
            let closedAfter = await trickle(connection, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: " + String(repeating: "a", count: 200))
            let elapsed = try #require(closedAfter, "a slow header kept its connection for 12 s")
            // Cut off at its limit (2 s), not by the idle timer, which every byte resets.
            #expect(elapsed >= .milliseconds(1_900) && elapsed < .seconds(8), "\(elapsed)")
        }
    }

    @Test func aBodySentByteByByteIsCutOffAfterTheBodyTimeout() async throws {
        try await withLiveServer { port in
            let connection = try RawConnection(port: port)
            #expect(connection.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nContent-Type: text/plain\r\n\r\n"))
            let closedAfter = await trickle(connection, String(repeating: "b", count: 500))
            let elapsed = try #require(closedAfter, "a slow body kept its connection for 12 s")
            // Cut off at its limit (2 s), not by the idle timer, which every byte resets.
            #expect(elapsed >= .milliseconds(1_900) && elapsed < .seconds(8), "\(elapsed)")
        }
    }

    @Test func aPromptClientKeepsItsConnectionAcrossRequests() async throws {
        try await withLiveServer { port in
            // Only a client that stayed prompt proves anything: a full test run on 2 cores once
            // starved this task for longer than the 2 s limit, and closing then was the server's
            // job. So an attempt the machine stalled is made again (up to three), and a cut-off
            // while the client was prompt fails at once.
            var stalls: [Duration] = []
            for _ in 1...3 {
                switch try await Self.promptClient(port: port, for: .seconds(3)) {
                case let .kept(requests):
                    #expect(requests >= 10, "only \(requests) requests in 3 s")
                    return
                case let .cutOff(request, window):
                    Issue.record("request \(request) failed or was cut off \(window) after the one before it")
                    return
                case let .stalled(window):
                    stalls.append(window)
                }
            }
            Issue.record("every attempt was stalled past the limit by the machine: \(stalls)")
        }
    }

    private enum PromptOutcome {
        /// The connection answered every request.
        case kept(requests: Int)
        /// A request failed or the connection closed within a window shorter than any limit.
        case cutOff(request: Int, window: Duration)
        /// A request failed after a window as long as a limit: inconclusive.
        case stalled(window: Duration)
    }

    /// Requests one after another (each checked for a close 50 ms after its answer) for
    /// `length`: far inside the 2 s idle limit between them, while the connection as a whole
    /// outlives every limit, the first request's header limit included. Each request's window
    /// runs from the previous check to its own: a server limit can only expire inside a
    /// window at least that long.
    private static func promptClient(port: Int, for length: Duration) async throws -> PromptOutcome {
        let connection = try RawConnection(port: port)
        let started = ContinuousClock.now
        var windowStart = started
        var request = 0
        while ContinuousClock.now - started < length {
            request += 1
            let sent = connection.send("GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = sent ? await connection.read(until: "hello", waitingUpTo: 2_000) : ""
            let closed = await connection.isClosed(waitingUpTo: 50)
            let window = ContinuousClock.now - windowStart
            windowStart = ContinuousClock.now
            if sent, response.contains("200 OK"), !closed { continue }
            return window >= .milliseconds(1_900) ? .stalled(window: window) : .cutOff(request: request, window: window)
        }
        return .kept(requests: request)
    }
}

/// A scratch database with one workspace and a key for it: for the tests that lock a whole
/// table, which would hold up every other suite's reads of the test database.
private func withLockableDatabase(_ body: (ScratchDatabase, UUID, String) async throws -> Void) async throws {
    try await ScratchDatabase.with(migrated: true) { database in
        let workspace = try await TestDatabase.shared.makeWorkspace()
        try await database.addWorkspace(workspace)
        try await body(database, workspace, try await database.makeKey(workspace: workspace))
    }
}

/// Sends `request` while the owner holds `LOCK TABLE agents IN ACCESS EXCLUSIVE MODE`, and
/// checks that it is the 300 ms deadline's 503, answered long before `lock_timeout` (5 s).
private func expectDeadlineWhileAgentsAreLocked(
    in database: ScratchDatabase, _ request: @Sendable () async throws -> TestResponse
) async throws {
    try await database.asOwner { owner in
        try await owner.withConnection { connection in
            _ = try await connection.query("BEGIN", logger: silentLogger)
            _ = try await connection.query("LOCK TABLE agents IN ACCESS EXCLUSIVE MODE", logger: silentLogger)
            let started = ContinuousClock.now
            let res = try await request()
            let elapsed = ContinuousClock.now - started
            _ = try await connection.query("ROLLBACK", logger: silentLogger)
            #expect(res.status == .serviceUnavailable, "\(res.text)")
            #expect(try res.object().string("detail")?.contains("did not finish within 300 ms") == true, "\(res.text)")
            #expect(res.headers[.retryAfter] != nil)
            #expect(elapsed < .seconds(3), "answered after \(elapsed)")
        }
    }
}
