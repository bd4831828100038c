import App
import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import TrellisJobs
import TrellisRuntime

/// The job queue's speed (issue 11): enqueue one job per transaction and in batches, drain
/// no-op jobs with in-process workers, and enqueue→start latency with an idle worker. Each
/// figure is printed beside a bare-SQL baseline measured in the same run on the same database:
/// the same rows inserted into a plain copy of the table (no RLS, no tenant transaction), a
/// drain by bare claim-and-complete statements, and a bare NOTIFY→LISTEN round trip.
enum JobsBenchmark: BenchmarkScenario {
    static let name = "jobs"
    static let summary = "job enqueue (single and batched), no-op drain, enqueue->start latency, each beside bare SQL"
    static let options = """
        --database-url URL   the server's role (default: $DATABASE_URL)
        --owner-url URL      the owner role, to migrate and create the workspace (default: $DATABASE_OWNER_URL)
        --jobs N             jobs per batched enqueue and drain round (default 50000)
        --single N           jobs enqueued one per transaction (default 5000)
        --enqueuers N        concurrent enqueuing tasks for single enqueues (default 32)
        --batch N            jobs per batched transaction (default 1000)
        --workers N          in-process workers draining (default 2)
        --concurrency N      jobs at once per worker (default 200)
        --claim N            jobs claimed per round trip (default 100)
        --pool N             Postgres connections (default 16)
        --samples N          enqueue->start latency samples (default 500)
        --rounds N           drain and enqueue rounds; the best is reported (default 3)
        --phases LIST        which of single,drain,latency to run (default all; drain includes the batched enqueue)
        """

    struct Options {
        var databaseURL = ProcessInfo.processInfo.environment["DATABASE_URL"] ?? ""
        var ownerURL = ProcessInfo.processInfo.environment["DATABASE_OWNER_URL"] ?? ""
        var jobs = 50_000
        var single = 5_000
        var enqueuers = 32
        var batch = 1_000
        var workers = 2
        var concurrency = 200
        var claim = 100
        var pool = 16
        var samples = 500
        var rounds = 3
        var phases: Set<String> = ["single", "drain", "latency"]
    }

    static func parse(_ arguments: [String]) throws -> Options {
        let reader = try ArgumentReader(
            arguments,
            values: ["--database-url", "--owner-url", "--jobs", "--single", "--enqueuers", "--batch", "--workers", "--concurrency",
                     "--claim", "--pool", "--samples", "--rounds", "--phases"],
            switches: [])
        var o = Options()
        o.databaseURL = reader.string("--database-url", default: o.databaseURL)
        o.ownerURL = reader.string("--owner-url", default: o.ownerURL)
        o.jobs = try reader.integer("--jobs", default: o.jobs, atLeast: 1)
        o.single = try reader.integer("--single", default: o.single, atLeast: 1)
        o.enqueuers = try reader.integer("--enqueuers", default: o.enqueuers, atLeast: 1)
        o.batch = min(try reader.integer("--batch", default: o.batch, atLeast: 1), JobQueue.maxBatch)
        o.workers = try reader.integer("--workers", default: o.workers, atLeast: 1)
        o.concurrency = try reader.integer("--concurrency", default: o.concurrency, atLeast: 1)
        o.claim = try reader.integer("--claim", default: o.claim, atLeast: 1)
        o.pool = try reader.integer("--pool", default: o.pool, atLeast: 4)
        o.samples = try reader.integer("--samples", default: o.samples, atLeast: 10)
        o.rounds = try reader.integer("--rounds", default: o.rounds, atLeast: 1)
        if let list = reader.string("--phases") {
            o.phases = Set(list.split(separator: ",").map(String.init))
            guard !o.phases.isEmpty, o.phases.isSubset(of: ["single", "drain", "latency"]) else {
                throw BenchmarkError("--phases takes single, drain and latency, separated by commas; got '\(list)'")
            }
        }
        guard !o.databaseURL.isEmpty, !o.ownerURL.isEmpty else {
            throw BenchmarkError("--database-url and --owner-url (or DATABASE_URL and DATABASE_OWNER_URL) are required")
        }
        return o
    }

    /// The benchmark's job type: an empty payload, on a queue of this run's own.
    struct Noop: JobPayload {
        static let jobType = "bench.noop"
        static func validate(_ json: JSONValue) -> Validated<Noop> { .valid(Noop()) }
        func writeJSON(to w: inout JSONWriter) { w.beginObject(); w.endObject() }
    }

    /// Runs `body` for each job (the drain: nothing; the latency phase: note the start).
    struct Handler: JobHandler {
        let started: @Sendable (UUID) -> Void
        func run(_ payload: Noop, context: JobContext) async throws -> JSONValue? {
            started(context.id)
            return nil
        }
    }

    static func run(arguments: [String]) async throws {
        let o = try parse(arguments)
        LoggingSystem.bootstrap { label in JSONLogHandler(label: label, level: .error) }
        let logger = Logger(label: "jobs-benchmark")
        let queue = "bench-" + UUID().uuidString.prefix(8).lowercased()
        var api = TrellisApp.api
        api.jobs.append(JobDefinition(
            Noop.self, queue: queue, priority: 0, maxAttempts: 3, backoff: JobBackoff(base: 1, cap: 1), timeoutSeconds: 60,
            uniqueForSeconds: nil))
        let jobs = JobQueue(definitions: api.jobs)
        let workspace = UUID.v7()
        try await PoolIsolationBenchmark.withOwner(
            PoolIsolationBenchmark.Options(databaseURL: o.databaseURL, ownerURL: o.ownerURL), logger: logger
        ) { owner in
            let files = try MigrationDirectory.load(AuthOverheadBenchmark.Fixture.repositoryRoot.appendingPathComponent("migrations"))
            _ = try await Migrator(client: owner, logger: logger).up(files)
            _ = try await owner.query("INSERT INTO workspaces (id, name) VALUES (\(workspace), 'jobs benchmark')", logger: logger)
            // The baseline's table: the same columns and indexes, no RLS, no functions.
            _ = try await owner.query("DROP TABLE IF EXISTS bench_plain_jobs", logger: logger)
            _ = try await owner.query("CREATE TABLE bench_plain_jobs (LIKE jobs INCLUDING DEFAULTS INCLUDING INDEXES)", logger: logger)
            _ = try await owner.query("GRANT SELECT, INSERT, UPDATE, DELETE ON bench_plain_jobs TO trellis_app", logger: logger)
        }
        let postgres = PostgresClient(
            configuration: try TrellisServer.serverPoolConfiguration(o.databaseURL, size: o.pool, timeouts: Timeouts()),
            backgroundLogger: logger)
        // Counts and clean-up across the benchmark's jobs, which row-level security hides from the server's role.
        let owner = PostgresClient(configuration: try DatabaseURL(o.ownerURL).clientConfiguration, backgroundLogger: logger)
        let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "benchmark", scopes: ScopeSet(["*"]))
        let origin = RequestOrigin(requestID: "benchmark", ip: nil, userAgent: nil)
        var services = TrellisServices(api: api, postgres: postgres, workspaceGate: WorkspaceGate(limit: o.pool))
        services.jobs = jobs
        say("Trellis jobs benchmark: queue \(queue), pool \(o.pool), \(o.workers) workers x \(o.concurrency) at once, "
            + "claims of \(o.claim), \(o.jobs) jobs per round, best of \(o.rounds)")

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { await postgres.run() }
            tasks.addTask { await owner.run() }
            defer { tasks.cancelAll() }
            let plainColumns = """
                id, workspace_id, type, queue, state, priority, payload, run_at, max_attempts, timeout_seconds,
                backoff_base_seconds, backoff_cap_seconds, scopes, created_by
                """

            // 1. One job per transaction.
            if o.phases.contains("single") {
                let single = try await rate(o.single, concurrency: o.enqueuers) {
                    _ = try await TenantTransaction.run(on: postgres, identity: identity, origin: origin, logger: logger) { tx in
                        try await jobs.enqueue(Noop(), in: tx)
                    }
                }
                let singleBare = try await rate(o.single, concurrency: o.enqueuers) {
                    _ = try await postgres.query(
                        """
                        INSERT INTO bench_plain_jobs (\(unescaped: plainColumns))
                        VALUES (\(UUID.v7()), \(workspace), 'bench.noop', 'plain', 'available', 0, '{}'::jsonb, now(), 3, 60, 1, 1, '{*}', 'bench')
                        """, logger: logger)
                }
                report("enqueue, one per transaction", single, singleBare, unit: "jobs/s", goal: nil)
                try await clear(owner, queue: queue, logger: logger)
            }

            // 2. Batched enqueue, and 3. the drain of what it queued, `rounds` times.
            if o.phases.contains("drain") {
                // The postmaster, for Postgres's CPU per drained job (when it runs on this machine).
                let backend = try await owner.query("SELECT pg_backend_pid()", logger: logger).collect().first?.decode(Int32.self)
                let postmaster = backend.flatMap(ProcessCPU.parentPID(of:))
                /// Runs `drain`; its rate, and CPU µs per job of this process and of Postgres.
                func measured(_ jobs: Int, _ drain: () async throws -> Double) async throws -> (rate: Double, here: Double, postgres: Double?) {
                    let (here, postgres) = (ProcessCPU.selfMicros(), postmaster.flatMap(ProcessCPU.familyMicros(of:)))
                    let rate = try await drain()
                    let postgresAfter = postmaster.flatMap(ProcessCPU.familyMicros(of:))
                    return (rate, (ProcessCPU.selfMicros() - here) / Double(jobs),
                            postgres.flatMap { before in postgresAfter.map { ($0 - before) / Double(jobs) } })
                }
                func perJob(_ run: (rate: Double, here: Double, postgres: Double?)) -> String {
                    "\(fixed(run.rate, 0)) jobs/s, CPU per job \(fixed(run.here, 1)) µs here + \(run.postgres.map { fixed($0, 1) } ?? "?") µs Postgres"
                }
                var batched: [Double] = [], batchedBare: [Double] = [], drained: [Double] = [], drainedBare: [Double] = []
                for round in 1...o.rounds {
                    let batches = (o.jobs + o.batch - 1) / o.batch
                    batched.append(try await rate(batches, concurrency: 4, per: o.batch) {
                        _ = try await TenantTransaction.run(on: postgres, identity: identity, origin: origin, logger: logger) { tx in
                            try await jobs.enqueue(batch: Array(repeating: Noop(), count: o.batch), in: tx)
                        }
                    })
                    batchedBare.append(try await rate(batches, concurrency: 4, per: o.batch) {
                        let ids = (0..<o.batch).map { _ in UUID.v7() }
                        _ = try await postgres.query(
                            """
                            INSERT INTO bench_plain_jobs (\(unescaped: plainColumns))
                            SELECT u.id, \(workspace), 'bench.noop', 'plain', 'available', 0, '{}'::jsonb, now(), 3, 60, 1, 1, '{*}', 'bench'
                            FROM unnest(\(ids)::uuid[]) AS u (id)
                            """, logger: logger)
                    })
                    let queued = batches * o.batch
                    let trellis = try await measured(queued) {
                        try await drain(queued, queue: queue, services: services, owner: owner, options: o, logger: logger)
                    }
                    let bare = try await measured(queued) { try await drainBare(queued, options: o, postgres: postgres, logger: logger) }
                    drained.append(trellis.rate)
                    drainedBare.append(bare.rate)
                    say("  round \(round): batched enqueue \(fixed(batched.last!, 0)) jobs/s (bare \(fixed(batchedBare.last!, 0)))")
                    say("    drain: \(perJob(trellis))")
                    say("    bare drain: \(perJob(bare))")
                    try await clear(owner, queue: queue, logger: logger)
                }
                report("enqueue, batches of \(o.batch)", batched.max()!, batchedBare.max()!, unit: "jobs/s", goal: 50_000)
                report("no-op jobs drained, \(o.workers) workers", drained.max()!, drainedBare.max()!, unit: "jobs/s", goal: 15_000)
            }

            // 4. Enqueue -> start with an idle worker: claimed on NOTIFY (TRELLIS_JOBS_HANDOFF=off),
            // then handed off in the enqueuing transaction (the default); beside a bare NOTIFY -> LISTEN.
            if o.phases.contains("latency") {
                for handOff in [false, true] {
                    let latencies = try await latency(
                        queue: queue, handOff: handOff, services: services, options: o, identity: identity, origin: origin, logger: logger)
                    let (p50, p99) = (percentile(latencies, 0.5), percentile(latencies, 0.99))
                    let how = handOff ? "handed off (default)" : "claimed on NOTIFY (hand-off off)"
                    say("enqueue->start, idle worker, \(how):".padding(toLength: 66, withPad: " ", startingAt: 0)
                        + "p50 \(fixed(p50, 2)) ms, p99 \(fixed(p99, 2)) ms, max \(fixed(latencies.max() ?? .nan, 2)) ms"
                        + (handOff ? "   (goal p50 <= 1.5 ms and p99 < 5 ms: " + (p50 <= 1.5 && p99 < 5 ? "met" : "not met") + ")" : ""))
                    try await clear(owner, queue: queue, logger: logger)
                }
                let bare = try await notifyRoundTrips(o.samples / 2, postgres: postgres, logger: logger)
                say("  bare NOTIFY->LISTEN round trip:".padding(toLength: 48, withPad: " ", startingAt: 0)
                    + "p50 \(fixed(percentile(bare, 0.5), 2)) ms, p99 \(fixed(percentile(bare, 0.99), 2)) ms")
                let read = try await handedReads(o.samples / 2, postgres: postgres, logger: logger)
                say("  the handed job's read, alone:".padding(toLength: 48, withPad: " ", startingAt: 0)
                    + "p50 \(fixed(percentile(read, 0.5), 2)) ms, p99 \(fixed(percentile(read, 0.99), 2)) ms")
            }
            _ = try await owner.query("DROP TABLE IF EXISTS bench_plain_jobs", logger: logger)
        }
    }

    static func report(_ what: String, _ value: Double, _ bare: Double, unit: String, goal: Double?) {
        var line = what.padding(toLength: 38, withPad: " ", startingAt: 0) + fixed(value, 0).leftPadded(8) + " \(unit)"
            + "   bare SQL " + fixed(bare, 0).leftPadded(8) + "   (" + fixed(value / bare, 2) + "x)"
        if let goal { line += "   goal >= \(Int(goal)): " + (value >= goal ? "met" : "not met") }
        say(line)
    }

    /// Items per second doing `operation` `count` times, `concurrency` at once (each counting `per` items).
    static func rate(
        _ count: Int, concurrency: Int, per: Int = 1, _ operation: @escaping @Sendable () async throws -> Void
    ) async throws -> Double {
        let next = NIOLockedValueBox(0)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<min(concurrency, count) {
                group.addTask {
                    while next.withLockedValue({ n -> Bool in
                        guard n < count else { return false }
                        n += 1
                        return true
                    }) {
                        try await operation()
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(count * per) / seconds(ContinuousClock.now - start)
    }

    static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }

    /// Starts the workers on the queued jobs; jobs per second until the last completes.
    static func drain(
        _ count: Int, queue: String, services: TrellisServices, owner: PostgresClient, options o: Options, logger: Logger
    ) async throws -> Double {
        let done = NIOLockedValueBox(0)
        let (finished, finish) = AsyncStream.makeStream(of: Void.self)
        var handlers = JobHandlers()
        handlers.register(Handler { _ in
            let total = done.withLockedValue { n -> Int in
                n += 1
                return n
            }
            if total == count { finish.yield() }
        })
        var configuration = WorkerConfiguration(queues: [queue: o.concurrency])
        configuration.batch = o.claim
        configuration.firesSchedules = false
        configuration.poll = .milliseconds(50)
        let workers = (0..<o.workers).map { _ in
            JobWorker(services: services, handlers: handlers, configuration: configuration, logger: logger)
        }
        let start = ContinuousClock.now
        let group = ServiceGroup(configuration: .init(services: workers.map { $0 as any Service }, logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            var waiting = finished.makeAsyncIterator()
            _ = await waiting.next()
            // Every handler ran; the rate counts until their completions are recorded too.
            while try await remaining(owner, queue: queue, logger: logger) > 0 {
                try await Task.sleep(for: .milliseconds(10))
            }
            let rate = Double(count) / seconds(ContinuousClock.now - start)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return rate
        }
    }

    static func remaining(_ postgres: PostgresClient, queue: String, logger: Logger) async throws -> Int {
        try await postgres.query("SELECT count(*) FROM jobs WHERE queue = \(queue) AND state <> 'completed'", logger: logger)
            .collect().first?.decode(Int.self) ?? 0
    }

    /// The floor: `workers` tasks claiming `claim` rows of the plain table at a time with
    /// `FOR UPDATE SKIP LOCKED` and marking them completed, two statements per batch.
    static func drainBare(_ count: Int, options o: Options, postgres: PostgresClient, logger: Logger) async throws -> Double {
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<o.workers * 2 {
                group.addTask {
                    while true {
                        let claimed = try await postgres.query(
                            """
                            UPDATE bench_plain_jobs j SET state = 'running', attempts = j.attempts + 1, worker = 'bare', attempted_at = now()
                            FROM (SELECT a.id FROM bench_plain_jobs a WHERE a.state = 'available' AND a.queue = 'plain'
                                  ORDER BY a.priority, a.run_at, a.id LIMIT \(o.claim) FOR UPDATE SKIP LOCKED) next
                            WHERE j.id = next.id RETURNING j.id
                            """, logger: logger).collect().map { try $0.decode(UUID.self) }
                        if claimed.isEmpty { return }
                        _ = try await postgres.query(
                            "UPDATE bench_plain_jobs SET state = 'completed', finished_at = now() WHERE id = ANY(\(claimed))", logger: logger)
                    }
                }
            }
            try await group.waitForAll()
        }
        return Double(count) / seconds(ContinuousClock.now - start)
    }

    /// Milliseconds from an enqueue's commit to its handler's start, one job at a time with a
    /// worker idle on LISTEN, with or without hand-offs.
    static func latency(
        queue: String, handOff: Bool, services: TrellisServices, options o: Options, identity: Identity, origin: RequestOrigin,
        logger: Logger
    ) async throws -> [Double] {
        let (started, start) = AsyncStream.makeStream(of: (UUID, ContinuousClock.Instant).self)
        var handlers = JobHandlers()
        handlers.register(Handler { id in start.yield((id, ContinuousClock.now)) })
        var configuration = WorkerConfiguration(queues: [queue: 4])
        configuration.firesSchedules = false
        // A long poll: the wake-up must come from NOTIFY.
        configuration.poll = .seconds(10)
        configuration.handOff = handOff
        let worker = JobWorker(services: services, handlers: handlers, configuration: configuration, logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        let jobs = services.jobs
        let postgres = services.postgres
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await Task.sleep(for: .milliseconds(500))
            var starts = started.makeAsyncIterator()
            var samples: [Double] = []
            for _ in 0..<o.samples {
                let id = try await TenantTransaction.run(on: postgres, identity: identity, origin: origin, logger: logger) { tx in
                    try await jobs.enqueue(Noop(), in: tx).job.id
                }
                let committed = ContinuousClock.now
                guard let (startedID, at) = await starts.next(), startedID == id else {
                    throw BenchmarkError("the job that started is not the one just enqueued")
                }
                samples.append(max(0, seconds(at - committed)) * 1000)
                // Idle between samples, as the goal says.
                try await Task.sleep(for: .milliseconds(5))
            }
            start.finish()
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return samples
        }
    }

    /// The statement a worker sends for a job handed to it (`trellis_jobs_handed`, here for an
    /// id it does not hold), through the pool as the worker sends it: milliseconds each.
    static func handedReads(_ count: Int, postgres: PostgresClient, logger: Logger) async throws -> [Double] {
        var samples: [Double] = []
        for _ in 0..<count {
            let sent = ContinuousClock.now
            _ = try await postgres.withConnection { connection in
                try await connection.rows("SELECT * FROM trellis_jobs_handed('bench', \([UUID.v7()]), 15)", logger: logger)
            }
            samples.append(seconds(ContinuousClock.now - sent) * 1000)
        }
        return samples
    }

    /// NOTIFY on one connection, received by LISTEN on another: milliseconds each.
    static func notifyRoundTrips(_ count: Int, postgres: PostgresClient, logger: Logger) async throws -> [Double] {
        let channel = "bench_" + UUID().uuidString.prefix(8).lowercased()
        return try await postgres.withConnection { listener in
            let notifications = try await listener.listen(channel)
            var iterator = notifications.makeAsyncIterator()
            var samples: [Double] = []
            for n in 0..<count {
                let sent = ContinuousClock.now
                _ = try await postgres.query("SELECT pg_notify(\(channel), \(String(n)))", logger: logger)
                _ = try await iterator.next()
                samples.append(seconds(ContinuousClock.now - sent) * 1000)
            }
            return samples
        }
    }

    /// Deletes the run's jobs and vacuums both tables (as autovacuum would between bursts), so
    /// each phase starts from a table analysed empty: the case the pinned plans are for.
    static func clear(_ owner: PostgresClient, queue: String, logger: Logger) async throws {
        _ = try await owner.query("DELETE FROM jobs WHERE queue = \(queue)", logger: logger)
        _ = try await owner.query("DELETE FROM bench_plain_jobs", logger: logger)
        _ = try await owner.query("VACUUM ANALYZE jobs", logger: logger)
        _ = try await owner.query("VACUUM ANALYZE bench_plain_jobs", logger: logger)
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        guard !values.isEmpty else { return .nan }
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(Double(sorted.count - 1) * p + 0.5))]
    }
}
