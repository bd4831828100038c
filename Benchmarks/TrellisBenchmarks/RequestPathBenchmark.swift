import App
import Crypto
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import TrellisPostgres
import TrellisRedis
import TrellisRuntime

#if canImport(Glibc)
import Glibc
#endif

/// The per-request CPU budget, in one process and one run: a bare Hummingbird 2 route
/// answering `{"status":"ok"}` beside the shipped Trellis server (built by
/// `TrellisServer.makeApplication`, exactly as `trellis serve` builds it, logging at `info`)
/// serving `/health/live`, `GET /v1/agents/{id}`, `GET /v1/agents?limit=20` and
/// `GET /v1/agents/search`, each loaded by `wrk` in turn. For each route it prints requests/s,
/// p50/p99, and the CPU microseconds per request this process and the local Postgres spent
/// (from `getrusage` and `/proc`), then the ratios to the bare route and the issue's goals.
/// With a Redis (`--redis-url`), a second Trellis server in the same process caches reads in
/// it (`TRELLIS_CACHE=on`), and `cget`/`clist` measure the cached get and list beside the rest.
enum RequestPathBenchmark: BenchmarkScenario {
    static let name = "request-path"
    static let summary = "bare Hummingbird route vs Trellis live/get/list/search: req/s, p99, CPU µs per request"
    static let options = """
        --database-url URL   the server's role (default: $DATABASE_URL)
        --owner-url URL      the owner role, to migrate and create the fixture (default: $DATABASE_OWNER_URL)
        --agents N           agents in the caller's workspace (default 1000)
        --seconds N          seconds per timed round and route (default 10)
        --rounds N           timed rounds per route, order reversed every other round (default 2)
        --warmup N           warm-up seconds per route before the rounds (default 2)
        --connections N      wrk connections (default 64)
        --threads N          wrk threads (default 2)
        --log-level LEVEL    the server's log level (default info, as `trellis serve`); lines go to /dev/null
        --only NAMES         comma-separated routes to run (bare,live,floor,pfloor,get,rpc-get,gql-get,gql-apq,gql-nested,list,search,cget,clist,
                             tlive,tget; default all)
        --redis-url URL      a Redis for the cached server (cget, clist; default: $REDIS_URL; none: those routes are not run).
                             The other server never uses Redis, so get and list stay uncached.
        --wrk PATH           the wrk binary (default: wrk on PATH)
        --versus FIXTURE     also load the Python baseline (python-baseline/run.sh) serving what seed.py wrote to FIXTURE:
                             its /hello, get and list run back to back with live, get and list in every round
                             (order alternating), and the ratios print per round
        --versus-url URL     where that stack listens (default http://127.0.0.1:8090)
        The server reads the other TRELLIS_* settings from the environment, as `trellis serve` does.
        """

    /// The issue's goals on the 2-core machine.
    enum Goal {
        static let liveToBare = 0.8
        static let getServerMicros = 120.0
        static let listServerMicros = 300.0
        static let listPostgresMicros = 150.0
        static let p99Millis = 20.0
        static let residentMiB = 150.0
        /// Issue 9: JSON-RPC `agents.get` against REST's `get`.
        static let rpcToREST = 0.9
        /// Issue 9: GraphQL `agent(id)` against REST's `get`.
        static let graphQLToREST = 0.7
        /// Issue 9: the nested 50x10 query.
        static let nestedRate = 300.0
        /// Issue 10: a cached get against the bare route's req/s.
        static let cachedGetToBare = 0.5
        /// Issue 10: a cached get's p99.
        static let cachedP99Millis = 10.0
    }

    struct Options {
        var databaseURL: String
        var ownerURL: String
        var agents: Int
        var seconds: Int
        var rounds: Int
        var warmup: Int
        var connections: Int
        var threads: Int
        var logLevel: Logger.Level
        var only: Set<String>?
        var wrk: String
        var redisURL: String?
        var versus: String?
        var versusURL: String

        init(_ arguments: [String]) throws {
            let reader = try ArgumentReader(arguments, values: [
                "--database-url", "--owner-url", "--agents", "--seconds", "--rounds", "--warmup", "--connections", "--threads",
                "--log-level", "--only", "--wrk", "--redis-url", "--versus", "--versus-url",
            ])
            let environment = ProcessInfo.processInfo.environment
            databaseURL = reader.string("--database-url", default: environment["DATABASE_URL"] ?? "")
            ownerURL = reader.string("--owner-url", default: environment["DATABASE_OWNER_URL"] ?? "")
            agents = try reader.integer("--agents", default: 1000, atLeast: 1)
            seconds = try reader.integer("--seconds", default: 10, atLeast: 1)
            rounds = try reader.integer("--rounds", default: 2, atLeast: 1)
            warmup = try reader.integer("--warmup", default: 2, atLeast: 0)
            connections = try reader.integer("--connections", default: 64, atLeast: 1)
            threads = min(try reader.integer("--threads", default: 2, atLeast: 1), connections)
            let level = reader.string("--log-level", default: "info")
            guard let parsed = Logger.Level(rawValue: level) else { throw BenchmarkError("--log-level: unknown level '\(level)'") }
            logLevel = parsed
            let names = reader.string("--only", default: "")
            if !names.isEmpty {
                only = Set(names.split(separator: ",").map(String.init))
                let unknown = only!.subtracting(RequestPathBenchmark.routes)
                guard unknown.isEmpty else { throw BenchmarkError("--only: unknown route(s) \(unknown.sorted().joined(separator: ","))") }
            }
            wrk = reader.string("--wrk", default: "wrk")
            let redis = reader.string("--redis-url", default: environment["REDIS_URL"] ?? "")
            redisURL = redis.isEmpty ? nil : redis
            versus = reader.string("--versus")
            versusURL = reader.string("--versus-url", default: "http://127.0.0.1:8090")
            guard !databaseURL.isEmpty, !ownerURL.isEmpty else {
                throw BenchmarkError("--database-url and --owner-url (or DATABASE_URL and DATABASE_OWNER_URL) are required")
            }
        }
    }

    static let routes: Set<String> = [
        "bare", "live", "floor", "pfloor", "get", "rpc-get", "gql-get", "gql-apq", "gql-nested", "list", "search", "cget", "clist", "tlive", "tget",
    ]

    /// One route under load.
    struct Target {
        var label: String
        var url: String
        var authorization: String?
        var what: String
        /// A JSON body to POST instead of a GET (JSON-RPC).
        var json: String? = nil
        /// The wrk script that POSTs `json`, written before the runs.
        var script: URL? = nil
    }

    /// One timed run of one route.
    struct Sample {
        var load: WRK.Result
        var serverMicros: Double
        var postgresMicros: Double?
        /// The local redis-server's CPU during the run, when there is one.
        var redisMicros: Double?
        /// Tenant-read executions and plannings in `pg_stat_statements` during the run.
        var statements: StatementPlans.Counts?
    }

    static func run(arguments: [String]) async throws {
        let options = try Options(arguments)
        let wrk = try AuthOverheadBenchmark.locateWRK(options.wrk)
        let other = try options.versus.map { try OtherStack(fixture: $0, url: options.versusURL) }
        let devNull = open("/dev/null", O_WRONLY)
        guard devNull >= 0 else { throw BenchmarkError("cannot open /dev/null") }
        let level = options.logLevel
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: level, fileDescriptor: devNull) }
        var logger = Logger(label: "request-path")
        logger.logLevel = .warning

        say("Trellis request-path benchmark")
        let fixture = try await AuthOverheadBenchmark.Fixture.make(
            ownerURL: options.ownerURL, migrations: nil, agents: options.agents, name: "request-path benchmark", logger: logger)
        say("fixture: workspace \(fixture.workspace.lowercasedString) with \(fixture.agentCount) agents, API key "
            + "\(fixture.token.prefix(12))… (scope *), Postgres postmaster "
            + (fixture.postmasterPID.map { "pid \($0)" } ?? "not on this machine (its CPU is not measured)"))

        // The shipped server, configured from the environment like `trellis serve`, on a free port.
        let trellisPort = try freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = options.databaseURL
        environment["TRELLIS_HOST"] = "127.0.0.1"
        environment["TRELLIS_PORT"] = "\(trellisPort)"
        // wrk sends far more than any credential's rate limit allows: the routes are measured
        // unthrottled unless TRELLIS_RATE_LIMITS says otherwise.
        environment["TRELLIS_RATE_LIMITS"] = environment["TRELLIS_RATE_LIMITS"] ?? "off"
        environment["REDIS_URL"] = nil
        // One cursor key for both servers, so their pages (next_cursor included) are the same bytes.
        if environment["TRELLIS_CURSOR_KEYS"] == nil {
            environment["TRELLIS_CURSOR_KEYS"] = SHA256.hash(data: Array(fixture.token.utf8)).map { String(format: "%02x", $0) }.joined()
        }
        let configuration = try ServerConfiguration.fromEnvironment(environment)
        let metrics = TrellisMetrics()
        metrics.bootstrapMetricsSystem()
        let trellis = try await TrellisServer.makeApplication(
            api: TrellisApp.api, configuration: configuration, metrics: metrics, logger: Logger(label: "trellis"))
        // The same server with its reads cached in Redis, on a port of its own.
        var cached: (application: any Service, port: Int, redisPID: Int32?)?
        if let redisURL = options.redisURL {
            let port = try freePort()
            var cachedEnvironment = environment
            cachedEnvironment["TRELLIS_PORT"] = "\(port)"
            cachedEnvironment["REDIS_URL"] = redisURL
            cachedEnvironment["TRELLIS_CACHE"] = "on"
            let application = try await TrellisServer.makeApplication(
                api: TrellisApp.api, configuration: try ServerConfiguration.fromEnvironment(cachedEnvironment), metrics: TrellisMetrics(),
                logger: Logger(label: "trellis-cached"))
            cached = (application, port, try await redisProcessID(redisURL, logger: logger))
        }

        // The same server tracing every request (OTLP/HTTP protobuf, every span sampled) to a
        // collector stand-in in this process that reads and drops each export: its CPU counts
        // as the server's, so the traced figures, if anything, overstate tracing's cost.
        var traced: (application: any Service, port: Int, sink: any Service)?
        if options.only.map({ !$0.isDisjoint(with: ["tlive", "tget"]) }) ?? true {
            let port = try freePort()
            let sinkPort = try freePort()
            let sinkRouter = Router()
            sinkRouter.post("/v1/traces") { request, _ -> Response in
                _ = try await request.body.collect(upTo: 64 << 20)
                return Response(status: .ok, headers: [.contentType: "application/x-protobuf"], body: .init(byteBuffer: ByteBuffer()))
            }
            let sink = Application(router: sinkRouter, configuration: .init(address: .hostname("127.0.0.1", port: sinkPort)), logger: logger)
            var tracedEnvironment = environment
            tracedEnvironment["TRELLIS_PORT"] = "\(port)"
            tracedEnvironment["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:\(sinkPort)"
            let application = try await TrellisServer.makeApplication(
                api: TrellisApp.api, configuration: try ServerConfiguration.fromEnvironment(tracedEnvironment), metrics: TrellisMetrics(),
                logger: Logger(label: "trellis-traced"))
            traced = (application, port, sink)
        }

        // The baseline: Hummingbird with one route and nothing else, in this same process.
        let bareRouter = Router()
        bareRouter.get("/health/live") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        // The stack's floor for a read: the same Hummingbird, one postgres-nio pool of the same
        // size and settings as the server role, its sessions pinned to the fixture's workspace
        // at connect (so row-level security holds with no per-request scoping), one prepared
        // statement per request returning one short column (the agent's name), answered as a
        // JSON string: the least a database read costs on this stack, server and Postgres.
        var floorConfiguration = try TrellisServer.serverPoolConfiguration(
            options.databaseURL, size: configuration.poolSize, timeouts: configuration.timeouts,
            planCacheMode: configuration.planCacheMode, openAtStart: true)
        floorConfiguration.options.additionalStartupParameters.append(("trellis.workspace_id", fixture.workspace.lowercasedString))
        let floorPool = PostgresClient(configuration: floorConfiguration, backgroundLogger: logger)
        let workspace = fixture.workspace
        bareRouter.get("/floor/agents/:id") { request, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw HTTPError(.badRequest) }
            var body: String?
            for try await row in try await floorPool.execute(FloorAgentRead(workspace: workspace, id: id)) { body = row }
            guard let body else { throw HTTPError(.notFound) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        // The same read through `TrellisPostgres`'s pipeline: one connection per event loop,
        // every request's statement in flight on it, against postgres-nio's one statement per
        // connection at a time.
        let pipeline = PostgresPipeline(
            configuration: try DatabaseURL(options.databaseURL).pipelineConfiguration(
                startupParameters: floorConfiguration.options.additionalStartupParameters),
            logger: logger)
        bareRouter.get("/pfloor/agents/:id") { request, context in
            guard let id = context.parameters.get("id").flatMap(UUID.init(uuidString:)) else { throw HTTPError(.badRequest) }
            var bindings = SQLBindings(capacity: 2)
            bindings.append(workspace)
            bindings.append(id)
            let rows = try await pipeline.rows(FloorAgentRead.sql, named: FloorAgentRead.name, bindings)
            guard let body = try rows.first?.decode(String.self) else { throw HTTPError(.notFound) }
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: body)))
        }
        let (barePorts, barePortContinuation) = AsyncStream.makeStream(of: Int.self)
        let bare = Application(
            router: bareRouter, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                barePortContinuation.yield(channel.localAddress?.port ?? 0)
                barePortContinuation.finish()
            },
            logger: logger)

        let serviceGroup = ServiceGroup(
            configuration: .init(
                services: [floorPool, pipeline, trellis, bare] + (cached.map { [$0.application] } ?? []) + (traced.map { [$0.sink, $0.application] } ?? []),
                logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask {
                defer { barePortContinuation.finish() }
                try await serviceGroup.run()
            }
            do {
                var iterator = barePorts.makeAsyncIterator()
                guard let barePort = await iterator.next(), barePort > 0 else {
                    try await tasks.next()
                    throw BenchmarkError("the bare Hummingbird server did not start")
                }
                try await pipeline.waitUntilOpen()
                try await waitUntilLive("http://127.0.0.1:\(trellisPort)/health/live")
                if let cached { try await waitUntilLive("http://127.0.0.1:\(cached.port)/health/live") }
                if let traced { try await waitUntilLive("http://127.0.0.1:\(traced.port)/health/live") }
                try await measure(
                    options: options, wrk: wrk, fixture: fixture, bare: "http://127.0.0.1:\(barePort)",
                    trellis: "http://127.0.0.1:\(trellisPort)", cached: cached.map { ("http://127.0.0.1:\($0.port)", $0.redisPID) },
                    traced: traced.map { "http://127.0.0.1:\($0.port)" }, other: other, configuration: configuration)
            } catch {
                await serviceGroup.triggerGracefulShutdown()
                throw error
            }
            await serviceGroup.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
    }

    /// The `process_id` a Redis reports (`INFO server`): its CPU is measured when it is local.
    static func redisProcessID(_ url: String, logger: Logger) async throws -> Int32? {
        try await withRedisClient(configuration: try RedisConfiguration(url: url), logger: logger) { client in
            let info = try await client.send("INFO", "server").string ?? ""
            let line = info.split(whereSeparator: \.isNewline).first { $0.hasPrefix("process_id:") }
            return line.flatMap { Int32($0.dropFirst("process_id:".count)) }
        }
    }

    static func measure(
        options: Options, wrk: URL, fixture: AuthOverheadBenchmark.Fixture, bare: String, trellis: String,
        cached: (url: String, redisPID: Int32?)?, traced: String?, other: OtherStack?, configuration: ServerConfiguration
    ) async throws {
        let bearer = "Bearer \(fixture.token)"
        var targets = [
            Target(label: "bare", url: bare + "/health/live", authorization: nil, what: "bare Hummingbird route, same bytes as live"),
            Target(label: "live", url: trellis + "/health/live", authorization: nil, what: "Trellis middleware + routing, no I/O"),
            Target(label: "floor", url: bare + "/floor/agents/\(fixture.agentID.lowercasedString)", authorization: nil,
                   what: "bare Hummingbird + postgres-nio: one prepared SELECT of one column"),
            Target(label: "pfloor", url: bare + "/pfloor/agents/\(fixture.agentID.lowercasedString)", authorization: nil,
                   what: "the floor's read through TrellisPostgres's pipeline: one connection per loop"),
            Target(label: "get", url: trellis + "/v1/agents/\(fixture.agentID.lowercasedString)", authorization: bearer,
                   what: "API key + one prepared self-scoping SELECT"),
            Target(label: "rpc-get", url: trellis + "/v1/rpc", authorization: bearer,
                   what: "JSON-RPC agents.get: the same service call as get",
                   json: #"{"jsonrpc":"2.0","method":"agents.get","params":{"id":"\#(fixture.agentID.lowercasedString)"},"id":1}"#),
            Target(label: "gql-get", url: trellis + "/v1/graphql", authorization: bearer,
                   what: "GraphQL agent(id) { id name model tags }, POST",
                   json: #"{"query":\#(JSONValue.string(Self.graphQLGet).jsonText),"variables":{"id":"\#(fixture.agentID.lowercasedString)"}}"#),
            Target(label: "gql-apq", url: trellis + "/v1/graphql?" + Self.persistedQueryParameters(agent: fixture.agentID), authorization: bearer,
                   what: "the same query, GET with its persisted hash only"),
            Target(label: "gql-nested", url: trellis + "/v1/graphql", authorization: bearer,
                   what: "swarms(first: 50) { agents(first: 10) { name swarm { name } } }: 3 statements",
                   json: #"{"query":\#(JSONValue.string(Self.graphQLNested).jsonText)}"#),
            Target(label: "list", url: trellis + "/v1/agents?limit=20", authorization: bearer, what: "API key + a 20-row keyset page"),
            Target(label: "search", url: trellis + "/v1/agents/search?q=research", authorization: bearer,
                   what: "API key + full-text search, 20 best by rank"),
        ]
        if let cached {
            targets += [
                Target(label: "cget", url: cached.url + "/v1/agents/\(fixture.agentID.lowercasedString)", authorization: bearer,
                       what: "get on the caching server: API key + one MGET in Redis"),
                Target(label: "clist", url: cached.url + "/v1/agents?limit=20", authorization: bearer,
                       what: "list on the caching server: API key + one MGET in Redis"),
            ]
        }
        if let traced {
            targets += [
                Target(label: "tlive", url: traced + "/health/live", authorization: nil, what: "live on the tracing server: one server span"),
                Target(label: "tget", url: traced + "/v1/agents/\(fixture.agentID.lowercasedString)", authorization: bearer,
                       what: "get on the tracing server: server, service and 2 statement spans"),
            ]
        }
        if let only = options.only { targets.removeAll { !only.contains($0.label) } }
        if targets.contains(where: { $0.label == "gql-nested" }) {
            try await makeSwarms(trellis: trellis, bearer: bearer)
        }
        if targets.contains(where: { $0.label == "gql-apq" }) {
            // The hash alone runs only a document the server has seen: send it once with the query.
            let body = #"{"query":\#(JSONValue.string(Self.graphQLGet).jsonText),"variables":{"id":"\#(fixture.agentID.lowercasedString)"},"extensions":{"persistedQuery":{"version":1,"sha256Hash":"\#(Self.sha256(Self.graphQLGet))"}}}"#
            _ = try await AuthOverheadBenchmark.fetch(trellis + "/v1/graphql", authorization: bearer, json: body)
        }
        let scripts = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-request-path-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scripts, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scripts) }
        for index in targets.indices {
            guard let json = targets[index].json else { continue }
            let script = scripts.appendingPathComponent(targets[index].label + ".lua")
            let body = json.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
            try Data("""
                wrk.method = "POST"
                wrk.body = '\(body)'
                wrk.headers["Content-Type"] = "application/json"

                """.utf8).write(to: script)
            targets[index].script = script
        }
        say("servers: bare \(bare), trellis \(trellis) (pool \(configuration.poolSize), log level \(options.logLevel))")
        for target in targets {
            say("  " + target.label.padding(toLength: 8, withPad: " ", startingAt: 0)
                + target.url.replacingOccurrences(of: fixture.agentID.lowercasedString, with: "{id}")
                    .padding(toLength: 52, withPad: " ", startingAt: 0) + target.what)
        }
        var restObject: Data?
        for target in targets {
            let response = try await AuthOverheadBenchmark.fetch(target.url, authorization: target.authorization, json: target.json)
            say("check \(target.label): HTTP \(response.status), \(response.body.count) bytes")
            guard response.status == 200 else { throw BenchmarkError("\(target.url) answered \(response.status); the run would be void") }
            if target.label == "get" { restObject = response.body }
            // The cached server answers exactly what the uncached one does.
            if target.label == "cget" || target.label == "clist" {
                let uncached = try await AuthOverheadBenchmark.fetch(
                    target.url.replacingOccurrences(of: cached?.url ?? "", with: trellis), authorization: bearer).body
                guard response.body == uncached else {
                    throw BenchmarkError("\(target.label) answered other bytes than the uncached server")
                }
            }
            // The tracing server answers exactly what the other one does.
            if target.label == "tget" {
                let untraced = try await AuthOverheadBenchmark.fetch(
                    trellis + "/v1/agents/\(fixture.agentID.lowercasedString)", authorization: bearer).body
                guard response.body == untraced else { throw BenchmarkError("tget answered other bytes than get") }
            }
            // GraphQL errors are HTTP 200s too: the answer must hold data and no errors.
            if target.label.hasPrefix("gql") {
                let text = String(decoding: response.body, as: UTF8.self)
                guard text.hasPrefix(#"{"data":{"#), !text.contains(#""errors":"#) else {
                    throw BenchmarkError("\(target.label) did not answer data: \(text.prefix(500))")
                }
                say("  \(target.label): " + (text.range(of: #""extensions":"#).map { String(text[$0.lowerBound...]) } ?? ""))
            }
            // A JSON-RPC error is an HTTP 200 too: the answer must hold REST's object as its result.
            if target.label == "rpc-get" {
                var expected = restObject ?? Data()
                if restObject == nil {
                    expected = try await AuthOverheadBenchmark.fetch(
                        trellis + "/v1/agents/\(fixture.agentID.lowercasedString)", authorization: bearer).body
                }
                guard response.body.range(of: Data(#"{"jsonrpc":"2.0","result":"#.utf8) + expected) != nil else {
                    throw BenchmarkError("\(target.label) did not answer the get's object: \(String(decoding: response.body, as: UTF8.self))")
                }
            }
        }
        // The other stack's routes of the same shapes, keyed by Trellis's label.
        var others: [String: (target: Target, goal: Double?)] = [:]
        if let other {
            say("versus: \(other.url), server " + (other.processID.map { "pid \($0) (its CPU and its children's)" } ?? "process not found (its CPU is not measured)"))
            for route in other.routes where targets.contains(where: { $0.label == route.label }) {
                let target = Target(
                    label: route.label, url: other.url + route.path, authorization: route.authorized ? "Bearer \(other.token)" : nil,
                    what: "the other stack's \(route.path)")
                let response = try await AuthOverheadBenchmark.fetch(target.url, authorization: target.authorization)
                say("check versus \(route.label) (\(route.path.replacingOccurrences(of: other.agentID, with: "{id}"))): HTTP \(response.status), \(response.body.count) bytes")
                guard response.status == 200 else { throw BenchmarkError("\(target.url) answered \(response.status); the run would be void") }
                others[route.label] = (target, route.goal)
            }
        }
        say("")

        let runner = WRK(binary: wrk, connections: options.connections, threads: options.threads)
        say("wrk: \(options.connections) connections, \(options.threads) threads, \(options.rounds) rounds of \(options.seconds) s per route")
        if options.warmup > 0 {
            for target in targets {
                let result = try await runner.run(
                    url: target.url, authorization: target.authorization, seconds: options.warmup, script: target.script)
                say("warm-up " + target.label.padding(toLength: 8, withPad: " ", startingAt: 0) + result.line)
                if let versus = others[target.label]?.target {
                    let result = try await runner.run(url: versus.url, authorization: versus.authorization, seconds: options.warmup)
                    say("warm-up versus " + target.label.padding(toLength: 8, withPad: " ", startingAt: 0) + result.line)
                }
            }
        }
        let serverRole = try DatabaseURL(options.databaseURL).username
        var quiet = Logger(label: "request-path")
        quiet.logLevel = .critical
        /// One timed run of `target`, with the CPU of the server (this process, or the other
        /// stack's family of processes), the local Postgres and Redis, and the plans it caused.
        func sample(_ target: Target, serverMicros: () -> Double?) async throws -> Sample {
            let plansBefore = await StatementPlans.snapshot(ownerURL: options.ownerURL, role: serverRole, logger: quiet)
            let serverBefore = serverMicros()
            let postgresBefore = fixture.postmasterPID.flatMap(ProcessCPU.familyMicros(of:))
            let redisBefore = cached?.redisPID.flatMap(ProcessCPU.processMicros)
            let load = try await runner.run(
                url: target.url, authorization: target.authorization, seconds: options.seconds, script: target.script)
            let serverAfter = serverMicros()
            let postgresAfter = fixture.postmasterPID.flatMap(ProcessCPU.familyMicros(of:))
            let redisAfter = cached?.redisPID.flatMap(ProcessCPU.processMicros)
            let plansAfter = await StatementPlans.snapshot(ownerURL: options.ownerURL, role: serverRole, logger: quiet)
            var statements: StatementPlans.Counts?
            if let plansBefore, let plansAfter {
                statements = .init(calls: plansAfter.calls - plansBefore.calls, plans: plansAfter.plans - plansBefore.plans)
            }
            if load.failures > 0 { throw BenchmarkError("\(target.url) failed \(load.failures) requests; the run is void") }
            return Sample(
                load: load, serverMicros: serverBefore.flatMap { before in serverAfter.map { $0 - before } } ?? .nan,
                postgresMicros: postgresBefore.flatMap { before in postgresAfter.map { $0 - before } },
                redisMicros: redisBefore.flatMap { before in redisAfter.map { $0 - before } }, statements: statements)
        }
        func line(_ label: String, _ sample: Sample) -> String {
            label.padding(toLength: 8, withPad: " ", startingAt: 0) + sample.load.line
                + "   \(fixed(sample.serverMicros / Double(max(sample.load.requests, 1)), 1)) µs/req"
                + (sample.statements.map { $0.calls > 0 ? "   \($0.calls) tenant reads, \($0.plans) planned" : "" } ?? "")
        }
        let otherMicros = { other?.processID.flatMap(ProcessCPU.familyMicros(of:)) }
        var samples: [String: [Sample]] = [:]
        var otherSamples: [String: [Sample]] = [:]
        for round in 1...options.rounds {
            for target in round % 2 == 1 ? targets : targets.reversed() {
                // Back to back with the other stack's route, which goes first every other round.
                // Trellis first in odd rounds, the other stack first in even ones.
                var runs: [(target: Target, isOther: Bool)] = [(target, false)]
                if let versus = others[target.label]?.target { runs.insert((versus, true), at: round % 2 == 0 ? 0 : 1) }
                for run in runs {
                    let result = try await sample(run.target, serverMicros: run.isOther ? otherMicros : ProcessCPU.selfMicros)
                    if run.isOther { otherSamples[target.label, default: []].append(result) } else { samples[target.label, default: []].append(result) }
                    say("round \(round) " + (run.isOther ? "versus " : "") + line(target.label, result))
                }
            }
        }
        report(targets: targets, samples: samples, options: options)
        if let other {
            reportVersus(other: other, goals: others.mapValues(\.goal), samples: samples, otherSamples: otherSamples, targets: targets)
        }
    }

    /// The table, the ratios to the bare route and the goals.
    static func report(targets: [Target], samples: [String: [Sample]], options: Options) {
        struct Row {
            var rate: Double, p50: Double, p99: Double, server: Double, postgres: Double?
        }
        var rows: [String: Row] = [:]
        for target in targets {
            let runs = samples[target.label] ?? []
            let requests = Double(max(runs.map(\.load.requests).reduce(0, +), 1))
            let postgres = runs.allSatisfy { $0.postgresMicros != nil } ? runs.compactMap(\.postgresMicros).reduce(0, +) / requests : nil
            rows[target.label] = Row(
                rate: AuthOverheadBenchmark.median(runs.map(\.load.requestsPerSecond)),
                p50: AuthOverheadBenchmark.median(runs.compactMap(\.load.p50)), p99: AuthOverheadBenchmark.median(runs.compactMap(\.load.p99)),
                server: runs.map(\.serverMicros).reduce(0, +) / requests, postgres: postgres)
        }
        say("")
        say("results (median req/s and latency of \(options.rounds) rounds; CPU µs per request over all rounds)")
        say("route      req/s      p50       p99   server µs/req  Postgres µs/req   req/s vs bare  server µs vs bare")
        let bare = rows["bare"]
        for target in targets {
            guard let row = rows[target.label] else { continue }
            var line = target.label.padding(toLength: 8, withPad: " ", startingAt: 0)
            line += fixed(row.rate, 0).leftPadded(8) + AuthOverheadBenchmark.millis(row.p50).leftPadded(10)
            line += AuthOverheadBenchmark.millis(row.p99).leftPadded(10) + fixed(row.server, 1).leftPadded(15)
            line += (row.postgres.map { fixed($0, 1) } ?? "-").leftPadded(17)
            if let bare {
                line += (fixed(row.rate / bare.rate, 3) + "x").leftPadded(16) + ("+" + fixed(row.server - bare.server, 1)).leftPadded(19)
            }
            say(line)
        }
        for target in targets where target.label == "cget" || target.label == "clist" {
            let runs = samples[target.label] ?? []
            let requests = Double(max(runs.map(\.load.requests).reduce(0, +), 1))
            if runs.allSatisfy({ $0.redisMicros != nil }) {
                say("redis: \(target.label) cost redis-server " + fixed(runs.compactMap(\.redisMicros).reduce(0, +) / requests, 1) + " µs CPU per request")
            }
        }
        if samples.values.joined().contains(where: { $0.statements == nil }) {
            say("planning: pg_stat_statements not readable (see Benchmarks/README.md), so re-planning is not measured")
        } else {
            for target in targets {
                let runs = samples[target.label] ?? []
                let calls = runs.compactMap(\.statements?.calls).reduce(0, +)
                let plans = runs.compactMap(\.statements?.plans).reduce(0, +)
                guard calls > 0 else { continue }
                say("planning: \(target.label) ran \(calls) tenant reads and planned \(plans) times ("
                    + fixed(1000 * Double(plans) / Double(calls), 2) + " per 1000)")
            }
        }
        let resident = ProcessCPU.residentMiB()
        if let resident { say("memory: RSS \(fixed(resident.now, 1)) MiB now, \(fixed(resident.peak, 1)) MiB peak (bare and Trellis servers together)") }
        if let breakdown = ProcessCPU.residentBreakdown() {
            let parts = breakdown.parts.map { "\($0.name) \(fixed($0.mib, 1))" }.joined(separator: ", ")
            say("memory by kind (MiB, \(breakdown.threads) threads): \(parts)")
        }

        say("")
        say("goals (issue 8, on the 2-core machine):")
        func goal(_ text: String, _ met: Bool?) {
            say("  " + text.padding(toLength: 64, withPad: " ", startingAt: 0) + (met.map { $0 ? "PASS" : "FAIL" } ?? "not measured"))
        }
        let liveRatio = rows["live"].flatMap { live in bare.map { live.rate / $0.rate } }
        goal("live >= \(Goal.liveToBare)x bare: " + (liveRatio.map { fixed($0, 3) + "x" } ?? "-"), liveRatio.map { $0 >= Goal.liveToBare })
        if let get = rows["get"] {
            goal("get <= \(Int(Goal.getServerMicros)) µs server CPU per request: \(fixed(get.server, 1))", get.server <= Goal.getServerMicros)
            goal("get p99 < \(Int(Goal.p99Millis)) ms: \(AuthOverheadBenchmark.millis(get.p99))", get.p99 < Goal.p99Millis)
        }
        if let rpc = rows["rpc-get"], let get = rows["get"] {
            goal("rpc-get >= \(Goal.rpcToREST)x get's req/s (issue 9): " + fixed(rpc.rate / get.rate, 3) + "x", rpc.rate / get.rate >= Goal.rpcToREST)
        }
        for label in ["gql-get", "gql-apq"] {
            if let gql = rows[label], let get = rows["get"] {
                goal("\(label) >= \(Goal.graphQLToREST)x get's req/s (issue 9): " + fixed(gql.rate / get.rate, 3) + "x", gql.rate / get.rate >= Goal.graphQLToREST)
            }
        }
        if let nested = rows["gql-nested"] {
            goal("gql-nested >= \(Int(Goal.nestedRate)) req/s (issue 9): " + fixed(nested.rate, 0), nested.rate >= Goal.nestedRate)
        }
        if let get = rows["get"], let tracedGet = rows["tget"] {
            say("  tracing: get costs +\(fixed(tracedGet.server - get.server, 1)) µs server CPU per request traced, "
                + fixed(tracedGet.rate / get.rate, 3) + "x its req/s (tracing off is the get row: no middleware, no spans)")
        }
        if let list = rows["list"] {
            goal("list <= \(Int(Goal.listServerMicros)) µs server CPU per request: \(fixed(list.server, 1))", list.server <= Goal.listServerMicros)
            goal("list <= \(Int(Goal.listPostgresMicros)) µs Postgres CPU per request: " + (list.postgres.map { fixed($0, 1) } ?? "-"),
                 list.postgres.map { $0 <= Goal.listPostgresMicros })
            goal("list p99 < \(Int(Goal.p99Millis)) ms: \(AuthOverheadBenchmark.millis(list.p99))", list.p99 < Goal.p99Millis)
        }
        if let cget = rows["cget"], let bare {
            goal("cget >= \(Goal.cachedGetToBare)x bare's req/s (issue 10): " + fixed(cget.rate / bare.rate, 3) + "x",
                 cget.rate / bare.rate >= Goal.cachedGetToBare)
            goal("cget p99 < \(Int(Goal.cachedP99Millis)) ms (issue 10): \(AuthOverheadBenchmark.millis(cget.p99))", cget.p99 < Goal.cachedP99Millis)
        }
        goal("RSS peak < \(Int(Goal.residentMiB)) MiB: " + (resident.map { fixed($0.peak, 1) } ?? "-"), resident.map { $0.peak < Goal.residentMiB })
    }

    /// Trellis beside the other stack, route by route: each round's two runs were back to back,
    /// so their ratio is what the machine's drift leaves alone; the goal counts rounds.
    static func reportVersus(
        other: OtherStack, goals: [String: Double?], samples: [String: [Sample]], otherSamples: [String: [Sample]], targets: [Target]
    ) {
        say("")
        say("versus \(other.url) (each route back to back with Trellis's in every round; req/s and p99 are medians)")
        say("route    Trellis req/s       p99   µs/req   other req/s       p99   µs/req   Trellis ÷ other per round     median   goal")
        for target in targets {
            guard let mine = samples[target.label], let theirs = otherSamples[target.label], mine.count == theirs.count else { continue }
            let ratios = zip(mine, theirs).map { $0.load.requestsPerSecond / max($1.load.requestsPerSecond, 1) }
            func micros(_ runs: [Sample]) -> String {
                let requests = Double(max(runs.map(\.load.requests).reduce(0, +), 1))
                let total = runs.map(\.serverMicros).reduce(0, +)
                return total.isNaN ? "-" : fixed(total / requests, 1)
            }
            let median = AuthOverheadBenchmark.median(ratios)
            var line = target.label.padding(toLength: 8, withPad: " ", startingAt: 0)
            line += fixed(AuthOverheadBenchmark.median(mine.map(\.load.requestsPerSecond)), 0).leftPadded(14)
            line += AuthOverheadBenchmark.millis(AuthOverheadBenchmark.median(mine.compactMap(\.load.p99))).leftPadded(10)
            line += micros(mine).leftPadded(9)
            line += fixed(AuthOverheadBenchmark.median(theirs.map(\.load.requestsPerSecond)), 0).leftPadded(14)
            line += AuthOverheadBenchmark.millis(AuthOverheadBenchmark.median(theirs.compactMap(\.load.p99))).leftPadded(10)
            line += micros(theirs).leftPadded(9)
            line += "   " + ratios.map { fixed($0, 2) + "x" }.joined(separator: " ").padding(toLength: 26, withPad: " ", startingAt: 0)
            line += (fixed(median, 2) + "x").leftPadded(9)
            if let goal = goals[target.label] ?? nil {
                let met = ratios.filter { $0 >= goal }.count
                line += "   >= \(fixed(goal, 0))x: \(met) of \(ratios.count) rounds, median " + (median >= goal ? "PASS" : "FAIL")
            }
            say(line)
        }
    }

    /// The GraphQL read the issue compares with REST's get.
    static let graphQLGet = "query Agent($id: ID!) { agent(id: $id) { id name model tags } }"
    /// The nested query of issue 9's statement-count test.
    static let graphQLNested = "{ swarms(first: 50) { edges { node { name agents(first: 10) { edges { node { name swarm { name } } } } } } } }"

    static func sha256(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// `extensions` and `variables` of a GET that runs ``graphQLGet`` by its persisted hash.
    static func persistedQueryParameters(agent: UUID) -> String {
        let extensions = #"{"persistedQuery":{"version":1,"sha256Hash":"\#(sha256(graphQLGet))"}}"#
        let variables = #"{"id":"\#(agent.lowercasedString)"}"#
        func encoded(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "" }
        return "extensions=" + encoded(extensions) + "&variables=" + encoded(variables)
    }

    /// 50 swarms of 10 agents each in the fixture's workspace, through the API, for `gql-nested`.
    static func makeSwarms(trellis: String, bearer: String) async throws {
        for s in 0..<50 {
            let swarm = try await AuthOverheadBenchmark.fetch(trellis + "/v1/swarms", authorization: bearer, json: #"{"name":"Bench swarm \#(s)"}"#)
            guard swarm.status == 201, case let .object(object) = try JSONValue(parsing: Array(swarm.body)), case let .string(id)? = object["id"] else {
                throw BenchmarkError("could not create a swarm: HTTP \(swarm.status)")
            }
            for a in 0..<10 {
                let agent = try await AuthOverheadBenchmark.fetch(
                    trellis + "/v1/agents", authorization: bearer, json: #"{"name":"Swarm \#(s) agent \#(a)","swarm_id":"\#(id)"}"#)
                guard agent.status == 201 else { throw BenchmarkError("could not create an agent: HTTP \(agent.status)") }
            }
        }
    }

    /// The floor's one statement: an agent's name, by workspace and id (the unique index
    /// Trellis's reads use; by id alone the generic plan under RLS scans the workspace), as a
    /// JSON string.
    struct FloorAgentRead: PostgresPreparedStatement {
        static let name = "bench_floor_agent_read"
        static let sql = "SELECT to_json(a.name)::text FROM agents a WHERE a.workspace_id = $1 AND a.id = $2"
        typealias Row = String
        var workspace: UUID
        var id: UUID
        func makeBindings() throws -> PostgresBindings { .workspace(workspace, id: id) }
        func decodeRow(_ row: PostgresRow) throws -> Row { try row.decode(String.self) }
    }

    /// Polls `url` until it answers 200, for at most 30 s.
    static func waitUntilLive(_ url: String) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            if let response = try? await AuthOverheadBenchmark.fetch(url, authorization: nil), response.status == 200 { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchmarkError("\(url) did not answer 200 within 30 s")
    }

    /// A TCP port on 127.0.0.1 that is free now (the kernel's pick for port 0).
    static func freePort() throws -> Int {
        let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw BenchmarkError("socket() failed") }
        defer { close(socket) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
                bind(socket, socketAddress, length) == 0 && getsockname(socket, socketAddress, &length) == 0
            }
        }
        guard bound else { throw BenchmarkError("cannot bind a free port on 127.0.0.1") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
