import App
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import ServiceLifecycle
import TrellisRuntime

/// The pool-isolation scenario of the hardening issue, in one run and one process:
///
/// 1. `quiet`: workspace A reads (`GET /v1/agents/{id}`) alone;
/// 2. `flood`: A reads the same way while workspace B sends audited `POST /v1/tools` on 64
///    connections — A's p50/p99 beside the quiet figures;
/// 3. `writes`: B's audited `POST` throughput into its one workspace at 64 connections, alone.
///
/// With `--compare` (the default) the three phases run twice against the same database: first
/// as the code stood before (`before`: audit entries chained by an insert trigger that takes the
/// workspace's chain-head lock, and no per-workspace limit on the pool), by migrating the
/// database one step down and giving the gate the whole pool; then as shipped (`after`: the
/// sealer off the write path and the per-workspace gate).
enum PoolIsolationBenchmark: BenchmarkScenario {
    static let name = "pool-isolation"
    static let summary = "workspace A's reads while workspace B floods audited writes; audited POST throughput"
    static let options = """
        --database-url URL   the server's role (default: $DATABASE_URL)
        --owner-url URL      the owner role, to migrate and create the fixture (default: $DATABASE_OWNER_URL)
        --seconds N          seconds per phase (default 10)
        --readers N          wrk connections reading in workspace A (default 8)
        --writers N          wrk connections writing in workspace B (default 64)
        --pool N             Postgres connections (default 40; `trellis serve` defaults to 8 per core, 8 to 40)
        --only-after         skip the `before` run
        --wrk PATH           the wrk binary (default: wrk on PATH)
        """

    struct Options {
        var databaseURL = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
        var ownerURL = ProcessInfo.processInfo.environment["DATABASE_OWNER_URL"] ?? ""
        var seconds = 10
        var readers = 8
        var writers = 64
        var pool = 40
        var compare = true
        var wrk = "wrk"
    }

    static func parse(_ arguments: [String]) throws -> Options {
        let reader = try ArgumentReader(
            arguments, values: ["--database-url", "--owner-url", "--seconds", "--readers", "--writers", "--pool", "--wrk"],
            switches: ["--only-after"])
        var options = Options()
        options.databaseURL = reader.string("--database-url", default: options.databaseURL)
        options.ownerURL = reader.string("--owner-url", default: options.ownerURL)
        options.seconds = try reader.integer("--seconds", default: options.seconds, atLeast: 1)
        options.readers = try reader.integer("--readers", default: options.readers, atLeast: 1)
        options.writers = try reader.integer("--writers", default: options.writers, atLeast: 1)
        options.pool = try reader.integer("--pool", default: options.pool, atLeast: 2)
        options.wrk = reader.string("--wrk", default: options.wrk)
        options.compare = !reader.has("--only-after")
        guard !options.databaseURL.isEmpty, !options.ownerURL.isEmpty else {
            throw BenchmarkError("--database-url and --owner-url (or DATABASE_URL and DATABASE_OWNER_URL) are required")
        }
        return options
    }

    /// One phase's figures for each load.
    struct Phase {
        var reads: WRK.Result?
        var writes: WRK.Result?
    }

    static func run(arguments: [String]) async throws {
        let options = try parse(arguments)
        let wrk = try AuthOverheadBenchmark.locateWRK(options.wrk)
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: .error) }
        let logger = Logger(label: "pool-isolation")
        say("Trellis pool-isolation benchmark: \(options.pool) Postgres connections, \(options.readers) readers in A, "
            + "\(options.writers) writers in B, \(options.seconds) s per phase")
        let files = try MigrationDirectory.load(AuthOverheadBenchmark.Fixture.repositoryRoot.appendingPathComponent("migrations"))
        let fixture = try await withOwner(options, logger: logger) { owner in
            _ = try await Migrator(client: owner, logger: logger).up(files)
            return try await Fixture.make(owner, logger: logger)
        }
        var results: [(String, [String: Phase])] = []
        if options.compare {
            // The code as it stood: the chain trigger (one migration down) and no gate.
            try await withOwner(options, logger: logger) { owner in _ = try await Migrator(client: owner, logger: logger).down(files) }
            say("\nbefore: audit chain trigger (migration 0007 rolled back), no per-workspace limit")
            do {
                results.append(("before", try await runPhases(options, wrk: wrk, fixture: fixture, gateLimit: options.pool, sealer: false, logger: logger)))
            } catch {
                try await withOwner(options, logger: logger) { owner in _ = try await Migrator(client: owner, logger: logger).up(files) }
                throw error
            }
            try await withOwner(options, logger: logger) { owner in _ = try await Migrator(client: owner, logger: logger).up(files) }
        }
        let gate = max(1, options.pool / 4)
        say("\nafter: audit sealer off the write path, at most \(gate) connections per workspace")
        results.append(("after", try await runPhases(options, wrk: wrk, fixture: fixture, gateLimit: gate, sealer: true, logger: logger)))

        say("\nresults")
        say("  run      A reads alone (req/s, p50, p99)        A reads during B's flood (req/s, p50, p99)   B audited POST/s alone   B POST/s in flood")
        for (label, phases) in results {
            func cell(_ r: WRK.Result?) -> String {
                guard let r else { return "-" }
                return fixed(r.requestsPerSecond, 0).leftPadded(7) + "  " + AuthOverheadBenchmark.millis(r.p50 ?? .nan).leftPadded(8)
                    + "  " + AuthOverheadBenchmark.millis(r.p99 ?? .nan).leftPadded(9)
            }
            say("  " + label.padding(toLength: 8, withPad: " ", startingAt: 0) + cell(phases["quiet"]?.reads) + "          "
                + cell(phases["flood"]?.reads) + "        "
                + fixed(phases["writes"]?.writes?.requestsPerSecond ?? .nan, 0).leftPadded(8) + "              "
                + fixed(phases["flood"]?.writes?.requestsPerSecond ?? .nan, 0).leftPadded(8))
        }
    }

    /// Serves the real router with the given gate, then runs the three phases against it.
    static func runPhases(
        _ options: Options, wrk: URL, fixture: Fixture, gateLimit: Int, sealer: Bool, logger: Logger
    ) async throws -> [String: Phase] {
        let postgres = PostgresClient(
            configuration: try TrellisServer.serverPoolConfiguration(options.databaseURL, size: options.pool, timeouts: Timeouts()),
            backgroundLogger: logger)
        let api = TrellisApp.api
        let services = TrellisServices(api: api, postgres: postgres, workspaceGate: WorkspaceGate(limit: gateLimit))
        let (ports, portContinuation) = AsyncStream.makeStream(of: Int.self)
        let router = TrellisServer.makeRouter(api: api, services: services)
        var app = Application(
            router: router, server: .http1(timeouts: Timeouts(), webSocket: WebSocketLimits(), router: router),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "Trellis"),
            onServerRunning: { channel in
                portContinuation.yield(channel.localAddress?.port ?? 0)
                portContinuation.finish()
            },
            logger: logger)
        app.addServices(postgres, APIKeyCacheRefresher(services: services, logger: logger))
        if sealer { app.addServices(AuditSealer(postgres: postgres, logger: logger)) }
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: [String: Phase]?.self) { tasks in
            tasks.addTask {
                defer { portContinuation.finish() }
                try await group.run()
                return nil
            }
            defer { tasks.cancelAll() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next(), port > 0 else { throw BenchmarkError("the HTTP server did not start") }
            let base = "http://127.0.0.1:\(port)"
            let readURL = base + "/v1/agents/\(fixture.agentID.lowercasedString)"
            let writeURL = base + "/v1/tools"
            let check = try await AuthOverheadBenchmark.fetch(readURL, authorization: "Bearer \(fixture.readerToken)")
            guard check.status == 200 else { throw BenchmarkError("\(readURL) answered \(check.status)") }
            let readers = WRK(binary: wrk, connections: options.readers, threads: min(2, options.readers))
            let writers = WRK(binary: wrk, connections: options.writers, threads: 2)
            // One script per wrk run: each numbers its names from 1, so each needs its own prefix.
            let floodScript = try writeScript(token: fixture.writerToken)
            let writesScript = try writeScript(token: fixture.writerToken)
            defer {
                try? FileManager.default.removeItem(at: floodScript)
                try? FileManager.default.removeItem(at: writesScript)
            }
            var phases: [String: Phase] = [:]

            _ = try await readers.run(url: readURL, authorization: "Bearer \(fixture.readerToken)", seconds: 2)  // warm-up
            let quiet = try await readers.run(url: readURL, authorization: "Bearer \(fixture.readerToken)", seconds: options.seconds)
            phases["quiet"] = Phase(reads: quiet)
            say("  quiet    A reads  " + quiet.line)

            async let flooding = writers.run(url: writeURL, authorization: nil, seconds: options.seconds + 2, script: floodScript)
            try await Task.sleep(for: .seconds(1))
            let during = try await readers.run(url: readURL, authorization: "Bearer \(fixture.readerToken)", seconds: options.seconds)
            let flood = try await flooding
            phases["flood"] = Phase(reads: during, writes: flood)
            say("  flood    A reads  " + during.line)
            say("           B writes " + flood.line)

            let writes = try await writers.run(url: writeURL, authorization: nil, seconds: options.seconds, script: writesScript)
            phases["writes"] = Phase(writes: writes)
            say("  writes   B writes " + writes.line)
            await group.triggerGracefulShutdown()
            return phases
        }
    }

    /// A wrk script: POSTs of tools with unique names (per run, thread and request).
    static func writeScript(token: String) throws -> URL {
        let run = UUID().uuidString.prefix(8).lowercased()
        let lua = """
            wrk.method = "POST"
            wrk.headers["Content-Type"] = "application/json"
            wrk.headers["Authorization"] = "Bearer \(token)"
            local threads = 0
            function setup(thread)
              threads = threads + 1
              thread:set("tid", threads)
            end
            local n = 0
            request = function()
              n = n + 1
              return wrk.format(nil, nil, nil, '{"name":"bench-\(run)-' .. tid .. '-' .. n .. '"}')
            end
            """
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-pool-isolation-\(run).lua")
        try lua.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    static func withOwner<T: Sendable>(
        _ options: Options, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        var quiet = logger
        quiet.logLevel = .critical
        let owner = PostgresClient(configuration: try DatabaseURL(options.ownerURL).clientConfiguration, backgroundLogger: quiet)
        return try await withThrowingTaskGroup(of: T?.self) { tasks in
            tasks.addTask {
                await owner.run()
                return nil
            }
            defer { tasks.cancelAll() }
            return try await body(owner)
        }
    }

    /// Two workspaces: A with one agent and a reading key, B with a writing key.
    struct Fixture: Sendable {
        var agentID: UUID
        var readerToken: String
        var writerToken: String

        static func make(_ owner: PostgresClient, logger: Logger) async throws -> Fixture {
            func workspace(_ name: String) async throws -> UUID {
                let id = UUID.v7()
                _ = try await owner.query("INSERT INTO workspaces (id, name) VALUES (\(id), \(name))", logger: logger)
                return id
            }
            func inWorkspace<T: Sendable>(_ id: UUID, _ body: (TenantTransaction) async throws -> T) async throws -> T {
                let identity = Identity(workspaceID: id, kind: .cli, credentialID: "benchmark", scopes: ScopeSet(["*", "admin"]))
                let origin = RequestOrigin(requestID: "pool-isolation-setup", ip: nil, userAgent: nil)
                return try await TenantTransaction.run(on: owner, identity: identity, origin: origin, logger: logger, body)
            }
            let a = try await workspace("pool-isolation A")
            let b = try await workspace("pool-isolation B")
            guard case let .valid(input) = AgentCreate.validate(.object(JSONObject(["name": .string("reader")]))) else {
                throw BenchmarkError("the agent body does not validate")
            }
            let (agent, reader) = try await inWorkspace(a) { tx in
                (try await ResourceService<Agent>().create(input, in: tx).id,
                 try await APIKeys.create(name: "reader", scopes: ScopeSet(["*"]), expiresAt: nil, in: tx).token.text)
            }
            let writer = try await inWorkspace(b) { tx in
                try await APIKeys.create(name: "writer", scopes: ScopeSet(["*"]), expiresAt: nil, in: tx).token.text
            }
            return Fixture(agentID: agent, readerToken: reader, writerToken: writer)
        }
    }
}
