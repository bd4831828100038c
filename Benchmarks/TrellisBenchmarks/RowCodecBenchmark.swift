import App
import Foundation
import Hummingbird
import Logging
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Synchronization
import TrellisPostgres
import TrellisRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Row decoding and JSON writing at memory speed (issue 8): the rows of one
/// `GET /v1/agents?limit=N` page, fetched once from Postgres with the server's own list
/// statement and kept in memory, then decoded into `[Agent]` by the server's page function
/// (the generated `init(row:)` per row) and written as the list response body by the server's
/// page writer, over and over on one thread. Prints rows/s, fields/s, ns per field and MB/s of
/// JSON for decode, encode and both, beside a plain copy of the same bytes and Foundation's
/// `JSONEncoder` on the same values, and checks the goal of a million fields/s per core.
enum RowCodecBenchmark: BenchmarkScenario {
    static let name = "row-codec"
    static let summary = "decode a list page's rows into models + write its JSON, in memory: fields/s per core"
    static let options = """
        --database-url URL   the server's role (default: $DATABASE_URL)
        --owner-url URL      the owner role, to migrate and create the fixture (default: $DATABASE_OWNER_URL)
        --rows N             rows per page, as GET /v1/agents?limit=N (default 20; at most the API's page size limit)
        --agents N           agents in the benchmark's workspace (default 100; more than --rows gives the page a cursor)
        --seconds N          seconds per timed run of each path (default 3)
        --runs N             timed runs per path, the paths interleaved (default 3)
        --warmup N           warm-up seconds per path before the runs (default 1)
        --only NAMES         comma-separated paths to time (decode,init-row,encode,both,written,copy,jsonencoder; default all)
        """

    /// The goal for decode + encode, on one core.
    static let goalFieldsPerSecond = 1_000_000.0

    /// Signs the page's cursor in the server and in the benchmark alike, so their bodies can be
    /// compared byte for byte. Not a secret: it signs cursors of a throwaway workspace.
    static let cursorKey = "row-codec-benchmark-cursor-signing-key-0123456789"

    struct Options {
        var databaseURL: String
        var ownerURL: String
        var rows: Int
        var agents: Int
        var seconds: Int
        var runs: Int
        var warmup: Int
        var only: Set<String>?

        init(_ arguments: [String]) throws {
            let reader = try ArgumentReader(arguments, values: [
                "--database-url", "--owner-url", "--rows", "--agents", "--seconds", "--runs", "--warmup", "--only",
            ])
            let environment = ProcessInfo.processInfo.environment
            databaseURL = reader.string("--database-url", default: environment["DATABASE_URL"] ?? "")
            ownerURL = reader.string("--owner-url", default: environment["DATABASE_OWNER_URL"] ?? "")
            rows = try reader.integer("--rows", default: 20, atLeast: 1)
            agents = try reader.integer("--agents", default: 100, atLeast: 1)
            seconds = try reader.integer("--seconds", default: 3, atLeast: 1)
            runs = try reader.integer("--runs", default: 3, atLeast: 1)
            warmup = try reader.integer("--warmup", default: 1, atLeast: 0)
            let names = reader.string("--only", default: "")
            if !names.isEmpty {
                only = Set(names.split(separator: ",").map(String.init))
                let unknown = only!.subtracting(["decode", "init-row", "encode", "both", "written", "copy", "jsonencoder"])
                guard unknown.isEmpty else { throw BenchmarkError("--only: unknown path(s) \(unknown.sorted().joined(separator: ","))") }
            }
            let maximum = TrellisApp.api.pageLimits.maxSize
            guard rows <= maximum else { throw BenchmarkError("--rows: the API's pages hold at most \(maximum) rows") }
            guard !databaseURL.isEmpty, !ownerURL.isEmpty else {
                throw BenchmarkError("--database-url and --owner-url (or DATABASE_URL and DATABASE_OWNER_URL) are required")
            }
        }
    }

    /// What the timed paths work on, all made before timing starts.
    struct Inputs {
        var rows: [SQLRow]
        var query: ListQuery
        var page: Page<Agent>
        var json: [UInt8]
        var encodable: EncodableAgentPage
    }

    static func run(arguments: [String]) async throws {
        let options = try Options(arguments)
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: .error, fileDescriptor: STDERR_FILENO) }
        var logger = Logger(label: "row-codec")
        logger.logLevel = .error

        say("Trellis row-codec benchmark")
        let fixture = try await AuthOverheadBenchmark.Fixture.make(
            ownerURL: options.ownerURL, migrations: nil, agents: options.agents, name: "row-codec benchmark", logger: logger)
        say("fixture: workspace \(fixture.workspace.lowercasedString) with \(fixture.agentCount) agents")
        guard let keys = CursorKeys([cursorKey]) else { throw BenchmarkError("the benchmark's cursor key is too short") }
        let path = "/v1/agents?limit=\(options.rows)"
        let served = try await serverBody(path, options: options, token: fixture.token, logger: logger)
        let inputs = try await fetchRows(options: options, workspace: fixture.workspace, keys: keys, logger: logger)
        try check(inputs, served: served, path: path)
        measure(inputs, options: options)
    }

    // MARK: Preparing

    /// The body the shipped server answers `path` with: `TrellisServer.makeApplication`, as
    /// `trellis serve` builds it, on a free port, stopped again before anything is timed.
    static func serverBody(_ path: String, options: Options, token: String, logger: Logger) async throws -> Data {
        let port = try RequestPathBenchmark.freePort()
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = options.databaseURL
        environment["TRELLIS_HOST"] = "127.0.0.1"
        environment["TRELLIS_PORT"] = "\(port)"
        environment["TRELLIS_LOG_LEVEL"] = "error"
        environment[CursorKeys.environmentVariable] = cursorKey
        let configuration = try ServerConfiguration.fromEnvironment(environment)
        let metrics = TrellisMetrics()
        metrics.bootstrapMetricsSystem()
        let app = try await TrellisServer.makeApplication(
            api: TrellisApp.api, configuration: configuration, metrics: metrics, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let response: AuthOverheadBenchmark.Fetched
            do {
                let base = "http://127.0.0.1:\(port)"
                try await RequestPathBenchmark.waitUntilLive(base + "/health/live")
                response = try await AuthOverheadBenchmark.fetch(base + path, authorization: "Bearer \(token)")
            } catch {
                await group.triggerGracefulShutdown()
                throw error
            }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            guard response.status == 200 else { throw BenchmarkError("GET \(path) answered \(response.status); the run would be void") }
            return response.body
        }
    }

    /// Runs the server's list statement for `GET /v1/agents?limit=N` (``ResourceService/list``,
    /// as the server role, self-scoped to the workspace) and keeps the rows it returned.
    static func fetchRows(options: Options, workspace: UUID, keys: CursorKeys, logger: Logger) async throws -> Inputs {
        let query: ListQuery
        switch ListQuery.parse(Agent.self, parameters: [("limit", "\(options.rows)")], limits: TrellisApp.api.pageLimits, keys: keys) {
        case let .valid(parsed): query = parsed
        case let .invalid(problems): throw BenchmarkError("limit=\(options.rows): \(problems)")
        }
        let client = PostgresClient(configuration: try DatabaseURL(options.databaseURL).clientConfiguration, backgroundLogger: logger)
        let identity = Identity(workspaceID: workspace, kind: .apiKey, credentialID: "row-codec", scopes: ScopeSet(["*"]))
        let sink = RowSink()
        let listed = try await withThrowingTaskGroup(of: Page<Agent>?.self) { tasks in
            tasks.addTask {
                await client.run()
                return nil
            }
            defer { tasks.cancelAll() }
            let session = CapturingSession(inner: TenantStatement(client: client, identity: identity, logger: logger), sink: sink)
            return try await ResourceService<Agent>().list(query, in: session)
        }
        let rows = sink.rows.withLock { $0 }
        let page = try ResourceService<Agent>().page(from: rows, for: query)
        guard page.items == listed.items, page.nextCursor == listed.nextCursor else {
            throw BenchmarkError("decoding the kept rows again gave another page than the list call")
        }
        var body = PageBodyWriter().body(page)
        return Inputs(
            rows: rows, query: query, page: page, json: body.readBytes(length: body.readableBytes) ?? [],
            encodable: EncodableAgentPage(page))
    }

    /// Every path does the work: rows decoded, and the body byte for byte the server's.
    static func check(_ inputs: Inputs, served: Data, path: String) throws {
        let columns = Agent.descriptor.columns.count
        let cells = inputs.rows.first.map { $0.count } ?? 0
        say("rows: \(inputs.rows.count) kept (the page's \(inputs.query.limit) and one more, which says there is a next page), "
            + "\(cells) columns each (the model's \(columns) and the sort value for the cursor)")
        say("check decode: \(inputs.page.items.count) agents, next_cursor " + (inputs.page.nextCursor == nil ? "none" : "present"))
        let same = Array(served) == inputs.json
        say("check encode: \(inputs.json.count) bytes; the server's GET \(path): \(served.count) bytes, "
            + (same ? "identical" : "DIFFERENT"))
        guard !inputs.page.items.isEmpty, !inputs.json.isEmpty else { throw BenchmarkError("nothing decoded or written; the run is void") }
        guard same else { throw BenchmarkError("the page writer's bytes differ from the server's response; the run is void") }
        let shape = RowShape<WrittenJSON>(written: ColumnProjection(all: Agent.descriptor))
        var written = PageBodyWriter().body(try ResourceService<Agent>().page(from: inputs.rows, for: inputs.query, shape: shape))
        let sameWritten = written.readBytes(length: written.readableBytes) == inputs.json
        say("check written: the rows written without the model are " + (sameWritten ? "identical" : "DIFFERENT"))
        guard sameWritten else { throw BenchmarkError("the rows written without the model differ from the model's JSON; the run is void") }
        let encoded = (try? JSONEncoder.baseline.encode(inputs.encodable))?.count ?? 0
        say("check JSONEncoder baseline: \(encoded) bytes (same values; ISO 8601 dates without microseconds, so not byte-identical)")
        guard encoded > 0 else { throw BenchmarkError("JSONEncoder wrote nothing; the run is void") }
    }

    // MARK: Timing

    /// One timed path: `body` does one page's work and returns the JSON bytes it produced.
    struct Path {
        /// Its name in `--only`.
        var key: String
        var label: String
        var what: String
        var body: () throws -> Int
    }

    struct Sample {
        var pages: Int
        var seconds: Double
        var cpuSeconds: Double
        var bytes: Int
    }

    static func measure(_ inputs: Inputs, options: Options) {
        let service = ResourceService<Agent>()
        let writer = PageBodyWriter()
        let rows = inputs.rows
        let query = inputs.query
        let page = inputs.page
        let json = inputs.json
        let encodable = inputs.encodable
        let encoder = JSONEncoder.baseline
        let modelRows = Array(rows.prefix(query.limit))
        let written = RowShape<WrittenJSON>(written: ColumnProjection(all: Agent.descriptor))
        var paths = [
            Path(key: "decode", label: "decode", what: "rows -> Page<Agent>: ResourceService.page (init(row:) per row + next cursor)") {
                blackHole(try service.page(from: rows, for: query))
                return 0
            },
            Path(key: "init-row", label: "decode: init(row:) only", what: "the same rows -> [Agent], no cursor") {
                var agents: [Agent] = []
                agents.reserveCapacity(modelRows.count)
                for row in modelRows { agents.append(try Agent(row: row)) }
                blackHole(agents)
                return 0
            },
            Path(key: "encode", label: "encode", what: "Page<Agent> -> the response body: PageBodyWriter.body") {
                writer.body(page).readableBytes
            },
            Path(key: "both", label: "decode + encode", what: "rows -> Page<Agent> -> the response body") {
                writer.body(try service.page(from: rows, for: query)).readableBytes
            },
            Path(key: "written", label: "written", what: "rows -> the response body, each row written as JSON without the model (what list serves)") {
                writer.body(try service.page(from: rows, for: query, shape: written)).readableBytes
            },
            Path(key: "copy", label: "baseline: copy", what: "a ByteBuffer of the body's size, the body's bytes copied in (memcpy)") {
                var buffer = ByteBufferAllocator().buffer(capacity: json.count)
                buffer.writeBytes(json)
                return buffer.readableBytes
            },
            Path(key: "jsonencoder", label: "baseline: JSONEncoder", what: "Foundation's JSONEncoder on Encodable copies of the same agents") {
                try encoder.encode(encodable).count
            },
        ]
        if let only = options.only { paths.removeAll { !only.contains($0.key) } }
        let fields = page.items.count * Agent.descriptor.columns.count
        say("")
        say("paths (one thread; a page is \(page.items.count) rows x \(Agent.descriptor.columns.count) columns = \(fields) fields, "
            + "\(json.count) bytes of JSON):")
        for path in paths {
            say("  " + path.label.padding(toLength: 26, withPad: " ", startingAt: 0) + ("(" + path.key + ")").padding(toLength: 14, withPad: " ", startingAt: 0) + path.what)
        }
        if options.warmup > 0 {
            for path in paths { _ = timed(path, seconds: Double(options.warmup)) }
        }
        var samples: [String: [Sample]] = [:]
        for run in 1...options.runs {
            for path in run % 2 == 1 ? paths : paths.reversed() {
                let sample = timed(path, seconds: Double(options.seconds))
                samples[path.label, default: []].append(sample)
                say("run \(run) " + path.label.padding(toLength: 26, withPad: " ", startingAt: 0)
                    + fixed(Double(sample.pages) / sample.seconds, 0).leftPadded(9) + " pages/s   cpu/wall "
                    + fixed(sample.cpuSeconds / sample.seconds, 2))
            }
        }
        report(paths: paths, samples: samples, rowsPerPage: page.items.count, fields: fields, options: options)
    }

    /// Runs `path` for `seconds` of wall time (whole pages), counting pages, CPU time and bytes.
    static func timed(_ path: Path, seconds: Double) -> Sample {
        let cpuBefore = ProcessCPU.selfMicros()
        let start = monotonicNanos()
        let deadline = start + UInt64(seconds * 1e9)
        var pages = 0
        var bytes = 0
        var now = start
        repeat {
            do {
                bytes += try path.body()
            } catch {
                fatalError("\(path.label) threw \(error) after the check passed")
            }
            pages += 1
            now = monotonicNanos()
        } while now < deadline
        let cpu = (ProcessCPU.selfMicros() - cpuBefore) / 1e6
        return Sample(pages: pages, seconds: Double(now - start) / 1e9, cpuSeconds: cpu, bytes: bytes)
    }

    static func report(paths: [Path], samples: [String: [Sample]], rowsPerPage: Int, fields: Int, options: Options) {
        say("")
        say("results: median (best) of \(options.runs) runs of \(options.seconds) s; one thread, so per second is per core")
        say("path                          rows/s            fields/s            ns/field   MB/s of JSON   cpu/wall")
        var median: [String: Double] = [:]
        for path in paths {
            let runs = samples[path.label] ?? []
            let rates = runs.map { Double($0.pages) / $0.seconds }.sorted()
            let mid = AuthOverheadBenchmark.median(rates)
            let best = rates.last ?? .nan
            median[path.label] = mid * Double(fields)
            let megabytes = runs.map { Double($0.bytes) / $0.seconds / 1e6 }.sorted()
            let cpu = runs.map(\.cpuSeconds).reduce(0, +) / max(runs.map(\.seconds).reduce(0, +), 1e-9)
            var line = path.label.padding(toLength: 26, withPad: " ", startingAt: 0)
            line += (fixed(mid * Double(rowsPerPage), 0) + " (" + fixed(best * Double(rowsPerPage), 0) + ")").leftPadded(20)
            line += (fixed(mid * Double(fields), 0) + " (" + fixed(best * Double(fields), 0) + ")").leftPadded(22)
            line += fixed(1e9 / (mid * Double(fields)), 1).leftPadded(10)
            let mb = AuthOverheadBenchmark.median(megabytes)
            line += (mb > 0 ? fixed(mb, 1) : "-").leftPadded(15)
            line += fixed(cpu, 2).leftPadded(11)
            say(line)
        }
        say("(baselines: fields/s is the page's fields over the time to copy or JSONEncoder-encode it)")
        say("")
        for label in ["decode + encode", "written"] {
            let goal = "goal (issue 8): \(label) >= \(Int(goalFieldsPerSecond)) fields/s per core: "
            if let rate = median[label] {
                say(goal + fixed(rate, 0) + "   " + (rate >= goalFieldsPerSecond ? "PASS" : "FAIL"))
            } else {
                say(goal + "not measured (--only)")
            }
        }
    }
}

// MARK: - Keeping the rows

/// The rows a ``TenantSession`` returned, kept for the timed paths.
final class RowSink: Sendable {
    let rows = Mutex<[SQLRow]>([])
}

/// A ``TenantStatement`` that also keeps every row it returns.
struct CapturingSession: TenantSession {
    let inner: TenantStatement
    let sink: RowSink

    var identity: Identity { inner.identity }

    func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        try await inner.rows(query)
    }

    func rows(_ query: ShapedQuery) async throws -> [SQLRow] {
        keep(try await inner.rows(query))
    }

    func rows<Statement: TenantPreparedStatement>(_ statement: Statement) async throws -> [SQLRow] {
        keep(try await inner.rows(statement))
    }

    private func keep(_ rows: [SQLRow]) -> [SQLRow] {
        sink.rows.withLock { $0 = rows }
        return rows
    }
}

// MARK: - The JSONEncoder baseline

extension JSONEncoder {
    /// A new encoder as the baseline uses it; the timed path reuses one for every page (which
    /// favours the baseline slightly).
    static var baseline: JSONEncoder {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }
}

/// A list page as plain `Encodable` values: the same members and values as the server's body,
/// `null`s included.
struct EncodableAgentPage: Encodable {
    var data: [EncodableAgent]
    var nextCursor: String?
    var hasMore: Bool

    init(_ page: Page<Agent>) {
        data = page.items.map(EncodableAgent.init)
        nextCursor = page.nextCursor
        hasMore = page.hasMore
    }

    enum CodingKeys: String, CodingKey {
        case data
        case nextCursor = "next_cursor"
        case hasMore = "has_more"
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(data, forKey: .data)
        try container.encode(nextCursor, forKey: .nextCursor)
        try container.encode(hasMore, forKey: .hasMore)
    }
}

struct EncodableAgent: Encodable {
    var id: UUID
    var workspaceID: UUID
    var createdAt: Date
    var updatedAt: Date
    var version: Int64
    var name: String
    var role: String?
    var systemPrompt: String?
    var model: String
    var temperature: Double
    var isActive: Bool
    var swarmID: UUID?
    var tags: [String]?
    var config: EncodableJSON?
    var ownerEmail: String?

    init(_ agent: Agent) {
        id = agent.id
        workspaceID = agent.workspaceID
        createdAt = agent.createdAt
        updatedAt = agent.updatedAt
        version = agent.version
        name = agent.name
        role = agent.role
        systemPrompt = agent.systemPrompt
        model = agent.model.rawValue
        temperature = agent.temperature
        isActive = agent.isActive
        swarmID = agent.swarmID
        tags = agent.tags
        config = agent.config.map(EncodableJSON.init)
        ownerEmail = agent.ownerEmail
    }

    enum CodingKeys: String, CodingKey {
        case id
        case workspaceID = "workspace_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case version, name, role
        case systemPrompt = "system_prompt"
        case model, temperature
        case isActive = "is_active"
        case swarmID = "swarm_id"
        case tags, config
        case ownerEmail = "owner_email"
    }

    /// Every member, `null` for an absent value, as the server writes them.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(workspaceID, forKey: .workspaceID)
        try container.encode(createdAt, forKey: .createdAt)
        try container.encode(updatedAt, forKey: .updatedAt)
        try container.encode(version, forKey: .version)
        try container.encode(name, forKey: .name)
        try container.encode(role, forKey: .role)
        try container.encode(systemPrompt, forKey: .systemPrompt)
        try container.encode(model, forKey: .model)
        try container.encode(temperature, forKey: .temperature)
        try container.encode(isActive, forKey: .isActive)
        try container.encode(swarmID, forKey: .swarmID)
        try container.encode(tags, forKey: .tags)
        try container.encode(config, forKey: .config)
        try container.encode(ownerEmail, forKey: .ownerEmail)
    }
}

/// A ``JSONValue`` through `Encodable`.
struct EncodableJSON: Encodable {
    var value: JSONValue

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        switch value {
        case .null:
            var container = encoder.singleValueContainer()
            try container.encodeNil()
        case let .bool(bool):
            var container = encoder.singleValueContainer()
            try container.encode(bool)
        case let .integer(integer):
            var container = encoder.singleValueContainer()
            try container.encode(integer)
        case let .double(double):
            var container = encoder.singleValueContainer()
            try container.encode(double)
        case let .string(string):
            var container = encoder.singleValueContainer()
            try container.encode(string)
        case let .array(elements):
            var container = encoder.unkeyedContainer()
            for element in elements { try container.encode(EncodableJSON(value: element)) }
        case let .object(object):
            var container = encoder.container(keyedBy: Key.self)
            for member in object { try container.encode(EncodableJSON(value: member.value), forKey: Key(stringValue: member.key)) }
        }
    }
}
