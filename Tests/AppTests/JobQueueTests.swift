import App
import Foundation
import HTTPTypes
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import ServiceLifecycle
import Testing
import TrellisJobs
@testable import TrellisRuntime

/// A payload for test-only job types: `{"n": integer}`.
struct TestWork: JobPayload, Hashable {
    static let jobType = "tests.work"
    var n: Int

    static func validate(_ json: JSONValue) -> Validated<TestWork> {
        guard case let .object(object) = json, case let .integer(n)? = object["n"] else {
            return .invalid([FieldProblem(path: "/n", code: .required, message: "is required")])
        }
        return .valid(TestWork(n: Int(n)))
    }

    func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("n"); w.value(Int64(n))
        w.endObject()
    }
}

/// Runs `body` for each attempt of a `tests.work` job.
struct ClosureHandler: JobHandler {
    let body: @Sendable (TestWork, JobContext) async throws -> JSONValue?
    func run(_ payload: TestWork, context: JobContext) async throws -> JSONValue? { try await body(payload, context) }
}

@Suite("Durable jobs (issue 11)")
struct JobQueueTests {
    /// The generated API plus `tests.work` on a queue of this test's own (no other test's worker
    /// takes its jobs).
    static func api(queue: String, maxAttempts: Int = 3, backoff: JobBackoff = JobBackoff(base: 1, cap: 1), timeout: Int = 30, uniqueFor: Int? = nil) -> APIDefinition {
        var api = TrellisApp.api
        api.jobs.append(JobDefinition(
            TestWork.self, queue: queue, priority: 0, maxAttempts: maxAttempts, backoff: backoff, timeoutSeconds: timeout,
            uniqueForSeconds: uniqueFor))
        return api
    }

    static func worker(_ services: TrellisServices, queue: String, concurrency: Int = 4, handler: ClosureHandler? = nil, handOff: Bool = true) -> JobWorker {
        var handlers = TrellisApp.jobHandlers
        if let handler { handlers.register(handler) }
        var configuration = WorkerConfiguration(queues: [queue: concurrency])
        configuration.poll = .milliseconds(100)
        configuration.heartbeat = .milliseconds(200)
        configuration.rescueInterval = .milliseconds(500)
        configuration.shutdownGrace = .seconds(2)
        configuration.firesSchedules = false
        configuration.handOff = handOff
        return JobWorker(services: services, handlers: handlers, configuration: configuration, logger: silentLogger)
    }

    /// Polls `GET /v1/jobs/{id}` until `done` holds (at most 15 s).
    static func waitFor(_ api: APIClient, _ id: String, _ done: (JSONObject) -> Bool) async throws -> JSONObject {
        let deadline = ContinuousClock.now + .seconds(15)
        while true {
            let job = try await api.send(.get, "/v1/jobs/\(id)").object()
            if done(job) { return job }
            guard ContinuousClock.now < deadline else { throw Unexpected(message: "the job never got there: \(job)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    /// A `run_at` far enough ahead that no test sees it pass (within the 366 days allowed).
    static let later = RFC3339.format(Date().addingTimeInterval(200 * 86_400))

    static func enqueue(_ api: APIClient, _ body: String, as credential: APIClient.Credential = .defaultKey) async throws -> JSONObject {
        let response = try await api.send(.post, "/v1/jobs", json: body, as: credential)
        guard response.status == .accepted || response.status == .ok else { throw Unexpected(message: "\(response.status): \(response.text)") }
        return try response.object()
    }

    @Test func anIdempotencyKeyMakesEnqueueSafeToRetry() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        try await withApp(api: Self.api(queue: queue)) { api, workspace in
            let body = #"{"type":"tests.work","payload":{"n":1}}"#
            let key: HTTPFields = [HTTPField.Name("Idempotency-Key")!: "enqueue-\(UUID())"]
            let first = try await api.send(.post, "/v1/jobs", json: body, headers: key)
            #expect(first.status == .accepted)
            let again = try await api.send(.post, "/v1/jobs", json: body, headers: key)
            #expect(again.status == .accepted && again.headers[HTTPField.Name("Idempotent-Replayed")!] == "true")
            #expect(try again.object().string("id") == first.object().string("id"))
            #expect(again.headers[.location] == first.headers[.location])
            let other = try await api.send(.post, "/v1/jobs", json: #"{"type":"tests.work","payload":{"n":2}}"#, headers: key)
            #expect(other.status == .unprocessableContent && other.text.contains("idempotency_key_reused"))
            let bad = try await api.send(.post, "/v1/jobs", json: body, headers: [HTTPField.Name("Idempotency-Key")!: ""])
            #expect(bad.status == .badRequest)
            let stored = try await withInspector { inspector in
                try await inspector.query("SELECT count(*) FROM jobs WHERE workspace_id = \(workspace) AND queue = \(queue)")
                    .collect().first!.decode(Int.self)
            }
            #expect(stored == 1)
        }
    }

    @Test func enqueueValidatesTheWholeBodyAndReportsEveryProblem() async throws {
        try await withApp { api, _ in
            let bad = try await api.send(.post, "/v1/jobs", json: #"{"type":"agents.generate_summary","payload":{"agent_id":"nope","x":1},"priority":5000,"when":1}"#)
            #expect(bad.status == .unprocessableContent)
            let paths = try bad.object().array("errors").compactMap { $0.object?.string("path") }.sorted()
            #expect(paths == ["/payload/agent_id", "/payload/x", "/priority", "/when"])
            let unknown = try await api.send(.post, "/v1/jobs", json: #"{"type":"no.such_job"}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try unknown.object().array("errors").first?.object?.string("path") == "/type")
            let missing = try await api.send(.post, "/v1/jobs", json: #"{"type":"agents.generate_summary"}"#)
            #expect(try missing.object().array("errors").first?.object?.string("path") == "/payload/agent_id")
            // List filters: every problem at once, a NUL refused before it reaches Postgres.
            let filters = try await api.send(.get, "/v1/jobs?state=lost&type=a%00b&limit=0&colour=red")
            #expect(filters.status == .badRequest)
            let filterPaths = try filters.object().array("errors").compactMap { $0.object?.string("path") }.sorted()
            #expect(filterPaths == ["/query/colour", "/query/limit", "/query/state", "/query/type"])
            let defaults = try await Self.enqueue(api, #"{"type":"messages.cleanup","run_at":"\#(Self.later)"}"#)
            #expect(defaults.string("state") == "scheduled")
            #expect(defaults["payload"] == .object(JSONObject(["older_than_days": .integer(30)])))
        }
    }

    @Test func aWorkerServesTheQueuesItIsGivenEachWithItsLimitAndSaysWhatIsWrong() throws {
        let jobs = TrellisApp.api.jobs
        let every = try WorkerConfiguration.fromEnvironment(definitions: jobs, [:])
        #expect(every.queues == ["default": 5, "demo": 5, "maintenance": 5])
        let some = try WorkerConfiguration.fromEnvironment(
            definitions: jobs, ["TRELLIS_JOBS_QUEUES": "default=8, demo", "TRELLIS_JOBS_CONCURRENCY": "3", "TRELLIS_JOBS_LEASE": "9"])
        #expect(some.queues == ["default": 8, "demo": 3])
        #expect(some.lease == .seconds(9) && some.heartbeat == .seconds(3) && some.rescueInterval == .seconds(9))
        do {
            _ = try WorkerConfiguration.fromEnvironment(
                definitions: jobs, ["TRELLIS_JOBS_QUEUES": "nightly,default=0", "TRELLIS_JOBS_POLL": "10", "TRELLIS_JOBS_SCHEDULES": "maybe"])
            Issue.record("a bad configuration was accepted")
        } catch let invalid as ServerConfiguration.Invalid {
            #expect(invalid.problems.count == 5, "\(invalid.problems)")
            #expect(invalid.problems.contains { $0.contains("'nightly', which is not a queue of jobs.yaml") })
            #expect(invalid.problems.contains { $0.contains("the limit of 'default' must be a number of jobs from 1 to 1000") })
        }
    }

    @Test func aJobExistsIfAndOnlyIfItsTransactionCommitsAndSoDoesItsHandOff() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        // A worker waits on the queue (one slot offered): only the committed enqueue takes it.
        let ghost = JobHandOffTests.Ghost()
        try await JobHandOffTests.offer(queue: queue, by: ghost)
        let api = Self.api(queue: queue)
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let jobs = JobQueue(definitions: api.jobs)
        let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: "test", scopes: ScopeSet(["*"]))
        let origin = RequestOrigin(requestID: "t", ip: nil, userAgent: nil)
        struct Abort: Error {}
        // The waiting worker listens throughout.
        try await JobHandOffTests.listening(ghost) { _ in
            try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
                await #expect(throws: Abort.self) {
                    try await TenantTransaction.run(on: client, identity: identity, origin: origin, logger: silentLogger) { tx in
                        _ = try await jobs.enqueue(TestWork(n: 1), in: tx)
                        throw Abort()
                    }
                }
                #expect(try await JobHandOffTests.offers(queue: queue, worker: ghost.name) == 1)
                let committed = try await TenantTransaction.run(on: client, identity: identity, origin: origin, logger: silentLogger) { tx in
                    try await jobs.enqueue(TestWork(n: 2), in: tx).job.id
                }
                // Only this queue's: schedule tests fan jobs out into every workspace meanwhile.
                let stored = try await withInspector { inspector in
                    try await inspector.query("SELECT id FROM jobs WHERE workspace_id = \(workspace) AND queue = \(queue)")
                        .collect().map { try $0.decode(UUID.self) }
                }
                #expect(stored == [committed])
                #expect(try await JobHandOffTests.offers(queue: queue, worker: ghost.name) == 0)
                #expect(try await JobHandOffTests.stored(committed.lowercasedString).worker == ghost.name)
            }
        }
    }

    @Test func everyWorkerFunctionThatFindsJobsByIdIsPinnedToTheIndex() async throws {
        // A table analysed while empty must not turn each id lookup into a scan of every job.
        try await TestDatabase.shared.prepare()
        let settings = try await withInspector { inspector in
            try await inspector.query(
                """
                SELECT proname, coalesce(proconfig, '{}') FROM pg_proc
                WHERE proname IN ('trellis_jobs_complete', 'trellis_jobs_finish', 'trellis_jobs_heartbeat', 'trellis_jobs_progress',
                                  'trellis_jobs_release', 'trellis_jobs_snooze', 'trellis_jobs_claim', 'trellis_jobs_hand_off',
                                  'trellis_jobs_handed')
                """).collect().map { try $0.decode((String, [String]).self) }
        }
        #expect(settings.count == 9)
        for (name, config) in settings {
            #expect(config.contains("enable_seqscan=off"), "\(name): \(config)")
        }
    }

    /// The plan Postgres makes for a job function's statement as the function runs it (its
    /// settings; a generic plan when `prepared` gives a statement to prepare), against a copy of
    /// `jobs` (same indexes, queue `q`) in a transaction that is rolled back: `analysed` jobs
    /// (state, how many) are inserted and the copy analysed, then the `then` jobs land unseen
    /// by the statistics. Running jobs belong to worker `w`. `prepared` turns the function's
    /// source and its input parameters' names into the statement to prepare (with its parameter
    /// types) and what to explain; nil prepares nothing and explains the source itself.
    static func planAsItRuns(
        _ function: String, analysed: (state: String, count: Int)?, then: (state: String, count: Int)?,
        prepared: (@Sendable (_ source: String, _ parameters: [String]) -> (prepare: String, execute: String))? = nil
    ) async throws -> (settings: [String], plan: String) {
        try await TestDatabase.shared.prepare()
        @Sendable func insert(_ jobs: (state: String, count: Int)) -> String {
            let running = jobs.state == "running", finished = ["completed", "cancelled", "dead"].contains(jobs.state)
            return """
                INSERT INTO pg_temp.jobs (id, type, queue, state, payload, max_attempts, timeout_seconds, backoff_base_seconds,
                                          backoff_cap_seconds, created_by, worker, lease_expires_at, finished_at)
                SELECT gen_random_uuid(), 'tests.work', 'q', '\(jobs.state)', '{}', 3, 60, 1, 1, 'test',
                       \(running ? "'w', now() + interval '30 s'" : "NULL, NULL"), \(finished ? "now()" : "NULL")
                FROM generate_series(1, \(jobs.count))
                """
        }
        return try await withInspector { inspector in
            let row = try #require(try await inspector.query(
                "SELECT prosrc, proconfig, coalesce((proargnames)[1:pronargs], '{}') FROM pg_proc WHERE proname = \(function)"
            ).collect().first)
            let (source, stored, parameters) = try row.decode((String, [String]?, [String]).self)
            let settings = stored ?? []
            return try await inspector.withConnection { connection in
                func run(_ sql: String) async throws -> [String] {
                    try await connection.query(PostgresQuery(unsafeSQL: sql), logger: silentLogger).collect().map { try $0.decode(String.self) }
                }
                _ = try await run("BEGIN")
                _ = try await run("CREATE TEMP TABLE jobs (LIKE public.jobs INCLUDING ALL) ON COMMIT DROP")
                if let analysed { _ = try await run(insert(analysed)) }
                _ = try await run("ANALYZE pg_temp.jobs")
                if let then { _ = try await run(insert(then)) }
                for setting in settings where !setting.hasPrefix("search_path") {
                    let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
                    try await connection.query("SELECT set_config(\(parts[0]), \(parts[1]), true)", logger: silentLogger)
                }
                var explained = source
                if let prepared {
                    let (prepare, execute) = prepared(source, parameters)
                    _ = try await run("PREPARE " + prepare)
                    // As a function runs it: a generic plan, which cannot see the parameters' values.
                    _ = try await run("SET LOCAL plan_cache_mode = force_generic_plan")
                    explained = execute
                }
                let lines = try await run("EXPLAIN " + explained)
                _ = try await run("ROLLBACK")
                return (settings, lines.joined(separator: "\n"))
            }
        }
    }

    /// The one statement of a job function's body (after `RETURN QUERY`, or from its `UPDATE`),
    /// its parameters by position.
    static func statement(of source: String, parameters: [String]) -> String {
        var body = source
        if let start = body.range(of: "RETURN QUERY") ?? body.range(of: "UPDATE").map({ $0.lowerBound..<$0.lowerBound }) {
            body = String(body[start.upperBound...])
        }
        if let end = body.firstIndex(of: ";") { body = String(body[..<end]) }
        // Longest names first, so no name is replaced inside a longer one.
        for (index, name) in parameters.enumerated().sorted(by: { $0.element.count > $1.element.count }) {
            body = body.replacingOccurrences(of: name, with: "$\(index + 1)")
        }
        return body
    }

    @Test func theClaimStaysAnIndexScanAfterABurstOntoAQueueAnalysedWhileEmpty() async throws {
        // Analysed empty, then 20,000 available jobs land.
        let (settings, plan) = try await Self.planAsItRuns("trellis_jobs_claim", analysed: nil, then: ("available", 20_000)) { source, parameters in
            ("claim(text, integer, text, integer) AS " + Self.statement(of: source, parameters: parameters),
             "EXECUTE claim('q', 10, 'w', 30)")
        }
        #expect(settings.contains("enable_seqscan=off") && settings.contains("enable_sort=off"))
        #expect(plan.contains("Index Scan using jobs_queue_priority_run_at_id_idx"), "\(plan)")
        #expect(!plan.contains("Seq Scan") && !plan.contains("Sort"), "\(plan)")
        #expect(plan.contains("Limit") && plan.contains("LockRows"), "\(plan)")
        // The claimed rows are updated by primary-key lookups, never by scanning every job to join them.
        #expect(plan.contains("Nested Loop") && !plan.contains("Hash Join") && !plan.contains("Merge Join"), "\(plan)")
        #expect(plan.contains("Index Cond: (id = next.id)"), "\(plan)")
    }

    /// The statements that act on a worker's own jobs by id, each as its function runs it,
    /// against a copy of the table analysed while it kept 20,000 completed jobs and ran none,
    /// which then runs 20,000: each finds its rows by primary key, never by walking every
    /// running job (migration 0023; before it, the completion's plan re-ran `unnest` once per
    /// running job).
    @Test(arguments: [
        ("trellis_jobs_complete", "(text, uuid[], text[])", "'w', ARRAY[gen_random_uuid()], ARRAY['']"),
        ("trellis_jobs_heartbeat", "(text, uuid[], integer)", "'w', ARRAY[gen_random_uuid()], 30"),
        ("trellis_jobs_release", "(text, uuid[])", "'w', ARRAY[gen_random_uuid()]"),
        ("trellis_jobs_handed", "(text, uuid[], integer)", "'w', ARRAY[gen_random_uuid()], 15"),
    ])
    func aWorkersStatementsOnItsOwnJobsFindThemByPrimaryKeyWhateverIsRunning(function: String, types: String, values: String) async throws {
        // Analysed while 20,000 completed jobs were kept and none ran; then 20,000 start.
        let (_, plan) = try await Self.planAsItRuns(function, analysed: ("completed", 20_000), then: ("running", 20_000)) { source, parameters in
            ("statement\(types) AS " + Self.statement(of: source, parameters: parameters), "EXECUTE statement(\(values))")
        }
        #expect(plan.contains("jobs_pkey") && plan.contains("Index Cond: (id = "), "\(plan)")
        #expect(!plan.contains("_idx") && !plan.contains("Seq Scan"), "\(plan)")
    }

    /// The queue's depth (`/metrics`) and the oldest available job's age (`/health/ready`), as
    /// their functions run them, against a copy of the table that keeps 20,000 completed jobs:
    /// neither reads the finished jobs (migration 0024; the depth used to scan the whole table).
    @Test(arguments: ["trellis_jobs_depth", "trellis_jobs_oldest_available_age"])
    func theQueueDepthAndAgeReadNoFinishedJobHoweverManyAreKept(function: String) async throws {
        let (_, plan) = try await Self.planAsItRuns(function, analysed: ("completed", 20_000), then: nil)
        #expect(!plan.contains("Seq Scan") && plan.contains("Index"), "\(plan)")
    }

    @Test func aWorkerRunsTheSampleJobWithProgressAndAResult() async throws {
        try await withApp(alongside: { [Self.worker($0, queue: "default")] }) { api, _ in
            let agent = try await api.send(.post, "/v1/agents", json: #"{"name":"Planner","model":"gpt","tags":["ops"]}"#).object()
            let job = try await Self.enqueue(api, #"{"type":"agents.generate_summary","payload":{"agent_id":"\#(try agent.id())"}}"#)
            // Available, or already handed to the idle worker.
            #expect(job.string("state") == "available" || job.string("state") == "running")
            let done = try await Self.waitFor(api, try job.id()) { $0.string("state") == "completed" }
            #expect(done["progress"] == .double(1) || done["progress"] == .integer(1))
            #expect(done["attempts"] == .integer(1))
            let summary = done["result"]?.object?.string("summary") ?? ""
            #expect(summary.contains("Planner") && summary.contains("tagged ops"), "\(summary)")
            #expect(done.string("message") == "storing the summary")
        }
    }

    @Test func progressReachesTheRealtimeStreamAsJobProgressEventsOnTheJobsTopic() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let handler = ClosureHandler { _, context in
            try await context.progress(0.25, message: "a quarter")
            try await context.progress(0.75, message: "three quarters")
            return nil
        }
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(
                api: Self.api(queue: queue), realtime: RealtimeTests.realtime(redis), live: true,
                alongside: { [Self.worker($0, queue: queue, handler: handler)] }
            ) { api, _ in
                let stream = try await RealtimeTests.open(api, "/v1/events?topics=jobs")
                let job = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":5}}"#)
                let first = try await stream.next(within: .seconds(10))
                let second = try await stream.next(within: .seconds(10))
                #expect(first?.event == "job.progress" && second?.event == "job.progress")
                let data = try [first, second].map { try RealtimeTests.payload($0)["data"]?.object }
                #expect(data.map { $0?.string("id") } == [try job.id(), try job.id()])
                #expect(data.map { $0?.string("message") } == ["a quarter", "three quarters"])
                #expect(try RealtimeTests.payload(first).string("resource") == "jobs")
                await stream.close()
            }
            // Without jobs:read the topic is refused like a resource's.
            try await withApp(scopes: ["events:read", "agents:read"], realtime: RealtimeTests.realtime(redis), live: true) { api, _ in
                let refused = try await api.send(.get, "/v1/events?topics=jobs")
                #expect(refused.status == .forbidden)
            }
        }
    }

    @Test func anAttemptOverItsTimeoutIsStoppedAndFailsWithTheTimeoutInItsError() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let stopped = NIOLockedValueBox<Duration?>(nil)
        let handler = ClosureHandler { _, _ in
            let start = ContinuousClock.now
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                stopped.withLockedValue { $0 = ContinuousClock.now - start }
                throw error
            }
            return nil
        }
        try await withApp(api: Self.api(queue: queue, maxAttempts: 1, timeout: 1), alongside: { [Self.worker($0, queue: queue, handler: handler)] }) { api, _ in
            let job = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#)
            let dead = try await Self.waitFor(api, try job.id()) { $0.string("state") == "dead" }
            #expect(dead.array("errors").compactMap { $0.object?.string("error") } == ["timed out after 1s"])
            // Stopped at its deadline (a second after the attempt began, checked every 100 ms),
            // not at the end of its 30 s sleep.
            let ranFor = try #require(stopped.withLockedValue { $0 })
            #expect(ranFor >= .milliseconds(900) && ranFor < .seconds(3), "\(ranFor)")
        }
    }

    @Test func aResultPostgresCannotStoreFailsItsJobAndNeverHoldsUpTheOthers() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let handler = ClosureHandler { payload, _ in
            payload.n == 0 ? .object(JSONObject([.init(key: "text", value: .string("a\u{0}b"))])) : .integer(Int64(payload.n))
        }
        try await withApp(api: Self.api(queue: queue, maxAttempts: 1), alongside: { [Self.worker($0, queue: queue, handler: handler)] }) { api, _ in
            let bad = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":0}}"#)
            let good = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":4}}"#)
            let dead = try await Self.waitFor(api, try bad.id()) { $0.string("state") == "dead" }
            #expect(dead.array("errors").first?.object?.string("error")?.contains("NUL") == true, "\(dead)")
            let done = try await Self.waitFor(api, try good.id()) { $0.string("state") == "completed" }
            #expect(done["result"] == .integer(4))
        }
    }

    @Test func aFailingJobRetriesWithBackoffThenGoesDeadKeepingEveryErrorAndCanBeRetried() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let handler = ClosureHandler { payload, context in
            throw JobFailure("attempt \(context.attempt) of \(payload.n) failed")
        }
        try await withApp(api: Self.api(queue: queue, maxAttempts: 2), alongside: { [Self.worker($0, queue: queue, handler: handler)] }) { api, _ in
            let job = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":7}}"#)
            let dead = try await Self.waitFor(api, try job.id()) { $0.string("state") == "dead" }
            let errors = dead.array("errors").compactMap { $0.object?.string("error") }
            #expect(errors == ["attempt 1 of 7 failed", "attempt 2 of 7 failed"])
            #expect(dead["attempts"] == .integer(2))
            let deadList = try await api.send(.get, "/v1/jobs?state=dead&type=tests.work").object()
            #expect(deadList.array("data").compactMap { $0.object?.string("id") } == [try job.id()])
            let retried = try await api.send(.post, "/v1/jobs/\(try job.id())/retry").object()
            // Available again, or already handed to the idle worker (then running, its third attempt counted).
            let handed = retried.string("state") == "running" && retried["attempts"] == .integer(3)
            #expect((retried.string("state") == "available" || handed) && retried["max_attempts"] == .integer(3))
            let again = try await Self.waitFor(api, try job.id()) { $0.string("state") == "dead" && $0["attempts"] == .integer(3) }
            #expect(again.array("errors").count == 3)
            let refused = try await api.send(.post, "/v1/jobs/\(try job.id())/cancel")
            let refusal = try refused.object()
            #expect(refused.status == .conflict && refusal.string("code") == "job_state_conflict")
        }
    }

    @Test func cancellingARunningJobStopsItCooperatively() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let handler = ClosureHandler { _, context in
            try await context.progress(0.5, message: "working")
            while true {
                try context.checkStop()
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        try await withApp(api: Self.api(queue: queue), alongside: { [Self.worker($0, queue: queue, handler: handler)] }) { api, _ in
            let job = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#)
            _ = try await Self.waitFor(api, try job.id()) { $0.string("message") == "working" }
            let cancel = try await api.send(.post, "/v1/jobs/\(try job.id())/cancel").object()
            #expect(cancel.string("state") == "running" && cancel["cancel_requested"] == .bool(true))
            let started = ContinuousClock.now
            let cancelled = try await Self.waitFor(api, try job.id()) { $0.string("state") == "cancelled" }
            // NOTIFY reaches the worker at once; the heartbeat (200 ms here) is the fallback.
            #expect(ContinuousClock.now - started < .seconds(3))
            #expect(cancelled["attempts"] == .integer(1))
            let notStarted = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":2},"run_at":"\#(Self.later)"}"#)
            let stopped = try await api.send(.post, "/v1/jobs/\(try notStarted.id())/cancel").object()
            #expect(stopped.string("state") == "cancelled")
        }
    }

    @Test func onShutdownAJobStillRunningAfterTheGracePeriodIsReleasedWithoutCountingTheAttempt() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let handler = ClosureHandler { _, context in
            try await context.progress(0.1, message: "started")
            // Never finishes on its own; ends only when stopped (Task.sleep throws on cancellation).
            while true { try await Task.sleep(for: .milliseconds(20)) }
        }
        let id = try await withApp(api: Self.api(queue: queue), alongside: { [Self.worker($0, queue: queue, handler: handler)] }) { api, _ in
            let job = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#)
            _ = try await Self.waitFor(api, try job.id()) { $0.string("message") == "started" }
            return try job.id()
        }
        // The app (and its worker) stopped: the 2 s grace passed, the handler was stopped, the job released.
        let (state, attempts, errors, worker) = try await withInspector { inspector in
            try await inspector.query("SELECT state, attempts, errors::text, worker FROM jobs WHERE id = \(UUID(uuidString: id)!)")
                .collect().first!.decode((String, Int32, String, String?).self)
        }
        #expect(state == "available" && attempts == 0 && errors == "[]" && worker == nil)
    }

    @Test func aLostWorkersJobIsRescuedAndItsAttemptCounts() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        try await withApp(api: Self.api(queue: queue)) { api, _ in
            let job = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":3}}"#)
            // A worker that claims the job with a 1 s lease and dies.
            try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
                let claimed = try await client.query("SELECT id FROM trellis_jobs_claim(\(queue), 10, 'ghost', 5)").collect()
                #expect(claimed.count == 1)
                _ = try await withInspector { inspector in
                    try await inspector.query("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE queue = \(queue)").collect()
                }
                // Any worker's rescuer may take it first (other suites run workers): either way it is back.
                _ = try await client.query("SELECT trellis_jobs_rescue(1000)").collect()
            }
            let back = try await api.send(.get, "/v1/jobs/\(try job.id())").object()
            #expect(back.string("state") == "available" && back["attempts"] == .integer(1))
            #expect(back.array("errors").first?.object?.string("error")?.contains("worker lost") == true)
        }
    }

    @Test func twoWorkersNeverRunOneJobAtOnceAndEveryJobRunsOnce() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let runs = NIOLockedValueBox<(running: Set<Int>, overlaps: Int, count: [Int: Int])>(([], 0, [:]))
        let handler = ClosureHandler { payload, _ in
            runs.withLockedValue { state in
                if !state.running.insert(payload.n).inserted { state.overlaps += 1 }
                state.count[payload.n, default: 0] += 1
            }
            try await Task.sleep(for: .milliseconds(5))
            runs.withLockedValue { _ = $0.running.remove(payload.n) }
            return nil
        }
        try await withApp(api: Self.api(queue: queue), alongside: { services in
            [Self.worker(services, queue: queue, handler: handler), Self.worker(services, queue: queue, handler: handler)]
        }) { api, _ in
            var ids: [String] = []
            for n in 0..<40 { ids.append(try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":\#(n)}}"#).id()) }
            for id in ids { _ = try await Self.waitFor(api, id) { $0.string("state") == "completed" } }
            let state = runs.withLockedValue { $0 }
            #expect(state.overlaps == 0)
            #expect(state.count.count == 40 && state.count.values.allSatisfy { $0 == 1 })
        }
    }

    @Test func delayedJobsWaitForRunAtAndPrioritiesOrderTheClaim() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        try await withApp(api: Self.api(queue: queue)) { api, _ in
            var byPriority: [Int: String] = [:]
            for priority in [5, -5, 0] {
                byPriority[priority] = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":\#(priority)},"priority":\#(priority)}"#).id()
            }
            let soon = RFC3339.format(Date().addingTimeInterval(1.5))
            let delayed = try await Self.enqueue(api, #"{"type":"tests.work","payload":{"n":9},"run_at":"\#(soon)"}"#)
            #expect(delayed.string("state") == "scheduled")
            let expected = [byPriority[-5]!, byPriority[0]!, byPriority[5]!]
            let delayedID = try delayed.id()
            try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
                var order: [String] = []
                for _ in 0..<4 {
                    let rows = try await client.query("SELECT id FROM trellis_jobs_claim(\(queue), 1, 'w', 30)").collect()
                    order += try rows.map { try $0.decode(UUID.self).lowercasedString }
                }
                #expect(order == expected)
                try await Task.sleep(for: .seconds(2))
                _ = try await client.query("SELECT * FROM trellis_jobs_stage(1000)").collect()
                let due = try await client.query("SELECT id FROM trellis_jobs_claim(\(queue), 1, 'w', 30)").collect()
                #expect(try due.map { try $0.decode(UUID.self).lowercasedString } == [delayedID])
            }
        }
    }

    @Test func aUniqueJobRepeatedWithinItsWindowAnswersTheFirst() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        try await withApp(api: Self.api(queue: queue, uniqueFor: 60)) { api, _ in
            let first = try await api.send(.post, "/v1/jobs", json: #"{"type":"tests.work","payload":{"n":1}}"#)
            let again = try await api.send(.post, "/v1/jobs", json: #"{"type":"tests.work","payload":{"n":1}}"#)
            let other = try await api.send(.post, "/v1/jobs", json: #"{"type":"tests.work","payload":{"n":2}}"#)
            #expect(first.status == .accepted && again.status == .ok && other.status == .accepted)
            #expect(try first.object().id() == again.object().id())
            #expect(try first.object().id() != other.object().id())
        }
    }

    @Test func jobsStayInTheirWorkspaceAndNeedTheirScopes() async throws {
        try await withApp { a, _ in
            let job = try await Self.enqueue(a, #"{"type":"messages.cleanup","run_at":"\#(Self.later)"}"#)
            let id = try job.id()
            try await withApp { b, _ in
                for (method, path) in [(HTTPRequest.Method.get, "/v1/jobs/\(id)"), (.post, "/v1/jobs/\(id)/cancel"), (.post, "/v1/jobs/\(id)/retry")] {
                    let answer = try await b.send(method, path)
                    #expect(answer.status == .notFound, "\(method) \(path)")
                }
                let list = try await b.send(.get, "/v1/jobs").object()
                #expect(!list.array("data").contains { $0.object?.string("id") == id })
            }
            try await withApp(scopes: ["jobs:read"]) { reader, _ in
                let refused = try await reader.send(.post, "/v1/jobs", json: #"{"type":"messages.cleanup"}"#)
                #expect(refused.status == .forbidden)
            }
            try await withApp(scopes: ["agents:read"]) { other, _ in
                let listing = try await other.send(.get, "/v1/jobs")
                #expect(listing.status == .forbidden)
            }
        }
    }

    @Test func aJobActsWithNoMoreThanTheScopesOfWhoeverEnqueuedIt() async throws {
        // A key that may enqueue jobs but not read agents cannot read one through a job.
        try await withApp(scopes: ["jobs:read", "jobs:write"], alongside: { [Self.worker($0, queue: "default")] }) { api, workspace in
            let job = try await Self.enqueue(api, #"{"type":"agents.generate_summary","payload":{"agent_id":"\#(UUID().uuidString.lowercased())"}}"#)
            let failed = try await Self.waitFor(api, try job.id()) { !$0.array("errors").isEmpty }
            let error = failed.array("errors").first?.object?.string("error") ?? ""
            #expect(error.contains("needs the 'agents:read' scope"), "\(error)")
            #expect(failed["result"] == .null)
            _ = workspace
        }
    }
}
