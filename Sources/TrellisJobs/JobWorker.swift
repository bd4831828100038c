import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import PostgresNIO
import ServiceLifecycle
import Tracing
import TrellisTracing
import TrellisRuntime

/// Runs jobs from the Postgres queue (migration 0012, DESIGN.md §7) on this process.
///
/// - Each queue this worker serves has a concurrency limit; its loop claims at most that many
///   jobs at once (`trellis_jobs_claim`: `FOR UPDATE SKIP LOCKED`, so two workers never take
///   one job) and claims again when a job ends or a commit announces new ones. Completed jobs
///   are recorded with the next claim, in the same statement (``PendingCompletions``).
/// - Commits that make jobs available `NOTIFY trellis_jobs` (the queue's name); the worker
///   LISTENs on a connection of its own and polls every ``WorkerConfiguration/poll`` as well,
///   which also moves due delayed and retrying jobs to `available`.
/// - A claim that finds its queue empty offers a few slots (``WorkerConfiguration/handOff``,
///   migration 0021): a job enqueued meanwhile is handed to this worker in the enqueuing
///   transaction, leased and counted as a claim would, and announced on the worker's own
///   channel; the worker reads it and starts it without a claim's commit to wait for.
/// - A claimed job holds a lease that a heartbeat renews; a worker that dies stops renewing,
///   and any worker's rescuer gives its jobs back to the queue (the attempt counts).
/// - One attempt runs at most the job's `timeout` (checked every ``timeoutSweep``, one timer
///   for all running jobs); a failure waits out an exponential backoff with jitter, and after
///   `max_attempts` the job is `dead`, kept with its errors.
/// - On graceful shutdown it stops claiming, gives running jobs ``WorkerConfiguration/shutdownGrace``
///   to finish, then stops the rest and releases them to other workers.
public final class JobWorker: Service, Sendable {
    /// The services jobs write through (its pool is the worker's own, so jobs never take the
    /// connections HTTP requests need).
    public let services: TrellisServices
    public var postgres: PostgresClient { services.postgres }
    public let configuration: WorkerConfiguration
    let handlers: JobHandlers
    let logger: Logger
    /// `host:pid:random`, recorded on the jobs this worker holds.
    public let name: String
    /// The channel jobs handed to this worker are announced on (`trellis_jobs_w_` and 16 random
    /// hex digits; payload: the job's id, a space, its queue).
    public let handOffChannel: String
    private let running = NIOLockedValueBox<[UUID: JobStopSignal]>([:])
    let wakes: [String: (stream: AsyncStream<Void>, continuation: AsyncStream<Void>.Continuation)]
    /// Per queue, what its loop is to do at its next wake-up.
    let inboxes: [String: NIOLockedValueBox<QueueInbox>]
    /// The key the LISTEN connection holds (a session advisory lock) while it is up, nil while
    /// it is not: slots are offered only under a held key, and an enqueue hands a job only to a
    /// worker whose key is still held (migration 0022), so hand-offs go only where they are heard.
    let listenerKey = NIOLockedValueBox<Int64?>(nil)
    private let metrics: JobMetrics?
    /// Sends `webhooks.deliver` jobs when the services have webhooks on.
    private let webhookSender: WebhookSender?
    /// Completed attempts not yet recorded: they ride on the next claim.
    private let completions = PendingCompletions()

    public init(
        services: TrellisServices, handlers: JobHandlers, configuration: WorkerConfiguration, logger: Logger,
        metrics: JobMetrics? = nil
    ) {
        self.services = services
        self.metrics = metrics
        var handlers = handlers
        webhookSender = services.webhooks.map(WebhookSender.init(settings:))
        if let webhookSender { handlers.register(webhookSender.deliverer) }
        if !services.retention.isEmpty { handlers.register(RetentionRunner(rules: services.retention)) }
        self.handlers = handlers
        self.configuration = configuration
        self.logger = logger
        let host = ProcessInfo.processInfo.hostName.prefix(60)
        name = "\(host):\(ProcessInfo.processInfo.processIdentifier):\(UUID().uuidString.prefix(8).lowercased())"
        handOffChannel = "trellis_jobs_w_" + String((0..<16).map { _ in "0123456789abcdef".randomElement()! })
        var wakes: [String: (AsyncStream<Void>, AsyncStream<Void>.Continuation)] = [:]
        var inboxes: [String: NIOLockedValueBox<QueueInbox>] = [:]
        for queue in configuration.queues.keys {
            wakes[queue] = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            inboxes[queue] = NIOLockedValueBox(QueueInbox())
        }
        self.wakes = wakes
        self.inboxes = inboxes
    }

    /// The longest wait for a pooled connection: the server's (`TRELLIS_PG_LEASE_TIMEOUT`).
    var poolLease: Duration { services.timeouts.poolLease }

    public func run() async throws {
        logger.info("worker started", metadata: [
            "worker": "\(name)", "queues": "\(configuration.queues.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
        ])
        await withDiscardingTaskGroup { background in
            background.addTask { await self.listen() }
            background.addTask { await self.maintain() }
            background.addTask { await self.heartbeat() }
            background.addTask { await self.enforceTimeouts() }
            await withGracefulShutdownHandler {
                await withDiscardingTaskGroup { queues in
                    for (queue, limit) in configuration.queues {
                        queues.addTask { await self.serve(queue: queue, limit: limit) }
                    }
                }
            } onGracefulShutdown: {
                for wake in self.wakes.values { wake.continuation.finish() }
            }
            background.cancelAll()
        }
        // The listener has stopped and let go of its key: no job is handed to this worker any
        // more. One handed after its queue's loop had ended goes back to the queue now rather
        // than waiting for its lease (a fresh-clone test run saw one wait out 15 s).
        await releaseHandedAfterTheLoops()
        await webhookSender?.shutdown()
        logger.info("worker stopped", metadata: ["worker": "\(name)"])
    }

    /// Asks every queue loop to claim now (tests, and the LISTEN connection).
    public func wake(queue: String? = nil) {
        if let queue {
            inboxes[queue]?.withLockedValue { $0.claim = true }
            wakes[queue]?.continuation.yield()
        } else {
            for inbox in inboxes.values { inbox.withLockedValue { $0.claim = true } }
            for wake in wakes.values { wake.continuation.yield() }
        }
    }

    // MARK: Queue loops

    /// What a queue loop's tasks tell it, between its wake-ups.
    private struct QueueSignals {
        /// Jobs that ended since the loop last looked.
        var ended = 0
        /// Graceful shutdown began: claim nothing more.
        var shutdown = false
    }

    /// Claims and runs jobs of `queue`, at most `limit` at once, until shutdown; then gives its
    /// running jobs the grace period, stops those still running, and returns once all ended.
    ///
    /// The loop wakes on a coalescing signal (a NOTIFY, a poll, a job's end): everything that
    /// happened while it was busy is answered by one claim, which also records the jobs that
    /// completed, or by one write of those completions when there is no room to claim. A busy
    /// queue thus costs one round trip per batch of jobs, never one per job.
    private func serve(queue: String, limit: Int) async {
        guard let wakes = wakes[queue], let inbox = inboxes[queue] else { return }
        let (signals, signal) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        let shared = NIOLockedValueBox(QueueSignals())
        var inFlight = 0
        var stopping = false
        await withDiscardingTaskGroup { jobs in
            func start(_ job: ClaimedJob) {
                inFlight += 1
                jobs.addTask {
                    await self.execute(job)
                    shared.withLockedValue { $0.ended += 1 }
                    signal.yield()
                }
            }
            jobs.addTask {
                for await _ in wakes.stream { signal.yield() }
                shared.withLockedValue { $0.shutdown = true }
                signal.yield()
            }
            signal.yield()
            for await _ in signals {
                let (ended, shutdown) = shared.withLockedValue { state in
                    defer { state.ended = 0 }
                    return (state.ended, state.shutdown)
                }
                inFlight -= ended
                let (handed, wantsClaim) = inbox.withLockedValue { $0.take() }
                if shutdown, !stopping {
                    stopping = true
                    let grace = configuration.shutdownGrace
                    jobs.addTask {
                        try? await Task.sleep(for: grace)
                        if !Task.isCancelled { self.stopAll(.shutdown) }
                    }
                    if configuration.handOff { await withdrawOffers() }
                }
                if !handed.isEmpty {
                    if stopping {
                        await release(handed, queue: queue)
                    } else {
                        for job in await takeHanded(handed, queue: queue, room: limit - inFlight) { start(job) }
                    }
                }
                if stopping {
                    await recordCompletions()
                    if inFlight == 0 { break }
                    continue
                }
                // Hand-offs alone: nothing to claim (the queue was empty when this worker offered).
                if !handed.isEmpty, !wantsClaim, ended == 0 { continue }
                // Claim in batches: with jobs running, wait until at least half a batch has room,
                // so a busy queue costs one claim per several jobs rather than one per job. Each
                // claim records the completions pending; a job that completes later signals the
                // loop after adding its completion, so the claim or write answering that signal
                // records it.
                let batch = min(limit, configuration.batch)
                var claimedNow = false
                while inFlight < limit, inFlight == 0 || limit - inFlight >= max(1, batch / 2) {
                    let want = min(limit - inFlight, configuration.batch)
                    let completed = completions.take()
                    let claimed: [ClaimedJob]
                    do {
                        claimed = try await claim(queue: queue, count: want, completing: completed)
                        claimedNow = true
                    } catch {
                        completionWriteFailed(completed, error)
                        logger.warning("could not claim jobs", metadata: ["queue": "\(queue)", "error": "\(String(reflecting: error))"])
                        break
                    }
                    for job in claimed { start(job) }
                    if claimed.count < want { break }
                }
                // No room to claim: the completions go on their own.
                if !claimedNow { await recordCompletions() }
            }
            signal.finish()
            jobs.cancelAll()
        }
    }

    private func stopAll(_ reason: JobStopSignal.Reason) {
        for signal in running.withLockedValue({ Array($0.values) }) { signal.signal(reason) }
    }

    struct ClaimedJob: Sendable {
        var id: UUID
        var workspaceID: UUID?
        var type: String
        var payload: String
        var attempt: Int
        var maxAttempts: Int
        var timeout: Int
        var backoff: JobBackoff
        var scopes: [String]
        /// From `run_at` to the claim.
        var waited: Duration
    }

    /// Records `completed` and claims up to `count` jobs of `queue`, in one statement (either
    /// may be empty). With hand-offs on, the same statement offers slots when the queue had
    /// fewer than `count` jobs (none while the LISTEN connection is down, whose hand-offs
    /// would go unheard), under the listener's key, and withdraws this worker's earlier offers.
    private func claim(queue: String, count: Int, completing completed: [PendingCompletions.Completion]) async throws -> [ClaimedJob] {
        let lease = Int32(configuration.lease.components.seconds)
        let ids = completed.map(\.id), results = completed.map(\.result)
        return try await postgres.withConnection(leaseTimeout: poolLease) { connection in
            guard configuration.handOff else {
                return try Self.claimedJobs(try await connection.rows(
                    "SELECT * FROM trellis_jobs_complete_and_claim(\(name), \(ids), \(results), \(queue), \(Int32(count)), \(lease))",
                    logger: logger))
            }
            let key = listenerKey.withLockedValue { $0 }
            let offers = key == nil ? 0 : Int32(min(count, WorkerConfiguration.maxOffers))
            return try Self.claimedJobs(try await connection.rows(
                """
                SELECT * FROM trellis_jobs_claim_and_wait(\(name), \(handOffChannel), \(key), \(ids), \(results), \(queue),
                                                          \(Int32(count)), \(lease), \(offers),
                                                          \(Int32(configuration.offerLifetime.components.seconds)))
                """, logger: logger))
        }
    }

    /// Jobs as the claim and the hand-off read return them.
    static func claimedJobs(_ rows: [PostgresRow]) throws -> [ClaimedJob] {
        var claimed: [ClaimedJob] = []
        for (id, workspace, type, payload, attempts, maxAttempts, timeout, base, cap, scopes, waited) in try rows.decode(
            (UUID, UUID?, String, String, Int32, Int32, Int32, Int32, Int32, [String], Double).self)
        {
            claimed.append(ClaimedJob(
                id: id, workspaceID: workspace, type: type, payload: payload, attempt: Int(attempts), maxAttempts: Int(maxAttempts),
                timeout: Int(timeout), backoff: JobBackoff(base: Int(base), cap: Int(cap)), scopes: scopes,
                waited: .milliseconds(Int64(max(waited, 0) * 1000))))
        }
        return claimed
    }

    // MARK: One attempt

    private enum Ending: Sendable {
        case completed(String?)
        /// `signature`: what failed, for error tracking (never the message).
        case failed(String, retryAfter: Duration? = nil, signature: ErrorSignature)
        case snoozed(Duration)
        case stopped(JobStopSignal.Reason)
    }

    /// Runs one attempt; when the services trace, as a trace of its own (a consumer span
    /// `job <type>`) whose trace id is in the attempt's log lines and error event.
    private func execute(_ job: ClaimedJob) async {
        guard let tracer = services.tracer else { return await execute(job, trace: nil) }
        let trace = TraceRoot("job \(job.type)", kind: .consumer, tracer: tracer)
        defer { trace.end() }
        trace.span.updateAttributes { attributes in
            attributes["trellis.job.id"] = job.id.lowercasedString
            attributes["trellis.job.type"] = job.type
            attributes["trellis.job.attempt"] = job.attempt
            attributes["trellis.workspace_id"] = job.workspaceID?.lowercasedString
        }
        await trace.run { await execute(job, trace: trace) }
    }

    private func execute(_ job: ClaimedJob, trace: TraceRoot?) async {
        let stop = JobStopSignal(deadline: .now + .seconds(job.timeout))
        running.withLockedValue { $0[job.id] = stop }
        defer { running.withLockedValue { _ = $0.removeValue(forKey: job.id) } }
        var jobLogger = logger
        jobLogger[metadataKey: "job_id"] = "\(job.id.lowercasedString)"
        jobLogger[metadataKey: "job_type"] = "\(job.type)"
        if let traceID = trace?.traceID { jobLogger[metadataKey: "trace_id"] = "\(traceID)" }
        let context = JobContext(
            id: job.id, type: job.type, workspaceID: job.workspaceID, attempt: job.attempt, maxAttempts: job.maxAttempts,
            logger: jobLogger, scopes: job.scopes, worker: self, stop: stop)
        let started = ContinuousClock.now
        let ending: Ending
        if let handler = handlers.byType[job.type] {
            ending = await attempt(job, handler: handler, context: context, stop: stop)
        } else {
            ending = .failed("no handler for job type '\(job.type)' on this worker", signature: ErrorSignature(type: "NoHandler"))
        }
        let ran = ContinuousClock.now - started
        let outcome = await record(job, ending)
        metrics?.attemptEnded(type: job.type, outcome: outcome, run: ran, waited: job.waited)
        if outcome == "failed" || outcome == "dead" {
            var signature = ErrorSignature(type: "JobTimeout")
            if case let .failed(_, _, failed) = ending { signature = failed }
            services.errors.record(ErrorOccurrence(
                kind: .job, signature: signature, location: job.type, requestID: "job_" + job.id.lowercasedString, traceID: trace?.traceID))
            trace?.span.setStatus(SpanStatus(code: .error))
        }
        trace?.span.attributes["trellis.job.outcome"] = outcome
        jobLogger.info("job attempt ended", metadata: ["outcome": "\(outcome)", "attempt": "\(job.attempt)"])
    }

    /// Runs the handler against its stop signal. The handler runs in a task of its own, which a
    /// stop (cancel, timeout, lost lease, shutdown) cancels at once and which is awaited however
    /// long it takes to wind down. A stop that came before the handler returned wins: the
    /// attempt is stopped, not completed.
    private func attempt(_ job: ClaimedJob, handler: @escaping JobHandlers.Run, context: JobContext, stop: JobStopSignal) async -> Ending {
        let payload: JSONValue
        do {
            payload = try JSONValue(parsing: job.payload)
        } catch {
            return .failed("the stored payload is not JSON", signature: ErrorSignature(type: "StoredPayloadNotJSON"))
        }
        // Started at once on this thread (no enqueue, no switch): the attempt's task is already
        // where the handler should run; a handler that finishes without suspending is done here.
        let work = Task<Ending, Never>.immediate {
            do {
                let result = try await handler(payload, context)
                guard let result else { return .completed(nil) }
                if Self.containsNUL(result) {
                    return .failed(
                        "the result cannot be stored: it holds a NUL character (\\u0000), which Postgres's jsonb refuses",
                        signature: ErrorSignature(type: "ResultHoldsNUL"))
                }
                var w = JSONWriter(capacity: 256)
                w.value(result)
                return .completed(w.string)
            } catch let snooze as JobSnooze {
                return .snoozed(snooze.delay)
            } catch {
                if let reason = stop.reason { return .stopped(reason) }
                // Cancelled from outside (the service group is going down): as a shutdown.
                if Task.isCancelled { return .stopped(.shutdown) }
                return .failed(Self.describe(error), retryAfter: (error as? JobFailure)?.retryAfter, signature: ErrorSignature(error))
            }
        }
        stop.onSignal { work.cancel() }
        let ending = await withTaskCancellationHandler {
            await work.value
        } onCancel: {
            work.cancel()
        }
        if let reason = stop.settle() { return .stopped(reason) }
        return ending
    }

    /// Whether a string or key anywhere in `value` holds U+0000.
    static func containsNUL(_ value: JSONValue) -> Bool {
        switch value {
        case let .string(text): text.utf8.contains(0)
        case let .array(items): items.contains(where: containsNUL)
        case let .object(members): members.members.contains { $0.key.utf8.contains(0) || containsNUL($0.value) }
        default: false
        }
    }

    static func describe(_ error: any Error) -> String {
        let text = (error as? JobFailure)?.description ?? (error as? Problem)?.description ?? String(describing: error)
        return String(text.prefix(2000))
    }

    /// Records the attempt's end; returns the outcome name for metrics and logs.
    private func record(_ job: ClaimedJob, _ ending: Ending) async -> String {
        let outcome: String, result: String?, error: String?, retryIn: Double
        switch ending {
        case let .completed(value):
            // Recorded by the queue loop, which the job's end wakes.
            completions.add(PendingCompletions.Completion(id: job.id, result: value ?? ""))
            return "completed"
        case let .failed(message, retryAfter, _):
            let delay = retryAfter?.seconds
            (outcome, result, error, retryIn) = ("failed", nil, message, delay ?? job.backoff.delay(afterAttempt: job.attempt))
        case .stopped(.cancelled):
            (outcome, result, error, retryIn) = ("cancelled", nil, "cancelled while running", 0)
        case .stopped(.timedOut):
            (outcome, result, error, retryIn) = ("failed", nil, "timed out after \(job.timeout)s", job.backoff.delay(afterAttempt: job.attempt))
        case .stopped(.lost):
            // Another worker has it (or will): nothing of ours to record.
            return "lost"
        case let .snoozed(delay):
            let seconds = delay.seconds
            _ = try? await postgres.withConnection(leaseTimeout: poolLease) { connection in
                try await connection.rows("SELECT trellis_jobs_snooze(\(job.id), \(name), \(seconds))", logger: logger)
            }
            return "snoozed"
        case .stopped(.shutdown):
            _ = try? await postgres.withConnection(leaseTimeout: poolLease) { connection in
                try await connection.rows("SELECT trellis_jobs_release(\(name), \([job.id]))", logger: logger)
            }
            return "released"
        }
        do {
            _ = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                try await connection.rows(
                    "SELECT trellis_jobs_finish(\(job.id), \(name), \(outcome), \(result)::jsonb, \(error), \(retryIn))",
                    logger: logger)
            }
        } catch {
            logger.warning("could not record a job's end; its lease will expire and it runs again",
                           metadata: ["job_id": "\(job.id.lowercasedString)", "error": "\(String(reflecting: error))"])
            return "unrecorded"
        }
        if outcome == "failed" && job.attempt >= job.maxAttempts { return "dead" }
        return outcome
    }

    /// Records the pending completions without claiming, a batch per round trip.
    private func recordCompletions() async {
        while true {
            let batch = completions.take()
            if batch.isEmpty { return }
            do {
                _ = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                    try await connection.rows(
                        "SELECT trellis_jobs_complete(\(name), \(batch.map(\.id)), \(batch.map(\.result)))", logger: logger)
                }
            } catch {
                completionWriteFailed(batch, error)
                return
            }
        }
    }

    /// Puts completions whose write failed back to be written again, giving up on those that
    /// failed too often (their leases expire and the jobs run again).
    private func completionWriteFailed(_ completed: [PendingCompletions.Completion], _ error: any Error) {
        guard !completed.isEmpty else { return }
        let givenUp = completions.writeFailed(completed)
        if !givenUp.isEmpty {
            logger.warning("could not record completed jobs; their leases will expire and they run again",
                           metadata: ["jobs": "\(givenUp.count)", "error": "\(String(reflecting: error))"])
        }
    }

    // MARK: Progress, heartbeat, maintenance

    /// Stores a running job's progress (with its `job.progress` event, in the job's workspace);
    /// false when it was asked to stop, nil when this worker no longer holds it.
    func reportProgress(_ context: JobContext, fraction: Double, message: String?) async throws -> Bool? {
        let cancelRequested: Bool?
        if let identity = context.identity {
            cancelRequested = try await services.transaction(as: identity, origin: context.origin, logger: context.logger) { [name] tx in
                try await JobQueue.reportProgress(context.id, worker: name, fraction: fraction, message: message, in: tx)
            }
        } else {
            let rows = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                try await connection.rows(
                    JobQueue.progressStatement(context.id, worker: name, fraction: fraction, message: message), logger: logger
                ).decode(Bool?.self)
            }
            cancelRequested = rows.first ?? nil
        }
        return cancelRequested.map { !$0 }
    }

    /// How often running jobs are checked against their deadlines: a timeout fires at most this
    /// late. (One sweep for all jobs costs less than a timer per job, which had to be scheduled
    /// and cancelled on an event loop, waking it twice, for every attempt.)
    static let timeoutSweep: Duration = .milliseconds(100)

    /// Signals ``JobStopSignal/Reason/timedOut`` to every running job past its deadline.
    private func enforceTimeouts() async {
        while !Task.isCancelled {
            try? await Task.sleep(for: Self.timeoutSweep)
            let now = ContinuousClock.now
            for stop in running.withLockedValue({ Array($0.values) }) where stop.deadline <= now {
                stop.signal(.timedOut)
            }
        }
    }

    /// Renews the leases of running jobs; stops those cancelled through the API and those
    /// another worker took over.
    private func heartbeat() async {
        let lease = Int32(configuration.lease.components.seconds)
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.heartbeat)
            let held = running.withLockedValue { $0 }
            guard !held.isEmpty else { continue }
            do {
                let rows = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                    try await connection.rows(
                        "SELECT id, cancel_requested FROM trellis_jobs_heartbeat(\(name), \(Array(held.keys)), \(lease))", logger: logger
                    ).decode((UUID, Bool).self)
                }
                var answered = Set<UUID>()
                for (id, cancelRequested) in rows {
                    answered.insert(id)
                    if cancelRequested { held[id]?.signal(.cancelled) }
                }
                for (id, signal) in held where !answered.contains(id) {
                    // Finished in the meantime, or rescued by another worker: only the latter is still running here.
                    if running.withLockedValue({ $0[id] != nil }) { signal.signal(.lost) }
                }
            } catch {
                logger.warning("could not renew job leases", metadata: ["error": "\(String(reflecting: error))"])
            }
        }
    }

    /// Every ``WorkerConfiguration/poll``: fires due cron ticks (each once across all workers),
    /// moves due jobs to available (waking their queues) and
    /// wakes every queue (in case a NOTIFY was missed); every ``WorkerConfiguration/rescueInterval``
    /// rescues lost leases and prunes finished jobs past their retention.
    private func maintain() async {
        var lastRescue = ContinuousClock.now - configuration.rescueInterval
        var fired: [String: Date] = [:]
        while !Task.isCancelled {
            if configuration.firesSchedules {
                fired = await services.scheduler.fireDue(now: Date(), after: fired, on: postgres, logger: logger)
            }
            do {
                _ = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                    try await connection.rows(PostgresQuery(unsafeSQL: "SELECT count(*) FROM trellis_jobs_stage(1000)"), logger: logger)
                }
                wake()
                if ContinuousClock.now - lastRescue >= configuration.rescueInterval {
                    lastRescue = ContinuousClock.now
                    let (rescued, pruned) = try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                        let rescued = try await connection.rows(PostgresQuery(unsafeSQL: "SELECT trellis_jobs_rescue(1000)"), logger: logger)
                            .decode(Int32.self).first ?? 0
                        let retention = Int32(configuration.retention.components.seconds)
                        let pruned = try await connection.rows("SELECT trellis_jobs_prune(\(retention), 1000)", logger: logger)
                            .decode(Int32.self).first ?? 0
                        // Finished webhook deliveries are kept as long as finished jobs.
                        _ = try await connection.rows("SELECT trellis_webhooks_prune(\(retention), 1000)", logger: logger)
                        return (rescued, pruned)
                    }
                    if rescued > 0 {
                        logger.notice("rescued jobs whose worker was lost", metadata: ["jobs": "\(rescued)"])
                        metrics?.rescued(Int(rescued))
                        wake()
                    }
                    if pruned > 0 { logger.info("pruned finished jobs", metadata: ["jobs": "\(pruned)"]) }
                }
            } catch {
                logger.warning("job maintenance failed", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: configuration.poll)
        }
    }

    /// LISTENs for commits that made jobs available (`trellis_jobs`) and for cancellations of
    /// running jobs (`trellis_jobs_cancel`), on one connection held for the purpose; reconnects
    /// after a failure (polling covers the gap). With hand-offs on, it also listens on the
    /// worker's own channel and holds the listener key while it does.
    private func listen() async {
        var backoff = Duration.milliseconds(200)
        while !Task.isCancelled {
            do {
                try await postgres.withConnection(leaseTimeout: poolLease) { connection in
                    var key: Int64?
                    do {
                        try await withThrowingDiscardingTaskGroup { group in
                            let jobs = try await connection.listen(JobQueue.channel)
                            let cancels = try await connection.listen(JobQueue.cancelChannel)
                            if configuration.handOff {
                                let handOffs = try await connection.listen(handOffChannel)
                                group.addTask {
                                    for try await notification in handOffs { self.handedOff(notification.payload) }
                                }
                                key = try await holdListenerKey(on: connection)
                                listenerKey.withLockedValue { $0 = key }
                            }
                            backoff = .milliseconds(200)
                            group.addTask {
                                for try await notification in jobs { self.wake(queue: notification.payload) }
                            }
                            group.addTask {
                                for try await notification in cancels {
                                    if let id = UUID(uuidString: notification.payload) {
                                        self.running.withLockedValue { $0[id] }?.signal(.cancelled)
                                    }
                                }
                            }
                        }
                    } catch {
                        await letGoOfListenerKey(key, on: connection)
                        throw error
                    }
                    await letGoOfListenerKey(key, on: connection)
                }
            } catch {
                if configuration.handOff, !Task.isCancelled {
                    // Offers made while listening now go unheard (enqueues pass them over): withdraw them.
                    await withdrawOffers()
                }
                if Task.isCancelled { return }
                logger.debug("job notifications lost; polling until they are back", metadata: ["error": "\(String(reflecting: error))"])
            }
            try? await Task.sleep(for: backoff)
            backoff = min(backoff * 2, .seconds(10))
        }
    }
}

/// How a worker runs (environment variables in docs/operations.md "Jobs").
public struct WorkerConfiguration: Sendable {
    /// Queue name -> jobs this process runs at once from it.
    public var queues: [String: Int]
    /// Jobs claimed per round trip.
    public var batch = 10
    /// How long a claimed job stays this worker's without a heartbeat (`TRELLIS_JOBS_LEASE`, 30 s).
    public var lease: Duration = .seconds(30)
    /// How often leases are renewed (a third of the lease).
    public var heartbeat: Duration = .seconds(10)
    /// How often due jobs are staged and queues polled without a NOTIFY (`TRELLIS_JOBS_POLL`, 1 s).
    public var poll: Duration = .seconds(1)
    /// How often lost leases are rescued and old jobs pruned.
    public var rescueInterval: Duration = .seconds(15)
    /// How long finished jobs are kept (`TRELLIS_JOBS_RETENTION`, 7 days).
    public var retention: Duration = .seconds(7 * 86_400)
    /// How long running jobs may take to finish after SIGTERM (`TRELLIS_JOBS_SHUTDOWN_GRACE`, 25 s).
    public var shutdownGrace: Duration = .seconds(25)
    /// Whether this worker fires the cron schedules' ticks (`TRELLIS_JOBS_SCHEDULES`, on; any
    /// number of workers may: each tick fires once).
    public var firesSchedules = true
    /// Whether a queue loop that finds its queue empty offers slots for enqueues to hand their
    /// jobs to (`TRELLIS_JOBS_HANDOFF`, on; migrations 0021 and 0022). Off, an idle worker
    /// learns of a job by NOTIFY and claims it.
    public var handOff = true
    /// The most slots one queue loop offers at once (more jobs at once go by NOTIFY and claim).
    public static let maxOffers = 8

    /// How long an offer stands without a claim renewing it: three polls, at least 2 s, at most
    /// the lease. A worker that dies leaves offers at most this long, and enqueues pass them
    /// over: its listener's key went with its connection.
    public var offerLifetime: Duration {
        min(max(poll * 3, .seconds(2)), lease)
    }

    public init(queues: [String: Int]) {
        self.queues = queues
    }

    /// Every queue the job types name, each with `concurrency` (`TRELLIS_JOBS_CONCURRENCY`, 10).
    public init(definitions: [JobDefinition], concurrency: Int = 10) {
        queues = Dictionary(definitions.map { ($0.queue, concurrency) }, uniquingKeysWith: { first, _ in first })
    }
}

extension WorkerConfiguration {
    /// From `TRELLIS_JOBS_CONCURRENCY` (jobs at once per queue, 1–1000, default 5),
    /// `TRELLIS_JOBS_QUEUES` (the queues to serve, each optionally with its own limit:
    /// `default=8,demo`; default every queue of `jobs.yaml`),
    /// `TRELLIS_JOBS_LEASE` (seconds, 5–3600, default 30; heartbeats every third of it),
    /// `TRELLIS_JOBS_POLL` (milliseconds, 50–60000, default 1000), `TRELLIS_JOBS_RETENTION`
    /// (seconds, 60–31536000, default 604800) and `TRELLIS_JOBS_SHUTDOWN_GRACE` (seconds,
    /// 0–3600, default 25); one message per bad value.
    public static func fromEnvironment(
        definitions: [JobDefinition], _ env: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> WorkerConfiguration {
        var problems: [String] = []
        func number(_ name: String, in range: ClosedRange<Int>, default fallback: Int, unit: String) -> Int {
            guard let text = env[name] else { return fallback }
            guard let value = Int(text), range.contains(value) else {
                problems.append("\(name) must be a number\(unit) from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
                return fallback
            }
            return value
        }
        var configuration = WorkerConfiguration(
            definitions: definitions, concurrency: number("TRELLIS_JOBS_CONCURRENCY", in: 1...1000, default: 5, unit: " of jobs"))
        if let text = env["TRELLIS_JOBS_QUEUES"] {
            // `demo` or `default=8,demo=2`: the queues this worker serves, each with its own limit.
            var queues: [String: Int] = [:]
            for item in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                let parts = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard let name = parts.first, configuration.queues[name] != nil else {
                    let known = configuration.queues.keys.sorted().joined(separator: ", ")
                    problems.append("TRELLIS_JOBS_QUEUES names '\(item)', which is not a queue of jobs.yaml (\(known))")
                    continue
                }
                guard parts.count == 1 || Int(parts[1]).map({ (1...1000).contains($0) }) == true else {
                    problems.append("TRELLIS_JOBS_QUEUES: the limit of '\(name)' must be a number of jobs from 1 to 1000, got '\(parts[1])'")
                    continue
                }
                queues[name] = parts.count == 2 ? Int(parts[1])! : configuration.queues[name]!
            }
            if queues.isEmpty { problems.append("TRELLIS_JOBS_QUEUES must name at least one queue") }
            configuration.queues = queues
        }
        let lease = number("TRELLIS_JOBS_LEASE", in: 5...3600, default: 30, unit: " of seconds")
        configuration.lease = .seconds(lease)
        configuration.heartbeat = .seconds(Double(lease) / 3)
        // A lost lease is rescued within about one more lease.
        configuration.rescueInterval = .seconds(min(15, lease))
        configuration.poll = .milliseconds(number("TRELLIS_JOBS_POLL", in: 50...60_000, default: 1000, unit: " of milliseconds"))
        configuration.retention = .seconds(number("TRELLIS_JOBS_RETENTION", in: 60...31_536_000, default: 604_800, unit: " of seconds"))
        configuration.shutdownGrace = .seconds(number("TRELLIS_JOBS_SHUTDOWN_GRACE", in: 0...3600, default: 25, unit: " of seconds"))
        switch env["TRELLIS_JOBS_SCHEDULES"] {
        case nil, "on": configuration.firesSchedules = true
        case "off": configuration.firesSchedules = false
        case let other?: problems.append("TRELLIS_JOBS_SCHEDULES must be on or off, got '\(other)'")
        }
        switch env["TRELLIS_JOBS_HANDOFF"] {
        case nil, "on": configuration.handOff = true
        case "off": configuration.handOff = false
        case let other?: problems.append("TRELLIS_JOBS_HANDOFF must be on or off, got '\(other)'")
        }
        guard problems.isEmpty else { throw ServerConfiguration.Invalid(problems: problems) }
        return configuration
    }
}
