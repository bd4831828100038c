import App
import Foundation
import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
@testable import TrellisJobs
@testable import TrellisRuntime

/// Jobs handed to a waiting worker in the enqueuing transaction (migrations 0021 and 0022): the
/// assignment is a claim in all but name (one worker, a lease, the attempt counted), made
/// durable by the enqueue's own commit, and only ever made to a worker that hears it.
@Suite("Job hand-off to a waiting worker (issue 11)")
struct JobHandOffTests {
    /// A worker that is not running: a name, a channel and a listener key of this test's own.
    /// It counts as listening only inside ``listening(_:_:)``, which holds its key.
    struct Ghost {
        let name = "ghost-" + UUID().uuidString.prefix(8).lowercased()
        let channel = "trellis_jobs_w_" + UUID().uuidString.prefix(16).lowercased().replacingOccurrences(of: "-", with: "_")
        let key = Int64.random(in: 1...Int64.max)
    }

    /// Runs `body` on a connection that holds `ghost`'s listener key, as a worker's LISTEN
    /// connection does; lets go of it afterwards.
    static func listening<T: Sendable>(_ ghost: Ghost, _ body: @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            try await client.withConnection { connection in
                try await connection.query("SELECT pg_advisory_lock(\(ghost.key))", logger: silentLogger).collect()
                do {
                    let result = try await body(connection)
                    try await connection.query("SELECT pg_advisory_unlock(\(ghost.key))", logger: silentLogger).collect()
                    return result
                } catch {
                    _ = try? await connection.query("SELECT pg_advisory_unlock(\(ghost.key))", logger: silentLogger).collect()
                    throw error
                }
            }
        }
    }

    /// An offer of `slots` slots on `queue` by `worker`, standing for a minute.
    static func offer(queue: String, by ghost: Ghost, slots: Int = 1) async throws {
        try await offer(queue: queue, worker: ghost.name, channel: ghost.channel, key: ghost.key, slots: slots)
    }

    /// Offers under `key`; nil keeps the key the worker's own claims recorded.
    static func offer(queue: String, worker: String, channel: String, key: Int64?, slots: Int = 1, lease: Int = 30) async throws {
        try await TestDatabase.shared.prepare()
        _ = try await withInspector { inspector in
            try await inspector.query(
                """
                INSERT INTO job_waiting_workers (worker, channel, lease_seconds, expires_at, listener_key)
                VALUES (\(worker), \(channel), \(Int32(lease)), now() + interval '1 minute', \(key))
                ON CONFLICT (worker) DO UPDATE SET channel = excluded.channel, expires_at = excluded.expires_at,
                    listener_key = coalesce(excluded.listener_key, job_waiting_workers.listener_key)
                """).collect()
            try await inspector.query(
                "INSERT INTO job_waiters (queue, worker) SELECT \(queue), \(worker) FROM generate_series(1, \(Int32(slots)))"
            ).collect()
        }
    }

    static func offers(queue: String, worker: String? = nil) async throws -> Int {
        try await withInspector { inspector in
            try await inspector.query(
                "SELECT count(*) FROM job_waiters WHERE queue = \(queue) AND (\(worker)::text IS NULL OR worker = \(worker))"
            ).collect().first!.decode(Int.self)
        }
    }

    struct StoredJob {
        var state: String
        var attempts: Int32
        var worker: String?
        var leased: Bool
    }

    static func stored(_ id: String) async throws -> StoredJob {
        let (state, attempts, worker, leased) = try await withInspector { inspector in
            try await inspector.query(
                "SELECT state, attempts, worker, lease_expires_at > now() FROM jobs WHERE id = \(UUID(uuidString: id)!)"
            ).collect().first!.decode((String, Int32, String?, Bool?).self)
        }
        return StoredJob(state: state, attempts: attempts, worker: worker, leased: leased ?? false)
    }

    /// Waits (at most 15 s) until `condition` holds.
    static func eventually(_ what: String, _ condition: @Sendable () async throws -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while try await !condition() {
            guard ContinuousClock.now < deadline else { throw Unexpected(message: "never: \(what)") }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    @Test func anEnqueueTakesAWaitingWorkersOfferAndCommitsTheJobAsThatWorkersWithItsLease() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let ghost = Ghost()
        try await Self.offer(queue: queue, by: ghost, slots: 2)
        try await withApp(api: JobQueueTests.api(queue: queue)) { api, _ in
            try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { listener in
                try await listener.withConnection { connection in
                    // Listening, as a worker's LISTEN connection does: on its channel, holding its key.
                    try await connection.query("SELECT pg_advisory_lock(\(ghost.key))", logger: silentLogger).collect()
                    let notifications = try await connection.listen(ghost.channel)
                    var received = notifications.makeAsyncIterator()
                    let job = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#)
                    let id = try job.id()
                    // The answer shows the job as it committed.
                    #expect(job.string("state") == "running" && job["attempts"] == .integer(1) && job.string("attempted_at") != nil)
                    // As committed: running under the waiting worker, leased, the attempt counted.
                    let stored = try await Self.stored(id)
                    #expect(stored.state == "running" && stored.attempts == 1 && stored.worker == ghost.name && stored.leased)
                    // The worker's own channel says which job and which queue.
                    #expect(try await received.next()?.payload == "\(id) \(queue)")
                    // One offer spent, one left for the next enqueue.
                    #expect(try await Self.offers(queue: queue) == 1)
                    // The worker reads it without a claim; another worker's name reads nothing.
                    let handed = try await listener.query("SELECT id, attempts FROM trellis_jobs_handed(\(ghost.name), \([UUID(uuidString: id)!]), 10)")
                        .collect().map { try $0.decode((UUID, Int32).self) }
                    #expect(handed.count == 1 && handed.first?.0.lowercasedString == id && handed.first?.1 == 1)
                    let other = try await listener.query("SELECT id FROM trellis_jobs_handed('someone-else', \([UUID(uuidString: id)!]), 10)")
                        .collect()
                    #expect(other.isEmpty)
                    // Nor is a job whose lease has less left than the worker needs (30 s < 40 s):
                    // the rescuer could take it before the worker's first heartbeat.
                    let short = try await listener.query("SELECT id FROM trellis_jobs_handed(\(ghost.name), \([UUID(uuidString: id)!]), 40)")
                        .collect()
                    #expect(short.isEmpty)
                }
            }
        }
    }

    @Test func aJobHandedToAWorkerThatDiedIsRescuedWhenItsLeaseRunsOutAndRunByAnother() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let ghost = Ghost()
        try await Self.offer(queue: queue, by: ghost)
        // Handed while it listened; then it died before reading it.
        let (id, workspace) = try await Self.listening(ghost) { _ in
            try await withApp(api: JobQueueTests.api(queue: queue)) { api, workspace in
                (try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":2}}"#).id(), workspace)
            }
        }
        #expect(try await Self.stored(id).worker == ghost.name)
        _ = try await withInspector { inspector in
            try await inspector.query("UPDATE jobs SET lease_expires_at = now() - interval '1 second' WHERE id = \(UUID(uuidString: id)!)").collect()
        }
        try await withApp(workspace: workspace, api: JobQueueTests.api(queue: queue), alongside: { services in
            [JobQueueTests.worker(services, queue: queue, handler: ClosureHandler { _, _ in nil })]
        }) { api, _ in
            // The live worker's rescuer returns it (the attempt counts, as for a claimed job) and runs it.
            let done = try await JobQueueTests.waitFor(api, id) { $0.string("state") == "completed" }
            #expect(done["attempts"] == .integer(2))
            #expect(done.array("errors").first?.object?.string("error")?.contains("worker lost") == true)
        }
    }

    @Test func aTenantCanHandOffOnlyItsOwnAvailableJobAndNeverSeesTheOffers() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let api = JobQueueTests.api(queue: queue)
        let jobs = JobQueue(definitions: api.jobs)
        let (mine, theirs) = (try await TestDatabase.shared.makeWorkspace(), try await TestDatabase.shared.makeWorkspace())
        let origin = RequestOrigin(requestID: "t", ip: nil, userAgent: nil)
        let identity: @Sendable (UUID) -> Identity = { workspace in
            Identity(workspaceID: workspace, kind: .cli, credentialID: "test", scopes: ScopeSet(["*"]))
        }
        try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            // Their job, enqueued while nobody waits: available.
            let theirJob = try await TenantTransaction.run(on: client, identity: identity(theirs), origin: origin, logger: silentLogger) { tx in
                try await jobs.enqueue(TestWork(n: 4), in: tx).job.id
            }
            let ghost = Ghost()
            try await Self.offer(queue: queue, by: ghost)
            // The ghost listens: nothing but the workspace can stop the hand-off.
            let (handed, offersSeen) = try await Self.listening(ghost) { _ in
                try await TenantTransaction.run(on: client, identity: identity(mine), origin: origin, logger: silentLogger) { tx in
                    let handed = try await tx.rows("SELECT trellis_jobs_hand_off(\(theirJob), \(queue))").decode(Bool.self).first
                    let offersSeen: String
                    do {
                        _ = try await tx.rows("SELECT count(*) FROM job_waiters")
                        offersSeen = "read"
                    } catch {
                        offersSeen = String(reflecting: error)
                    }
                    return (handed, offersSeen)
                }
            }
            #expect(handed == false)
            #expect(offersSeen.contains("permission denied") || offersSeen.contains("42501"), "\(offersSeen)")
            #expect(try await Self.stored(theirJob.lowercasedString).state == "available")
            #expect(try await Self.offers(queue: queue, worker: ghost.name) == 1)
            // Its own workspace can: the offer was there to take all along.
            let handedByOwner = try await Self.listening(ghost) { _ in
                try await TenantTransaction.run(on: client, identity: identity(theirs), origin: origin, logger: silentLogger) { tx in
                    try await tx.rows("SELECT trellis_jobs_hand_off(\(theirJob), \(queue))").decode(Bool.self).first
                }
            }
            #expect(handedByOwner == true)
            #expect(try await Self.stored(theirJob.lowercasedString).worker == ghost.name)
        }
    }

    /// Offers of `worker` that an enqueue could take now: standing for at least another `margin`.
    static func standingOffers(worker: String, margin: Duration = .milliseconds(300)) async throws -> Int {
        try await withInspector { inspector in
            try await inspector.query(
                """
                SELECT count(*) FROM job_waiters w JOIN job_waiting_workers l ON l.worker = w.worker
                WHERE w.worker = \(worker) AND l.expires_at > now() + make_interval(secs => \(margin.seconds))
                """).collect().first!.decode(Int.self)
        }
    }

    @Test func anEnqueuePassesOverTheOffersOfAWorkerWhoseListenerLetGoOfItsKey() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let (gone, live) = (Ghost(), Ghost())
        // The worker that stopped listening offered first: its offer is first in line.
        try await Self.offer(queue: queue, by: gone)
        try await Self.offer(queue: queue, by: live, slots: 2)
        try await withApp(api: JobQueueTests.api(queue: queue)) { api, _ in
            let first = try await Self.listening(live) { _ in
                try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#).id()
            }
            // Handed to the worker that listens; the other's offer was passed over and stands until it lapses.
            #expect(try await Self.stored(first).worker == live.name)
            #expect(try await Self.offers(queue: queue, worker: gone.name) == 1)
            // Once nobody listens, nobody is handed anything: the job waits for a claim.
            let second = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":2}}"#).id()
            let stored = try await Self.stored(second)
            #expect(stored.state == "available" && stored.worker == nil && stored.attempts == 0)
            #expect(try await Self.offers(queue: queue, worker: gone.name) == 1)
            #expect(try await Self.offers(queue: queue, worker: live.name) == 1)
        }
    }

    @Test func aWorkerStoppedWithoutAGracefulShutdownIsHandedNothingAndTheJobRunsElsewhere() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let handler = ClosureHandler { _, _ in nil }
        let services = NIOLockedValueBox<TrellisServices?>(nil)
        // Beside it, a worker that learns of jobs by NOTIFY alone.
        try await withApp(api: JobQueueTests.api(queue: queue), alongside: { shared in
            services.withLockedValue { $0 = shared }
            return [JobQueueTests.worker(shared, queue: queue, handler: handler, handOff: false)]
        }) { api, _ in
            let stopped = JobQueueTests.worker(try #require(services.withLockedValue { $0 }), queue: queue, concurrency: 3, handler: handler)
            let run = Task { try await stopped.run() }
            try await Self.eventually("the worker offers its slots") { try await Self.offers(queue: queue, worker: stopped.name) == 3 }
            // Cancelled, as a test's task or a crash ends it: nothing withdraws its offers.
            run.cancel()
            _ = await run.result
            #expect(try await Self.standingOffers(worker: stopped.name) == 3, "the offers must still stand for this to test anything")
            let id = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":3}}"#).id()
            #expect(try await Self.stored(id).worker != stopped.name)
            // Run at once by the other worker, not after the stopped one's 30 s lease.
            let done = try await JobQueueTests.waitFor(api, id) { $0.string("state") == "completed" }
            #expect(done["attempts"] == .integer(1) && done.array("errors").isEmpty)
        }
    }

    @Test func anIdleWorkerOffersItsSlotsStartsWhatItIsHandedAndWithdrawsWhenItStops() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let ran = NIOLockedValueBox<[Int]>([])
        let handler = ClosureHandler { payload, _ in
            ran.withLockedValue { $0.append(payload.n) }
            return nil
        }
        let worker = NIOLockedValueBox<JobWorker?>(nil)
        let name = try await withApp(api: JobQueueTests.api(queue: queue), alongside: { services in
            let running = JobQueueTests.worker(services, queue: queue, concurrency: 3, handler: handler, handOff: true)
            worker.withLockedValue { $0 = running }
            return [running]
        }) { api, _ in
            let running = try #require(worker.withLockedValue { $0 })
            // Its first claim found the queue empty: it offers one slot per free place.
            try await Self.eventually("the worker offers its slots") { try await Self.offers(queue: queue, worker: running.name) == 3 }
            try await withClient(url: try TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { listener in
                try await listener.withConnection { connection in
                    // Listening beside the worker on its channel: each job reaches it as a hand-off.
                    let notifications = try await connection.listen(running.handOffChannel)
                    var received = notifications.makeAsyncIterator()
                    for n in 1...5 {
                        let id = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":\#(n)}}"#).id()
                        #expect(try await received.next()?.payload == "\(id) \(queue)")
                        let done = try await JobQueueTests.waitFor(api, id) { $0.string("state") == "completed" }
                        #expect(done["attempts"] == .integer(1) && done.array("errors").isEmpty)
                        // Idle again: its offers are back.
                        try await Self.eventually("the offers come back") { try await Self.offers(queue: queue, worker: running.name) == 3 }
                    }
                }
            }
            return running.name
        }
        #expect(ran.withLockedValue { $0 } == [1, 2, 3, 4, 5])
        // Stopped: no offer of it is left to take.
        #expect(try await Self.offers(queue: queue, worker: name) == 0)
    }

    @Test func aJobHandedToAWorkerWithNoRoomGoesBackToTheQueueWithoutCountingTheAttempt() async throws {
        let queue = "t-" + UUID().uuidString.prefix(8).lowercased()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let ran = NIOLockedValueBox<[Int]>([])
        let handler = ClosureHandler { payload, _ in
            ran.withLockedValue { $0.append(payload.n) }
            if payload.n == 1 { for await _ in gate { break } }
            return nil
        }
        let worker = NIOLockedValueBox<JobWorker?>(nil)
        try await withApp(api: JobQueueTests.api(queue: queue), alongside: { services in
            let running = JobQueueTests.worker(services, queue: queue, concurrency: 1, handler: handler, handOff: true)
            worker.withLockedValue { $0 = running }
            return [running]
        }) { api, _ in
            let running = try #require(worker.withLockedValue { $0 })
            let first = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":1}}"#).id()
            try await Self.eventually("the first job runs") { ran.withLockedValue { $0 } == [1] }
            // An offer the busy worker did not make (as if its claim raced a hand-off).
            try await Self.offer(queue: queue, worker: running.name, channel: running.handOffChannel,
                                 key: try #require(running.listenerKey.withLockedValue { $0 }))
            let second = try await JobQueueTests.enqueue(api, #"{"type":"tests.work","payload":{"n":2}}"#).id()
            // Handed to it, and given back: available again, the attempt not counted.
            try await Self.eventually("the second job is given back") {
                let stored = try await Self.stored(second)
                return stored.state == "available" && stored.attempts == 0 && stored.worker == nil
            }
            #expect(ran.withLockedValue { $0 } == [1])
            open.yield()
            for id in [first, second] {
                let done = try await JobQueueTests.waitFor(api, id) { $0.string("state") == "completed" }
                #expect(done["attempts"] == .integer(1) && done.array("errors").isEmpty)
            }
            #expect(ran.withLockedValue { $0 } == [1, 2])
        }
    }
}
