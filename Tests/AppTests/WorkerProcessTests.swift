import App
import Foundation
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
import TrellisTestSupport
@testable import TrellisRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Real `trellis worker` processes (the binary `swift build` made beside this test bundle)
/// against the test Postgres: a worker killed with SIGKILL mid-job, and 10,000 jobs shared by
/// four workers, and three workers firing one cron schedule. The jobs are `demo.wait` on the
/// `demo` queue, which no in-process test worker serves.
@Suite("trellis worker processes (issue 11)", .serialized)
struct WorkerProcessTests {
    static var binary: URL {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("trellis")
    }

    /// A `trellis worker` with a 5 s lease (rescued within about 10 s), polling every 100 ms,
    /// serving the `demo` queue and firing no schedules unless `settings` say otherwise.
    static func startWorker(_ settings: [String: String] = [:]) throws -> Process {
        let process = Process()
        // At the lowest CPU priority (nice execs the binary: same pid), so the worker processes
        // do not starve the timing-sensitive suites running beside them on a 2-core machine.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
        process.arguments = ["-n", "19", binary.path, "worker"]
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")
        environment["REDIS_URL"] = nil
        environment["TRELLIS_JOBS_LEASE"] = "5"
        environment["TRELLIS_JOBS_POLL"] = "100"
        environment["TRELLIS_JOBS_SCHEDULES"] = "off"
        environment["TRELLIS_JOBS_QUEUES"] = "demo=8"
        environment["TRELLIS_PG_POOL_SIZE"] = "4"
        environment["TRELLIS_LOG_LEVEL"] = "info"
        environment.merge(settings) { _, setting in setting }
        process.environment = environment
        let log = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-worker-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        logs.withLockedValue { $0[process.processIdentifier] = log }
        return process
    }

    /// Where each worker's output goes (its JSON log lines), by pid.
    static let logs = NIOLockedValueBox<[Int32: URL]>([:])

    /// The last lines each of `workers` wrote, for a failure's message.
    static func tails(_ workers: [Process]) -> String {
        workers.map { worker in
            let url = logs.withLockedValue { $0[worker.processIdentifier] }
            let text = url.flatMap { try? String(contentsOf: $0, encoding: .utf8) } ?? ""
            return "worker \(worker.processIdentifier) (running: \(worker.isRunning)):\n" + text.split(separator: "\n").suffix(8).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    static func stop(_ workers: [Process]) {
        for worker in workers {
            if worker.isRunning {
                worker.terminate()
                worker.waitUntilExit()
            }
            if let log = logs.withLockedValue({ $0.removeValue(forKey: worker.processIdentifier) }) {
                try? FileManager.default.removeItem(at: log)
            }
        }
    }

    /// Enqueues `count` `demo.wait` jobs in one transaction of a new workspace; returns it.
    static func enqueue(_ count: Int, milliseconds: Int64) async throws -> UUID {
        try await TestDatabase.shared.prepare()
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let jobs = JobQueue(definitions: TrellisApp.api.jobs)
        let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "test", scopes: ScopeSet(["*"]))
        try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            try await TenantTransaction.run(
                on: client, identity: identity, origin: RequestOrigin(requestID: "t", ip: nil, userAgent: nil), logger: silentLogger
            ) { tx in
                for _ in 0..<count { _ = try await jobs.enqueue(DemoWaitPayload(milliseconds: milliseconds), in: tx) }
            }
        }
        return workspace
    }

    /// (state, attempts, errors, worker) of every job of `workspace`.
    static func jobs(of workspace: UUID) async throws -> [(String, Int32, String, String?)] {
        try await withInspector { inspector in
            // Only demo.wait: a schedule test may fan a job out into this workspace too.
            try await inspector.query(
                "SELECT state, attempts, errors::text, worker FROM jobs WHERE workspace_id = \(workspace) AND type = 'demo.wait'")
                .collect().map { try $0.decode((String, Int32, String, String?).self) }
        }
    }

    static func waitUntil(_ timeout: Duration, workers: [Process], _ condition: () async throws -> Bool) async throws {
        let held = try await eventually(timeout: timeout, interval: .milliseconds(100), condition)
        #expect(held, "not within \(timeout); \(tails(workers))")
    }

    /// `trellis worker` runs on NIO's event loops as the global executor, as `serve` does: the
    /// tracer's exporter must not be released there (its deinit traps on an event loop), so a
    /// traced worker exits cleanly on SIGTERM, after its job's trace reached the collector.
    @Test func aTracingWorkerSendsItsJobsTraceAndExitsCleanlyOnSIGTERM() async throws {
        let receiver = try TracingTests.OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let worker = try Self.startWorker([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(receiver.port)", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        ])
        defer { Self.stop([worker]) }
        let workspace = try await Self.enqueue(1, milliseconds: 10)
        try await Self.waitUntil(.seconds(30), workers: [worker]) { try await Self.jobs(of: workspace).first?.0 == "completed" }
        try await Self.waitUntil(.seconds(10), workers: [worker]) {
            receiver.spans.withLockedValue { spans in
                spans.contains { $0.name == "job demo.wait" && $0.attributes["trellis.workspace_id"] == workspace.lowercasedString }
            }
        }
        worker.terminate()
        worker.waitUntilExit()
        #expect(worker.terminationReason == .exit && worker.terminationStatus == 0, "\(worker.terminationReason) \(worker.terminationStatus): \(Self.tails([worker]))")
    }

    @Test func aWorkerKilledMidJobLosesItToAnotherThatCompletesIt() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.binary.path), "no trellis binary at \(Self.binary.path)")
        let workers = [try Self.startWorker(), try Self.startWorker()]
        defer { Self.stop(workers) }
        let workspace = try await Self.enqueue(1, milliseconds: 3000)
        var holder: String?
        try await Self.waitUntil(.seconds(30), workers: workers) {
            holder = try await Self.jobs(of: workspace).first.flatMap { $0.0 == "running" ? $0.3 : nil }
            return holder != nil
        }
        // The worker's name is host:pid:random.
        let pid = try #require(holder?.split(separator: ":").dropFirst().first.flatMap { Int32($0) })
        #expect(workers.contains { $0.processIdentifier == pid }, "\(holder ?? "") is not one of ours")
        kill(pid, SIGKILL)
        try await Self.waitUntil(.seconds(45), workers: workers) { try await Self.jobs(of: workspace).first?.0 == "completed" }
        let job = try #require(try await Self.jobs(of: workspace).first)
        #expect(job.1 == 2, "attempts: the lost one and the one that completed")
        #expect(job.2.contains("worker lost"), "\(job.2)")
    }

    @Test func anIdleWorkerKilledWithItsOffersStandingIsHandedNoJob() async throws {
        let workers = [try Self.startWorker(), try Self.startWorker()]
        defer { Self.stop(workers) }
        let (victim, survivor) = (workers[0], workers[1])
        // Both idle, both offering slots on `demo` (hand-offs are on by default).
        func offering(_ worker: Process) async throws -> (name: String, key: Int64?)? {
            try await withInspector { inspector in
                try await inspector.query(
                    """
                    SELECT l.worker, l.listener_key FROM job_waiting_workers l
                    WHERE l.worker LIKE \("%:\(worker.processIdentifier):%") AND l.expires_at > now()
                      AND EXISTS (SELECT FROM job_waiters w WHERE w.worker = l.worker AND w.queue = 'demo')
                    """).collect().first?.decode((String, Int64?).self)
            }.map { (name: $0.0, key: $0.1) }
        }
        try await Self.waitUntil(.seconds(30), workers: workers) {
            let (first, second) = (try await offering(victim), try await offering(survivor))
            return first?.key != nil && second != nil
        }
        let key = try #require(try await offering(victim)?.key)
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        // Its backend notices the closed socket and lets go of the listener key.
        try await Self.waitUntil(.seconds(10), workers: workers) {
            try await withInspector { inspector in
                try await inspector.query(
                    """
                    SELECT NOT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1 AND granted
                                       AND (classid::bigint << 32 | objid::bigint) = \(key))
                    """).collect().first?.decode(Bool.self) ?? false
            }
        }
        // Its offers still stand (they lapse 2 s after its last claim) ...
        #expect(try await offering(victim) != nil, "the dead worker's offers must still stand for this to test anything")
        // ... and are passed over: every job goes to the live worker (or waits for its claim),
        // none waits out the dead one's 5 s lease.
        let workspace = try await Self.enqueue(8, milliseconds: 0)
        try await Self.waitUntil(.seconds(4), workers: [survivor]) {
            try await Self.jobs(of: workspace).filter { $0.0 == "completed" }.count == 8
        }
        let jobs = try await Self.jobs(of: workspace)
        #expect(jobs.allSatisfy { $0.1 == 1 && $0.2 == "[]" }, "\(jobs)")
    }

    @Test func tenThousandJobsOnFourWorkersAreEachCompletedExactlyOnce() async throws {
        let workspace = try await Self.enqueue(10_000, milliseconds: 0)
        // One of them serves /metrics and /health on a port of its own.
        let metricsPort = try freeLocalPort()
        let workers = try [Self.startWorker(["TRELLIS_WORKER_METRICS_PORT": String(metricsPort)])] + (0..<3).map { _ in try Self.startWorker() }
        defer { Self.stop(workers) }
        try await Self.waitUntil(.seconds(180), workers: workers) {
            let done = try await withInspector { inspector in
                try await inspector.query(
                    "SELECT count(*) FROM jobs WHERE workspace_id = \(workspace) AND type = 'demo.wait' AND state = 'completed'")
                    .collect().first?.decode(Int.self) ?? 0
            }
            return done == 10_000
        }
        let jobs = try await Self.jobs(of: workspace)
        #expect(jobs.count == 10_000)
        #expect(jobs.allSatisfy { $0.0 == "completed" && $0.1 == 1 && $0.2 == "[]" }, "a job ran more than once or failed")
        let metrics = try Self.fetch("http://127.0.0.1:\(metricsPort)/metrics")
        #expect(metrics.contains("trellis_job_attempts_total{") && metrics.contains("demo.wait"), "\(metrics.prefix(500))")
        #expect(try Self.fetch("http://127.0.0.1:\(metricsPort)/health/ready").contains("\"postgres\""))
    }

    /// The body of a GET with curl (the worker's port is plain HTTP on loopback).
    static func fetch(_ url: String) throws -> String {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "--max-time", "10", url]
        let output = Pipe()
        curl.standardOutput = output
        try curl.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        curl.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func threeSchedulerProcessesFireEachTickOnce() async throws {
        // messages.cleanup retimed to every minute: the workers fire the current minute's tick
        // as they start (catch-up), all three at once, then the next minute's. Its jobs go to
        // the maintenance queue, which these workers do not serve.
        try await TestDatabase.shared.prepare()
        _ = try await TestDatabase.shared.makeWorkspace()
        // The schedule skips while its last run's jobs are still to run: none from an earlier run.
        _ = try await withInspector { inspector in
            try await inspector.query(
                """
                UPDATE jobs SET state = 'cancelled', finished_at = now()
                WHERE created_by = 'schedule:messages.cleanup' AND state IN ('scheduled', 'available', 'retryable')
                """).collect()
        }
        let start = Date()
        let settings = ["TRELLIS_JOBS_SCHEDULES": "on", "TRELLIS_JOBS_CRON": "messages.cleanup=* * * * *"]
        let workers = try (0..<3).map { _ in try Self.startWorker(settings) }
        defer { Self.stop(workers) }
        let firstTick = Date(timeIntervalSince1970: (start.timeIntervalSince1970 / 60).rounded(.down) * 60)
        func runs() async throws -> [(Int64, Date, String, String, Int32)] {
            try await withInspector { inspector in
                try await inspector.query(
                    """
                    SELECT id, tick, trigger, outcome, jobs FROM job_schedule_runs
                    WHERE schedule = 'messages.cleanup' AND tick >= \(firstTick) ORDER BY tick
                    """).collect().map { try $0.decode((Int64, Date, String, String, Int32).self) }
            }
        }
        try await Self.waitUntil(.seconds(150), workers: workers) { try await runs().count >= 2 }
        // A moment for a late duplicate to show, were there one.
        try await Task.sleep(for: .seconds(1))
        let recorded = try await runs()
        #expect(Set(recorded.map(\.1)).count == recorded.count, "a tick recorded twice: \(recorded)")
        #expect(recorded.allSatisfy { $0.2 == "cron" })
        let first = try #require(recorded.first)
        #expect(first.3 == "fired" && first.4 >= 1)
        let queued = try await withInspector { inspector in
            try await inspector.query(
                "SELECT count(*), count(DISTINCT workspace_id) FROM jobs WHERE schedule_run = \(first.0)"
            ).collect().first!.decode((Int, Int).self)
        }
        #expect(queued.0 == Int(first.4) && queued.1 == queued.0, "one job per workspace for the tick: \(queued)")
        // Every tick's jobs: one per workspace, as many as its run recorded (a tick that
        // enqueued twice would show here).
        let ids = recorded.map(\.0)
        let all = try await withInspector { inspector in
            try await inspector.query(
                "SELECT count(*), count(DISTINCT (schedule_run, workspace_id)) FROM jobs WHERE schedule_run = ANY(\(ids))"
            ).collect().first!.decode((Int, Int).self)
        }
        #expect(all.0 == all.1 && all.0 == recorded.reduce(0) { $0 + Int($1.4) }, "\(all) for \(recorded)")
    }
}
