import App
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Testing
import TrellisPostgres
@testable import TrellisRuntime

/// The real Postgres that `scripts/test` starts. These tests need it: run them through
/// `scripts/test`, which exports the URLs below.
enum TestEnvironment {
    static func url(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else {
            throw Missing(name: name)
        }
        return value
    }

    struct Missing: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not set: run the tests with scripts/test, which starts Postgres and sets it" }
    }

    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
}

/// Migrates the test database once per process (the migrator's advisory lock makes
/// concurrent callers wait), then gives each test its own workspace.
actor TestDatabase {
    static let shared = TestDatabase()
    private var migrated = false

    func prepare() async throws {
        guard !migrated else { return }
        let files = try MigrationDirectory.load(TestEnvironment.repositoryRoot.appendingPathComponent("migrations"))
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
            _ = try await Migrator(client: client, logger: Logger(label: "test")).up(files)
        }
        migrated = true
    }

    /// A new workspace, created as the owner role (platform table).
    func makeWorkspace() async throws -> UUID {
        try await prepare()
        let id = UUID.v7()
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
            _ = try await client.query("INSERT INTO workspaces (id, name) VALUES (\(id), 'test')", logger: Logger(label: "test"))
        }
        return id
    }
}

/// One pipeline for the apps of every test that runs with the default role and timeouts, as
/// one server's pipeline carries all its requests' reads (every workspace's, in flight
/// together): started at its first use, running until the process ends. Hundreds of apps with
/// a pipeline each would need hundreds more of Postgres's connection slots at once.
enum SharedTestPipeline {
    static let shared: Result<PostgresPipeline, any Error> = Result {
        let pipeline = try TrellisServer.pipeline(TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"), timeouts: Timeouts(), logger: silentLogger)
        Task.detached { try? await pipeline.run() }
        return pipeline
    }
    static let shapes = PreparedShapes(limit: 256)
}

/// A small pool for `url`: dozens of tests run at once against one Postgres, and its
/// connection slots (`max_connections`) are shared by all of them.
func testClientConfiguration(_ url: String, maximumConnections: Int = 4) throws -> PostgresClient.Configuration {
    var configuration = try DatabaseURL(url).clientConfiguration
    configuration.options.maximumConnections = maximumConnections
    return configuration
}

/// Runs `body` with a running client for `url`.
/// Runs `statements` as the owner in one transaction that waits at most 100 ms for each lock,
/// retrying for up to 15 s when Postgres refuses it for a reason that passes: a lock not
/// granted in time (55P03), a deadlock (40P01), or a catalog row another DDL statement changed
/// meanwhile (XX000, "tuple concurrently updated").
///
/// Suites run side by side, and DDL on a shared table (a trigger on audit_log, a table whose
/// foreign key references swarms) needs locks that every concurrent write of that table
/// conflicts with: waiting for them without a bound queues every later write behind the DDL,
/// and two such statements at once can deadlock.
func ownerDDL(_ statements: [String]) async throws {
    let owner = try TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")
    let logger = Logger(label: "test")
    try await withClient(url: owner) { client in
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            do {
                try await client.withConnection { connection in
                    try await connection.query("BEGIN", logger: logger)
                    do {
                        try await connection.query("SET LOCAL lock_timeout = '100ms'", logger: logger)
                        for statement in statements { try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger) }
                        try await connection.query("COMMIT", logger: logger)
                    } catch {
                        _ = try? await connection.query("ROLLBACK", logger: logger)
                        throw error
                    }
                }
                return
            } catch let error as PSQLError where ["55P03", "40P01", "XX000"].contains(error.serverInfo?[.sqlState] ?? "")
                && ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(Int.random(in: 20...120)))
            }
        }
    }
}

func withClient<T: Sendable>(url: String, _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    try await withClient(configuration: try testClientConfiguration(url, maximumConnections: 2), body)
}

/// Runs `body` with a running client made from `configuration`.
func withClient<T: Sendable>(
    configuration: PostgresClient.Configuration, _ body: @Sendable (PostgresClient) async throws -> T
) async throws -> T {
    let client = PostgresClient(configuration: configuration)
    return try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask {
            await client.run()
            return nil
        }
        defer { group.cancelAll() }
        return try await body(client)
    }
}

/// Runs `body` with a superuser connection to the test database. Tenant tables force
/// row-level security even on their owner, so this is how a test checks what is really
/// stored, in every workspace.
func withInspector<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
    let admin = try TestEnvironment.url("TRELLIS_TEST_PG_ADMIN_URL")
    let app = try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")
    guard let adminSlash = admin.lastIndex(of: "/"), let appSlash = app.lastIndex(of: "/") else {
        throw TestEnvironment.Missing(name: "TRELLIS_TEST_PG_ADMIN_URL with a database path")
    }
    return try await withClient(url: String(admin[..<adminSlash]) + String(app[appSlash...]), body)
}

/// An API key for `workspace`, created as the owner role (as `trellis keys create` does).
/// A platform-admin key (`["admin"]`) always goes to the platform workspace, where alone
/// such keys may live.
func makeKey(workspace: UUID, scopes: [String] = ["*"], expiresAt: Date? = nil) async throws -> APIKeys.Created {
    try await TestDatabase.shared.prepare()
    let workspace = scopes == [ScopeSet.platformAdmin] ? Workspaces.platformID : workspace
    let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "tests", scopes: ScopeSet(["*", "admin"]))
    let origin = RequestOrigin(requestID: "test-setup", ip: nil, userAgent: nil)
    return try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_OWNER_URL")) { client in
        try await TenantTransaction.run(on: client, identity: identity, origin: origin, logger: Logger(label: "test")) { tx in
            try await APIKeys.create(name: "test", scopes: ScopeSet(scopes), expiresAt: expiresAt, in: tx)
        }
    }
}

/// The generated API served by the real router, as the server's (non-owner) role, with its
/// API-key cache refresher running. Requests carry a key for the workspace (a fresh one
/// unless given) holding `scopes`. `databaseURL` replaces the server role's URL for the app's
/// pool (the key is still made in the test database).
@discardableResult
func withApp<T: Sendable>(
    workspace: UUID? = nil, scopes: [String] = ["*"], jwt: JWTAuthenticator? = nil, timeouts: Timeouts = Timeouts(),
    gate: WorkspaceGate = WorkspaceGate(limit: 10), cors: CORSPolicy? = nil, poolSize: Int = 4, openAtStart: Bool = false,
    api: APIDefinition = TrellisApp.api, rateLimiter: RateLimiter? = nil, readCache: ReadCache? = nil,
    databaseURL: String? = nil, sessions: SessionStore? = nil, loginLimits: LoginLimits = LoginLimits(),
    realtime: (@Sendable (PostgresClient) -> Realtime)? = nil, runRelay: Bool = true, live: Bool = false,
    webhooks: WebhookSettings? = nil, traceExport: TraceExport? = nil,
    configure: @escaping @Sendable (Router<TrellisRequestContext>, TrellisServices) -> Void = { _, _ in },
    alongside: @Sendable (TrellisServices) -> [any Service] = { _ in [] },
    _ body: @escaping @Sendable (APIClient, UUID) async throws -> T
) async throws -> T {
    let ws: UUID
    if let workspace { ws = workspace } else { ws = try await TestDatabase.shared.makeWorkspace() }
    let key = try await makeKey(workspace: ws, scopes: scopes)
    // The server's own pool set-up (session timeouts included), with few connections.
    let client = PostgresClient(
        configuration: try TrellisServer.serverPoolConfiguration(
            databaseURL ?? TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"), size: poolSize, timeouts: timeouts,
            openAtStart: openAtStart))
    var services = TrellisServices(api: api, postgres: client, jwt: jwt, timeouts: timeouts, workspaceGate: gate)
    // Reads through the pipeline, as `trellis serve` runs them (TRELLIS_PG_PIPELINE, default on):
    // the process's one pipeline, unless the test sets its own role or session timeouts.
    let ownPipeline: PostgresPipeline?
    if databaseURL == nil, timeouts == Timeouts() {
        ownPipeline = nil
        services.pipeline = try SharedTestPipeline.shared.get()
        // One server's shapes: the names its pipeline's connections know them by.
        services.preparedShapes = SharedTestPipeline.shapes
    } else {
        ownPipeline = try TrellisServer.pipeline(
            databaseURL ?? TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"), timeouts: timeouts, openAtStart: openAtStart, logger: silentLogger)
        services.pipeline = ownPipeline
    }
    services.rateLimiter = rateLimiter
    services.readCache = readCache
    services.webhooks = webhooks
    if !api.dependencies.isEmpty { services.dependencyHealth = DependencyHealth(api.dependencies) }
    let realtime = realtime?(client)
    services.realtime = realtime
    // Login budgets of this app alone (in process), unless the test shares a limiter: the
    // test router has no peer address, so every app's logins would share one Redis budget.
    services.useSessions(
        sessions, hasher: PasswordHasher(cost: testPasswordCost), limiter: rateLimiter ?? RateLimiter(redis: nil, logger: silentLogger),
        limits: loginLimits)
    var logger = Logger(label: "test")
    logger.logLevel = .warning
    // Tracing: the exporter starts first and stops last, so the spans of shutdown are sent too.
    let traceExporter = try traceExport.map { try $0.makeTracer(logger: silentLogger) }
    services.tracer = traceExporter?.tracer
    let router = TrellisServer.makeRouter(api: api, services: services, cors: cors)
    configure(router, services)
    // Live: a real HTTP server on a free port, with the server's own connection timeouts.
    var app = Application(router: router, server: .http1(timeouts: timeouts, webSocket: WebSocketLimits(pingInterval: realtime?.heartbeat ?? .seconds(15)), router: router), logger: logger)
    if let traceExporter { app.addServices(traceExporter.service) }
    app.addServices(client)
    if let ownPipeline { app.addServices(ownPipeline) }
    app.addServices(APIKeyCacheRefresher(services: services, logger: logger), AuditSealer(postgres: client, logger: logger))
    if let realtime {
        // The hub reads the subscriber until it ends: it must shut down after the subscriber.
        app.addServices(realtime.hub, realtime.hub.subscriber)
        // Without its relay, an instance commits events and never publishes them (one that died after commit).
        if runRelay { app.addServices(realtime.relay) }
    }
    if let health = services.dependencyHealth {
        app.addServices(DependencyProber(health: health, metrics: services.metrics.operations, logger: logger, tracer: services.tracer))
    }
    app.addServices(alongside(services))
    return try await app.test(live ? .live : .router) { testClient in
        try await body(APIClient(client: testClient, bearer: key.token.text), ws)
    }
}

/// scrypt at its cheapest bounds (1 MiB, about 2 ms): the tests exercise hashing and
/// verification, not their cost (docs/security.md gives the production figures).
let testPasswordCost = PasswordHasher.Cost(logN: 10, blockSize: 8, parallelism: 1)

/// A logger that writes nothing, for services whose expected warnings would bury a test's output.
let silentLogger = Logger(label: "trellis.tests.silent", factory: { _ in SwiftLogNoOpLogHandler() })

/// The test client with a default credential.
struct APIClient: Sendable {
    let client: any TestClientProtocol
    /// The workspace key `withApp` made.
    let bearer: String

    enum Credential: Sendable {
        case defaultKey
        case anonymous
        case bearer(String)
    }

    /// Sends JSON (or any text) with the given credential and returns the response.
    @discardableResult
    func send(
        _ method: HTTPRequest.Method, _ uri: String, json: String? = nil, headers: HTTPFields = [:],
        as credential: Credential = .defaultKey
    ) async throws -> TestResponse {
        var headers = headers
        if json != nil, headers[.contentType] == nil { headers[.contentType] = "application/json" }
        switch credential {
        case .defaultKey: headers[.authorization] = "Bearer \(bearer)"
        case .anonymous: break
        case let .bearer(token): headers[.authorization] = "Bearer \(token)"
        }
        return try await client.execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }
}

extension TestResponse {
    var text: String { body.getString(at: body.readerIndex, length: body.readableBytes) ?? "" }

    /// The body parsed as JSON; fails the test when it is not JSON.
    var json: JSONValue {
        get throws { try JSONValue(parsing: Array(body.readableBytesView)) }
    }

    func object() throws -> JSONObject {
        guard case let .object(object) = try json else {
            throw Unexpected(message: "expected a JSON object, got \(text)")
        }
        return object
    }
}

struct Unexpected: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension JSONObject {
    func string(_ key: String) -> String? {
        if case let .string(s)? = self[key] { return s }
        return nil
    }

    /// The created row's `id`; throws (failing only this test) when the write did not
    /// create one, say because a busy suite answered it with a 503.
    func id() throws -> String {
        guard let id = string("id") else { throw Unexpected(message: "expected an \"id\" in \(self)") }
        return id
    }

    func array(_ key: String) -> [JSONValue] {
        if case let .array(a)? = self[key] { return a }
        return []
    }
}

extension JSONValue {
    var object: JSONObject? {
        if case let .object(o) = self { return o }
        return nil
    }
}

/// Polls `condition` every `interval` until it holds (true) or `timeout` has passed (false):
/// for behaviour that takes effect "within" some time, instead of a fixed sleep that is
/// either too long or, on a busy machine, too short.
func eventually(
    timeout: Duration, interval: Duration = .milliseconds(20), _ condition: () async throws -> Bool
) async throws -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try await Task.sleep(for: interval)
    }
}

/// Runs `body`, which must fail with a Postgres error of SQLSTATE `sqlState`. Any other
/// outcome fails the test, a typo in the test's own SQL (42601, 42703, …) included.
func expectSQLState(
    _ sqlState: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void
) async {
    let error = await #expect(throws: PSQLError.self, sourceLocation: sourceLocation) { try await body() }
    if let error {
        let actual = error.serverInfo?[.sqlState]
        #expect(actual == sqlState, "SQLSTATE \(actual ?? "none"): \(String(reflecting: error))", sourceLocation: sourceLocation)
    }
}

/// `errors[]` of a problem as (path, code) pairs.
func problemErrors(_ response: TestResponse) throws -> [String] {
    try response.object().array("errors").compactMap { error in
        guard let o = error.object else { return nil }
        return "\(o.string("path") ?? "?") \(o.string("code") ?? "?")"
    }
}
