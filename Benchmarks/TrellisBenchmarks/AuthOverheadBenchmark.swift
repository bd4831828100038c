import App
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import TrellisPostgres
import TrellisRuntime

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The auth overhead benchmark of the issue: requests/s of `GET /v1/agents/{id}` (API-key
/// auth + RLS-scoped read, exactly as the shipped server serves it) against a route
/// that exists only in this executable and reads the same row with one plain query. Both
/// routes are served by one real HTTP server in the same run and loaded alternately by
/// `wrk`; the result is the ratio auth/plain. Goal: RLS + auth cost under 20% of throughput.
///
/// What differs between the two routes, and nothing else:
///
/// - auth: `AuthenticationMiddleware` (API key parsed, SHA-256 of the secret, per-instance
///   cache hit, constant-time compare, scope check), then `TenantStatement` on the
///   server role: the `SELECT` wrapped so that it runs `set_config(workspace, actor, true)`
///   first, as one autocommit named prepared statement — one round trip, planned once per
///   connection, with the RLS policy filtering the row. (Before the one-statement read path this was `BEGIN`, `set_config`, `SELECT`,
///   `COMMIT`: four round trips, ratio about 0.53.)
/// - plain: the same `SELECT` (same columns, `WHERE workspace_id = $1 AND id = $2`) as one
///   autocommit query, on a second pool of the same size. That pool's connections have
///   `trellis.workspace_id` pinned at connection start (with the default `--plain-url`, the
///   server role), so the RLS policy still applies and finds the row; only the per-request
///   authentication and transaction are skipped. Point `--plain-url` at a superuser to skip
///   the policy too.
///
/// Both routes decode the row into the generated `Agent`, write the same JSON with the same
/// `Content-Type` and `ETag`, and pass the same router middleware (request id, request log,
/// problem boundary); the check before timing compares the bodies byte for byte.
enum AuthOverheadBenchmark: BenchmarkScenario {
    static let name = "auth-overhead"
    static let summary = "GET /v1/agents/{id} with API-key auth + RLS vs one plain query"
    static let options = """
        --database-url URL   the server's role (default: $DATABASE_URL)
        --owner-url URL      the owner role, to migrate and create the fixture (default: $DATABASE_OWNER_URL)
        --plain-url URL      the role of the plain route's pool (default: the server's role)
        --seconds N          seconds per timed round and route (default 10)
        --rounds N           timed rounds per route, plain and auth alternating (default 3)
        --warmup N           warm-up seconds per route before the rounds (default 2)
        --connections N      wrk connections, the same for both routes (default 32)
        --threads N          wrk threads (default 2)
        --pool N             Postgres connections per pool (default 40; `trellis serve` defaults to 8 per core, 8 to 40)
        --port N             HTTP port on 127.0.0.1 (default 0: any free port)
        --wrk PATH           the wrk binary (default: wrk on PATH)
        --migrations DIR     the migrations folder (default: the repository's migrations/)
        --breakdown          also time auth-only and transaction-only routes, to split the cost
        """

    /// The 20% goal of the issue: auth + RLS may cost less than this share of throughput.
    static let goal = 0.20

    struct Options {
        var databaseURL = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
        var ownerURL = ProcessInfo.processInfo.environment["DATABASE_OWNER_URL"] ?? ""
        var plainURL: String?
        var seconds = 10
        var rounds = 3
        var warmup = 2
        var connections = 32
        var threads = 2
        var pool = 40
        var port = 0
        var wrk = "wrk"
        var migrations: String?
        var breakdown = false
    }

    static func parse(_ arguments: [String]) throws -> Options {
        let reader = try ArgumentReader(arguments, values: [
            "--database-url", "--owner-url", "--plain-url", "--seconds", "--rounds", "--warmup", "--connections", "--threads",
            "--pool", "--port", "--wrk", "--migrations",
        ], switches: ["--breakdown"])
        var options = Options()
        options.databaseURL = reader.string("--database-url", default: options.databaseURL)
        options.ownerURL = reader.string("--owner-url", default: options.ownerURL)
        options.plainURL = reader.string("--plain-url")
        options.seconds = try reader.integer("--seconds", default: options.seconds, atLeast: 1)
        options.rounds = try reader.integer("--rounds", default: options.rounds, atLeast: 1)
        options.warmup = try reader.integer("--warmup", default: options.warmup, atLeast: 0)
        options.connections = try reader.integer("--connections", default: options.connections, atLeast: 1)
        options.threads = try reader.integer("--threads", default: options.threads, atLeast: 1)
        options.pool = try reader.integer("--pool", default: options.pool, atLeast: 1)
        options.port = try reader.integer("--port", default: options.port, atLeast: 0)
        options.wrk = reader.string("--wrk", default: options.wrk)
        options.migrations = reader.string("--migrations")
        options.breakdown = reader.has("--breakdown")
        guard !options.databaseURL.isEmpty else {
            throw BenchmarkError("the server's database URL is required: --database-url or DATABASE_URL")
        }
        guard !options.ownerURL.isEmpty else {
            throw BenchmarkError("the owner's database URL is required: --owner-url or DATABASE_OWNER_URL")
        }
        guard options.port <= 65535 else { throw BenchmarkError("--port must be at most 65535") }
        // wrk refuses more threads than connections.
        options.threads = min(options.threads, options.connections)
        return options
    }


    // MARK: Running

    static func run(arguments: [String]) async throws {
        let options = try parse(arguments)
        let wrk = try locateWRK(options.wrk)
        // The log handler `trellis serve` installs (its cost of setting metadata is part of every
        // request), at warning rather than the server's default info: a request log line per
        // request would fill the report and be timed on both routes alike.
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: .warning) }
        let logger = Logger(label: "auth-overhead")

        say("Trellis auth overhead benchmark")
        say("server role \(try DatabaseURL(options.databaseURL)), owner \(try DatabaseURL(options.ownerURL)), "
            + "plain route \(try DatabaseURL(options.plainURL ?? options.databaseURL))")
        let fixture = try await Fixture.make(
            ownerURL: options.ownerURL, migrations: options.migrations, name: "auth-overhead benchmark", logger: logger)
        say("fixture: workspace \(fixture.workspace.lowercasedString), agent \(fixture.agentID.lowercasedString), "
            + "API key \(fixture.token.prefix(12))… (scope *)")

        // The server: the real router plus the benchmark-only routes, its pool, a second pool
        // for the plain route and the key cache refresher, all in the application's service group.
        var serverConfiguration = try DatabaseURL(options.databaseURL).clientConfiguration
        serverConfiguration.options.maximumConnections = options.pool
        let serverPostgres = PostgresClient(configuration: serverConfiguration, backgroundLogger: logger)
        var plainConfiguration = try DatabaseURL(options.plainURL ?? options.databaseURL).clientConfiguration
        plainConfiguration.options.maximumConnections = options.pool
        plainConfiguration.options.additionalStartupParameters.append(
            ("options", "-c trellis.workspace_id=\(fixture.workspace.lowercasedString)"))
        let plainPostgres = PostgresClient(configuration: plainConfiguration, backgroundLogger: logger)

        let api = TrellisApp.api
        let services = TrellisServices(api: api, postgres: serverPostgres)
        let router = TrellisServer.makeRouter(api: api, services: services)
        BenchmarkRoutes(plain: plainPostgres, services: services, workspace: fixture.workspace).register(on: router)

        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        var app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: options.port), serverName: "Trellis"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        app.addServices(
            serverPostgres, plainPostgres,
            APIKeyCacheRefresher(postgres: serverPostgres, cache: services.authenticator.keyCache, logger: logger))
        let serviceGroup = ServiceGroup(configuration: .init(services: [app], logger: logger))

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                // A server that cannot start (port in use) must not leave the wait below hanging.
                defer { portContinuation.finish() }
                try await serviceGroup.run()
            }
            do {
                var iterator = ports.makeAsyncIterator()
                guard let port = await iterator.next(), port > 0 else {
                    try await tasks.next()  // the service group's own error, when it failed
                    throw BenchmarkError("the HTTP server did not start")
                }
                try await measure(options: options, wrk: wrk, port: port, fixture: fixture)
            } catch {
                await serviceGroup.triggerGracefulShutdown()
                throw error
            }
            await serviceGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The check, the warm-up, the alternating rounds and the report.
    static func measure(options: Options, wrk: URL, port: Int, fixture: Fixture) async throws {
        let base = "http://127.0.0.1:\(port)"
        let id = fixture.agentID.lowercasedString
        let bearer = "Bearer \(fixture.token)"
        let auth = Target(label: "auth", path: "/v1/agents/\(id)", authorization: bearer,
                          what: "API key + one self-scoping SELECT with set_config (the shipped route)")
        let plain = Target(label: "plain", path: "/bench/plain/agents/\(id)", authorization: nil,
                           what: "one SELECT, no auth, no transaction (benchmark-only route)")
        var targets = [plain, auth]
        if options.breakdown {
            targets.append(Target(label: "plain-prep", path: "/bench/plain-prepared/agents/\(id)", authorization: nil,
                                  what: "the plain SELECT as a prepared statement, no auth (benchmark-only route)"))
            targets.append(Target(label: "auth-only", path: "/bench/auth-only/agents/\(id)", authorization: bearer,
                                  what: "API key check + one SELECT (benchmark-only route)"))
            targets.append(Target(label: "tx-only", path: "/bench/tx-only/agents/\(id)", authorization: nil,
                                  what: "no auth + the self-scoping SELECT via ResourceService.get (benchmark-only route)"))
            targets.append(Target(label: "tx-lease", path: "/bench/tx-lease/agents/\(id)", authorization: nil,
                                  what: "tx-only, leasing with the pool-lease timeout and the workspace gate as the shipped route does"))
        }
        say("server: \(base), \(options.pool) Postgres connections per pool")
        for target in targets {
            say("  " + target.label.padding(toLength: 10, withPad: " ", startingAt: 0)
                + "GET " + target.path.replacingOccurrences(of: id, with: "{id}").padding(toLength: 34, withPad: " ", startingAt: 0)
                + target.what)
        }
        say("")

        // Every route must answer 200 with the very bytes of the real route, or the comparison is void.
        let reference = try await fetch(base + auth.path, authorization: auth.authorization)
        for target in targets {
            var response = reference
            if target.label != auth.label {
                response = try await fetch(base + target.path, authorization: target.authorization)
            }
            let same = response.status == reference.status && response.body == reference.body
                && response.contentType == reference.contentType && response.etag == reference.etag
            say("check \(target.label): HTTP \(response.status), \(response.body.count) bytes, ETag \(response.etag ?? "-")"
                + (target.label == auth.label ? "" : same ? ", body and headers match auth" : "   <-- DIFFERS FROM auth"))
            guard response.status == 200, same else {
                throw BenchmarkError("\(target.path) does not answer like \(auth.path); the comparison would be void")
            }
        }
        say("body: " + String(decoding: reference.body.prefix(160), as: UTF8.self) + "…")
        say("")

        let runner = WRK(binary: wrk, connections: options.connections, threads: options.threads)
        say("wrk: \(options.connections) connections, \(options.threads) threads, \(options.rounds) rounds of "
            + "\(options.seconds) s per route, routes alternating (order reversed every other round)")
        if options.warmup > 0 {
            for target in targets {
                let result = try await runner.run(url: base + target.path, authorization: target.authorization, seconds: options.warmup)
                say("warm-up " + target.label.padding(toLength: 10, withPad: " ", startingAt: 0)
                    + fixed(result.requestsPerSecond, 0).leftPadded(9) + " req/s")
            }
        }

        var results: [String: [WRK.Result]] = [:]
        for round in 1...options.rounds {
            let order = round % 2 == 1 ? targets : targets.reversed()
            for target in order {
                let result = try await runner.run(url: base + target.path, authorization: target.authorization, seconds: options.seconds)
                results[target.label, default: []].append(result)
                say("round \(round) " + target.label.padding(toLength: 10, withPad: " ", startingAt: 0) + result.line)
                if result.failures > 0 {
                    throw BenchmarkError("\(target.path) failed \(result.failures) requests in round \(round); the comparison is void")
                }
            }
        }

        say("")
        say("results (median of \(options.rounds) rounds of \(options.seconds) s)")
        var medians: [String: Double] = [:]
        for target in targets {
            let rounds = results[target.label] ?? []
            let rate = median(rounds.map(\.requestsPerSecond))
            medians[target.label] = rate
            say("  " + target.label.padding(toLength: 10, withPad: " ", startingAt: 0)
                + fixed(rate, 0).leftPadded(9) + " req/s"
                + "   p50 " + millis(median(rounds.compactMap(\.p50))) + "   p99 " + millis(median(rounds.compactMap(\.p99)))
                + "   rounds " + rounds.map { fixed($0.requestsPerSecond, 0) }.joined(separator: " "))
        }
        let ratio = (medians[auth.label] ?? .nan) / (medians[plain.label] ?? .nan)
        let overhead = 1 - ratio
        say("")
        say("ratio auth/plain (requests/s): \(fixed(ratio, 3))   overhead = 1 - ratio = \(fixed(100 * overhead, 1))%")
        if options.breakdown, let plainRate = medians[plain.label] {
            for label in ["plain-prep", "auth-only", "tx-only", "tx-lease"] {
                guard let rate = medians[label] else { continue }
                say("  \(label)/plain: \(fixed(rate / plainRate, 3))   (cost \(fixed(100 * (1 - rate / plainRate), 1))%)")
            }
            if let prepared = medians["plain-prep"], let authRate = medians[auth.label] {
                say("  auth/plain-prep: \(fixed(authRate / prepared, 3))   (auth + RLS against a prepared plain query)")
            }
        }
        say("goal (RLS + auth cost < \(fixed(100 * goal, 0))% of throughput): "
            + (overhead < goal ? "PASS" : "FAIL") + " (overhead \(fixed(100 * overhead, 1))%)")
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    static func millis(_ value: Double) -> String {
        value.isNaN ? "-" : fixed(value, 2) + "ms"
    }

    /// One route under load.
    struct Target {
        var label: String
        var path: String
        var authorization: String?
        var what: String
    }

    // MARK: The fixture

    /// What the database holds for the run: a fresh workspace with its agents and one key.
    struct Fixture: Sendable {
        var workspace: UUID
        /// The first agent created (the one `get` routes read).
        var agentID: UUID
        var agentCount: Int
        /// The `trk_…` secret, sent as the bearer credential.
        var token: String
        /// The Postgres server's postmaster, when it runs on this machine (for its CPU time).
        var postmasterPID: Int32?

        /// Migrates with the repository's migrations, then creates the workspace (a platform
        /// table) and, in tenant transactions as the owner role, `agents` typical agents (the
        /// bodies of the validator benchmark, without their `swarm_id`; the first is the one
        /// read) and an API key with scope `*`, as `trellis keys create` does.
        static func make(ownerURL: String, migrations: String?, agents: Int = 1, name: String, logger: Logger) async throws -> Fixture {
            let folder = migrations.map { URL(fileURLWithPath: $0) } ?? repositoryRoot.appendingPathComponent("migrations")
            let files = try MigrationDirectory.load(folder)
            // The workspace has no swarms, so no body may refer to one.
            let inputs = try AgentBodies.make(count: agents, seed: 42).map { bytes in
                guard case var .object(body) = try JSONValue(parsing: bytes) else {
                    throw BenchmarkError("a generated agent body is not an object")
                }
                body.members.removeAll { $0.key == "swarm_id" }
                guard case let .valid(input) = AgentCreate.validate(.object(body)) else {
                    throw BenchmarkError("a generated agent body does not validate")
                }
                return input
            }
            // The first query may lease a connection before `run()` below has started, which
            // PostgresNIO reports on the background logger; it just waits, so keep that quiet.
            var quiet = logger
            quiet.logLevel = .error
            let owner = PostgresClient(configuration: try DatabaseURL(ownerURL).clientConfiguration, backgroundLogger: quiet)
            return try await withThrowingTaskGroup(of: Fixture?.self) { tasks in
                tasks.addTask {
                    await owner.run()
                    return nil
                }
                defer { tasks.cancelAll() }
                let applied = try await Migrator(client: owner, logger: logger).up(files)
                say("migrations: \(files.count) in \(folder.path), \(applied.count) applied now")
                let workspace = UUID.v7()
                _ = try await owner.query("INSERT INTO workspaces (id, name) VALUES (\(workspace), \(name))", logger: logger)
                let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "benchmark", scopes: ScopeSet(["*", "admin"]))
                let origin = RequestOrigin(requestID: "benchmark-setup", ip: nil, userAgent: nil)
                var first: UUID?
                // Batches of 200 agents per transaction: a big fixture never holds one transaction long.
                for start in stride(from: 0, to: inputs.count, by: 200) {
                    let batch = Array(inputs[start..<min(start + 200, inputs.count)])
                    let id = try await TenantTransaction.run(on: owner, identity: identity, origin: origin, logger: logger) { tx in
                        var firstInBatch: UUID?
                        for input in batch {
                            let agent = try await ResourceService<Agent>().create(input, in: tx)
                            if firstInBatch == nil { firstInBatch = agent.id }
                        }
                        return firstInBatch
                    }
                    if first == nil { first = id }
                }
                let token = try await TenantTransaction.run(on: owner, identity: identity, origin: origin, logger: logger) { tx in
                    try await APIKeys.create(name: name, scopes: ScopeSet(["*"]), expiresAt: nil, in: tx).token.text
                }
                var backend: Int32?
                for try await pid in try await owner.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self) { backend = pid }
                guard let first else { throw BenchmarkError("the fixture needs at least one agent") }
                return Fixture(
                    workspace: workspace, agentID: first, agentCount: inputs.count, token: token,
                    postmasterPID: backend.flatMap(ProcessCPU.parentPID(of:)))
            }
        }

        /// The package root, from this file's place in `Benchmarks/TrellisBenchmarks/`.
        static var repositoryRoot: URL {
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        }
    }

    // MARK: Checking a route

    struct Fetched {
        var status: Int
        var body: Data
        var contentType: String?
        var etag: String?
    }

    /// One GET, for the check before timing.
    /// GETs `url`, or POSTs `json` to it when given.
    static func fetch(_ url: String, authorization: String?, json: String? = nil) async throws -> Fetched {
        guard let address = URL(string: url) else { throw BenchmarkError("bad URL \(url)") }
        var request = URLRequest(url: address)
        if let authorization { request.setValue(authorization, forHTTPHeaderField: "Authorization") }
        if let json {
            request.httpMethod = "POST"
            request.httpBody = Data(json.utf8)
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (body, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw BenchmarkError("\(url): not an HTTP response") }
        return Fetched(
            status: http.statusCode, body: body, contentType: http.value(forHTTPHeaderField: "Content-Type"),
            etag: http.value(forHTTPHeaderField: "ETag"))
    }

    static func locateWRK(_ name: String) throws -> URL {
        let missing = BenchmarkError("wrk not found ('\(name)'); install it (apt-get install wrk) or pass --wrk PATH")
        if name.contains("/") {
            guard FileManager.default.isExecutableFile(atPath: name) else { throw missing }
            return URL(fileURLWithPath: name)
        }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") {
            let candidate = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return URL(fileURLWithPath: candidate) }
        }
        throw missing
    }
}

// MARK: - The routes that exist only in this executable

/// Benchmark-only routes beside the real router's: never registered by the shipped server.
struct BenchmarkRoutes: Sendable {
    /// The plain route's pool (see ``AuthOverheadBenchmark``: `trellis.workspace_id` pinned per connection).
    let plain: PostgresClient
    let services: TrellisServices
    let workspace: UUID

    /// The shipped `get`'s own statement text (the generated `SELECT` list of `Agent`,
    /// `WHERE workspace_id = $1 AND id = $2`), so both sides read exactly the same way.
    static let selectSQL = ResourceByID<Agent>.sql

    func register(on router: Router<TrellisRequestContext>) {
        router.get("bench/plain/agents/:id", use: plainGet)
        router.get("bench/plain-prepared/agents/:id", use: plainPreparedGet)
        router.get("bench/auth-only/agents/:id", use: authOnlyGet)
        router.get("bench/tx-only/agents/:id", use: transactionOnlyGet)
        router.get("bench/tx-lease/agents/:id", use: leasedTransactionGet)
    }

    /// The baseline: one autocommit query on the plain pool, the row written as the real route writes it.
    @Sendable func plainGet(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let id = try itemID(context)
        let agent = try await select(id, logger: context.logger)
        return Self.objectResponse(agent)
    }

    /// A stricter baseline: the same plain query as a named prepared statement (parsed and
    /// planned once per connection, as the shipped `get` is), no auth, no scoping.
    @Sendable func plainPreparedGet(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let id = try itemID(context)
        var agent: Agent?
        for try await row in try await plain.execute(AgentByID(workspace: workspace, id: id), logger: context.logger) {
            agent = try Agent(row: SQLRow.rows(from: [row])[0])
        }
        guard let agent else { throw Problem.notFound("No agent with id \(id.lowercasedString)") }
        return Self.objectResponse(agent)
    }

    /// Split (1): the API key check the `/v1` middleware does, then the plain query.
    @Sendable func authOnlyGet(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let id = try itemID(context)
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            return Response(status: .unauthorized)
        }
        let identity = try await services.authenticator.authenticate(bearer: header.dropFirst(7), logger: context.logger)
        guard identity.workspaceID == workspace, identity.scopes.allows(Agent.descriptor.readScope) else {
            return Response(status: .forbidden)
        }
        let agent = try await select(id, logger: context.logger)
        return Self.objectResponse(agent)
    }

    /// Split (2): no authentication, but the real tenant-scoped read and service call.
    @Sendable func transactionOnlyGet(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let id = try itemID(context)
        let identity = Identity(workspaceID: workspace, kind: .apiKey, credentialID: "benchmark", scopes: ScopeSet(["*"]))
        let statement = TenantStatement(client: services.postgres, identity: identity, logger: context.logger)
        let agent = try await ResourceService<Agent>().get(id, in: statement)
        return Self.objectResponse(agent)
    }

    /// Split (3): `tx-only` with what every shipped read adds to wait safely: the workspace's
    /// place in the ``WorkspaceGate`` and a lease bounded by the pool-lease timeout.
    @Sendable func leasedTransactionGet(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let id = try itemID(context)
        let identity = Identity(workspaceID: workspace, kind: .apiKey, credentialID: "benchmark", scopes: ScopeSet(["*"]))
        let agent = try await services.workspaceGate.run(workspace, timeout: services.timeouts.poolLease) {
            let statement = TenantStatement(
                client: services.postgres, identity: identity, logger: context.logger, leaseTimeout: services.timeouts.poolLease)
            return try await ResourceService<Agent>().get(id, in: statement)
        }
        return Self.objectResponse(agent)
    }

    /// The shipped `get`'s statement, as postgres-nio runs a prepared statement.
    struct AgentByID: PostgresPreparedStatement {
        static let name = ResourceByID<Agent>.name
        static let sql = ResourceByID<Agent>.sql
        typealias Row = PostgresRow
        var workspace: UUID
        var id: UUID
        func makeBindings() throws -> PostgresBindings { .workspace(workspace, id: id) }
        func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
    }

    private func select(_ id: UUID, logger: Logger) async throws -> Agent {
        let rows = try await plain.query(PostgresQuery(unsafeSQL: Self.selectSQL, binds: .workspace(workspace, id: id)), logger: logger)
        var agent: Agent?
        for try await row in rows { agent = try Agent(row: SQLRow.rows(from: [row])[0]) }
        guard let agent else { throw Problem.notFound("No agent with id \(id.lowercasedString)") }
        return agent
    }

    private func itemID(_ context: TrellisRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(uuidString: text) else { throw Problem.notFound() }
        return id
    }

    /// The same headers and body as the generated route's 200: JSON and the version as ETag.
    static func objectResponse(_ agent: Agent) -> Response {
        var writer = JSONWriter()
        agent.writeJSON(to: &writer)
        var headers = HTTPFields()
        headers[.contentType] = "application/json"
        headers[.eTag] = "\"\(agent.version)\""
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: writer.bytes)))
    }
}

/// Prints a line at once: stdout is fully buffered when redirected, and a run takes minutes.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

