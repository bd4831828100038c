import Crypto
import Foundation
import TrellisContract
import PostgresNIO
import TrellisTracing

/// The queue's tenant side (DESIGN.md §7): enqueue, inside the caller's transaction so a job
/// exists if and only if the data change beside it commits, and the API's get, list, cancel
/// and retry. Everything here runs under row-level security in the caller's workspace; the
/// worker's side (claim, lease, finish) is in TrellisJobs.
public struct JobQueue: Sendable {
    /// The channel a commit that made jobs available notifies, with the queue as payload.
    public static let channel = "trellis_jobs"
    /// The channel a cancel of a running job notifies, with the job's id as payload, so its
    /// worker stops it at once rather than at its next heartbeat.
    public static let cancelChannel = "trellis_jobs_cancel"
    /// The furthest ahead `run_at` may be.
    public static let maxDelay: TimeInterval = 366 * 86_400
    public static let priorities = -1000...1000

    public let definitions: [String: JobDefinition]

    public init(definitions: [JobDefinition]) {
        self.definitions = Dictionary(definitions.map { ($0.type, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// What enqueuing did: made a job, or found the unique job it repeats.
    public enum Enqueued: Sendable {
        case created(JobRecord)
        case existing(JobRecord)

        public var job: JobRecord {
            switch self {
            case let .created(job), let .existing(job): job
            }
        }
    }

    /// Enqueues a typed payload in `tx` (app code: a hook beside its data change).
    public func enqueue<Payload: JobPayload>(
        _ payload: Payload, priority: Int? = nil, runAt: Date? = nil, in tx: TenantTransaction
    ) async throws -> Enqueued {
        var w = JSONWriter(capacity: 128)
        payload.writeJSON(to: &w)
        guard let definition = definitions[Payload.jobType] else {
            throw Problem.validationFailed([FieldProblem(path: "/type", code: .enum, message: "is not a job type of this API")])
        }
        return try await insert(definition, payload: w.string, priority: priority, runAt: runAt, in: tx)
    }

    /// The most jobs one ``enqueue(batch:priority:in:)`` takes.
    public static let maxBatch = 10_000

    /// Enqueues many jobs of one type in one statement (app code moving a backlog, the
    /// benchmark): all or none, in `tx`, with one notification. A type that is `unique_for` a
    /// window is refused here (each of its jobs needs the one-by-one check). Returns the ids.
    public func enqueue<Payload: JobPayload>(
        batch payloads: [Payload], priority: Int? = nil, in tx: TenantTransaction
    ) async throws -> [UUID] {
        guard let definition = definitions[Payload.jobType] else {
            throw Problem.validationFailed([FieldProblem(path: "/type", code: .enum, message: "is not a job type of this API")])
        }
        guard definition.uniqueForSeconds == nil, payloads.count <= Self.maxBatch else {
            throw Problem.validationFailed([FieldProblem(
                path: "", code: .tooManyItems, message: "a batch holds at most \(Self.maxBatch) jobs of a type that is not unique_for a window")])
        }
        if payloads.isEmpty { return [] }
        let ids = payloads.map { _ in UUID.v7() }
        let texts = payloads.map { payload in
            var w = JSONWriter(capacity: 64)
            payload.writeJSON(to: &w)
            return w.string
        }
        _ = try await tx.rows(
            """
            INSERT INTO jobs (id, workspace_id, type, queue, state, priority, payload, run_at, max_attempts, timeout_seconds,
                              backoff_base_seconds, backoff_cap_seconds, scopes, created_by)
            SELECT u.id, \(tx.identity.workspaceID), \(definition.type), \(definition.queue), 'available',
                   \(Int32(priority ?? definition.priority)), u.payload::jsonb, now(), \(Int32(definition.maxAttempts)),
                   \(Int32(definition.timeoutSeconds)), \(Int32(definition.backoff.base)), \(Int32(definition.backoff.cap)),
                   \(tx.identity.scopes.sorted), \(tx.identity.actor)
            FROM unnest(\(ids)::uuid[], \(texts)::text[]) AS u (id, payload)
            """)
        _ = try await tx.rows("SELECT pg_notify(\(Self.channel), \(definition.queue))")
        return ids
    }

    /// Enqueues the body of `POST /v1/jobs` (`type`, `payload`, `priority`?, `run_at`?), every
    /// problem of which is reported at once with paths into the body (`/payload/agent_id`).
    public func enqueue(body: JSONValue, in tx: TenantTransaction) async throws -> Enqueued {
        let request = try Self.read(body, definitions: definitions)
        return try await insert(request.definition, payload: request.payload, priority: request.priority, runAt: request.runAt, in: tx)
    }

    struct EnqueueRequest {
        var definition: JobDefinition
        var payload: String
        var priority: Int?
        var runAt: Date?
    }

    static func read(_ body: JSONValue, definitions: [String: JobDefinition]) throws -> EnqueueRequest {
        guard case let .object(object) = body else {
            throw Problem.validationFailed([FieldProblem(path: "", code: .type, message: "must be a JSON object")])
        }
        var problems: [FieldProblem] = []
        for member in object where !["type", "payload", "priority", "run_at"].contains(member.key) {
            problems.append(FieldProblem(path: "/" + member.key, code: .unknownField, message: "is not a field of this request"))
        }
        var definition: JobDefinition?
        switch object["type"] {
        case let .string(name)?:
            definition = definitions[name]
            if definition == nil {
                let known = definitions.keys.sorted().joined(separator: ", ")
                problems.append(FieldProblem(path: "/type", code: .enum, message: "is not a job type of this API (one of: \(known))"))
            }
        case nil, .null?:
            problems.append(FieldProblem(path: "/type", code: .required, message: "is required"))
        default:
            problems.append(FieldProblem(path: "/type", code: .type, message: "must be a string"))
        }
        var payload: String?
        if let definition {
            switch definition.normalize(object["payload"] ?? .object(JSONObject())) {
            case let .valid(json): payload = json
            case let .invalid(found):
                problems += found.map { FieldProblem(path: "/payload" + $0.path, code: $0.code, message: $0.message) }
            }
        }
        var priority: Int?
        if let value = object["priority"], value != .null {
            if case let .integer(n) = value, priorities.contains(Int(n)) { priority = Int(n) } else {
                problems.append(FieldProblem(path: "/priority", code: .format,
                                             message: "must be an integer from \(priorities.lowerBound) to \(priorities.upperBound) (lower runs first)"))
            }
        }
        var runAt: Date?
        if let value = object["run_at"], value != .null {
            if case let .string(text) = value, let date = RFC3339.parse(text), date.timeIntervalSinceNow <= maxDelay {
                runAt = date
            } else {
                problems.append(FieldProblem(path: "/run_at", code: .format, message: "must be an RFC 3339 timestamp at most 366 days ahead"))
            }
        }
        guard problems.isEmpty, let definition, let payload else { throw Problem.validationFailed(problems) }
        return EnqueueRequest(definition: definition, payload: payload, priority: priority, runAt: runAt)
    }

    private func insert(
        _ definition: JobDefinition, payload: String, priority: Int?, runAt: Date?, in tx: TenantTransaction
    ) async throws -> Enqueued {
        try await JobQueue.traced("enqueue") {
            let workspace = tx.identity.workspaceID
            var uniqueKey: String?
            if let window = definition.uniqueForSeconds {
                let digest = Array(SHA256.hash(data: Array(payload.utf8))).hexString
                let key = definition.type + ":" + digest
                uniqueKey = key
                // Two enqueues of one key wait for each other here, so the second sees the first.
                _ = try await tx.rows("SELECT pg_advisory_xact_lock(hashtextextended(\(workspace.lowercasedString + "/" + key), 0))")
                let existing = try await tx.rows(
                    """
                    SELECT \(unescaped: JobRecord.columns) FROM jobs
                    WHERE workspace_id = \(workspace) AND unique_key = \(key)
                      AND created_at > now() - make_interval(secs => \(Double(window)))
                      AND state NOT IN ('cancelled', 'dead')
                    ORDER BY created_at DESC LIMIT 1
                    """)
                if let row = existing.first { return .existing(try JobRecord(row: row)) }
            }
            let delayed = runAt.map { $0 > Date() } ?? false
            let id = UUID.v7()
            let rows = try await tx.rows(
                """
                INSERT INTO jobs (id, workspace_id, type, queue, state, priority, payload, run_at, max_attempts, timeout_seconds,
                                  backoff_base_seconds, backoff_cap_seconds, scopes, unique_key, created_by)
                VALUES (\(id), \(workspace), \(definition.type), \(definition.queue), \(delayed ? "scheduled" : "available"),
                        \(Int32(priority ?? definition.priority)), \(payload)::jsonb, coalesce(\(runAt), now()), \(Int32(definition.maxAttempts)),
                        \(Int32(definition.timeoutSeconds)), \(Int32(definition.backoff.base)), \(Int32(definition.backoff.cap)),
                        \(tx.identity.scopes.sorted), \(uniqueKey), \(tx.identity.actor))
                RETURNING \(unescaped: JobRecord.columns)
                """)
            guard let row = rows.first else { throw Problem.internalError }
            let job = try JobRecord(row: row)
            return .created(delayed ? job : try await Self.handOff(job, in: tx))
        }
    }

    /// Hands a job just made available to a worker waiting on its queue, or announces it on
    /// the queue's channel (migrations 0021, 0022); either takes effect at commit, and only if
    /// it commits. Returns the job as it commits: a handed one is `running`, its attempt counted.
    private static func handOff(_ job: JobRecord, in tx: TenantTransaction) async throws -> JobRecord {
        let handed = try await tx.rows("SELECT trellis_jobs_hand_off(\(job.id), \(job.queue))").decode(Bool.self).first ?? false
        guard handed else { return job }
        var running = job
        running.state = .running
        running.attempts += 1
        // The hand-off's now(): the transaction's, as the record's updated_at.
        running.attemptedAt = job.updatedAt
        return running
    }

    /// One job of the caller's workspace.
    public static func get(_ id: UUID, in tx: some TenantSession) async throws -> JobRecord {
        try await JobQueue.traced("get") {
            let rows = try await tx.rows(
                "SELECT \(unescaped: JobRecord.columns) FROM jobs WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)")
            guard let row = rows.first else { throw notFound(id) }
            return try JobRecord(row: row)
        }
    }

    /// The workspace's jobs, newest first (ids are UUIDv7, so id order is creation order),
    /// optionally of one state and one type; `after` is the last id of the previous page.
    ///
    /// The state is written into the statement (a ``JobState`` raw value, never client text)
    /// and the page's start only when there is one, so the planner reads a page through
    /// `jobs_workspace_id_idx`, or `jobs_workspace_rare_state_idx` for a state it covers,
    /// from the page's start to its end (migration 0017).
    public static func list(
        state: JobState?, type: String?, limit: Int, after: UUID?, in tx: some TenantSession
    ) async throws -> [JobRecord] {
        try await JobQueue.traced("list") {
            let stateFilter = state.map { "AND state = '\($0.rawValue)'" } ?? ""
            let workspace = tx.identity.workspaceID
            let query: PostgresQuery =
                if let after {
                    """
                    SELECT \(unescaped: JobRecord.columns) FROM jobs
                    WHERE workspace_id = \(workspace) AND id < \(after) \(unescaped: stateFilter) AND (\(type)::text IS NULL OR type = \(type))
                    ORDER BY id DESC LIMIT \(limit)
                    """
                } else {
                    """
                    SELECT \(unescaped: JobRecord.columns) FROM jobs
                    WHERE workspace_id = \(workspace) \(unescaped: stateFilter) AND (\(type)::text IS NULL OR type = \(type))
                    ORDER BY id DESC LIMIT \(limit)
                    """
                }
            return try await tx.rows(query).map(JobRecord.init(row:))
        }
    }

    /// Stops a job: one that has not started is cancelled at once; a running one is asked to
    /// stop (`cancel_requested`), which its handler sees, and ends `cancelled`.
    public static func cancel(_ id: UUID, in tx: TenantTransaction) async throws -> JobRecord {
        try await JobQueue.traced("cancel") {
            let job = try await locked(id, in: tx)
            guard job.state.isPending else {
                throw Problem(ProblemCatalogue.jobStateConflict, detail: "The job is \(job.state.rawValue); only a job still to run can be cancelled")
            }
            let rows = try await tx.rows(
                """
                UPDATE jobs SET cancel_requested = true, updated_at = now(),
                    state = CASE WHEN state = 'running' THEN state ELSE 'cancelled' END,
                    finished_at = CASE WHEN state = 'running' THEN finished_at ELSE now() END
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
                RETURNING \(unescaped: JobRecord.columns)
                """)
            guard let row = rows.first else { throw notFound(id) }
            if job.state == .running {
                _ = try await tx.rows("SELECT pg_notify(\(cancelChannel), \(id.lowercasedString))")
            }
            return try JobRecord(row: row)
        }
    }

    /// Runs a dead or cancelled job again, now, with one more attempt if it had none left;
    /// its error history stays.
    public static func retry(_ id: UUID, in tx: TenantTransaction) async throws -> JobRecord {
        try await JobQueue.traced("retry") {
            let job = try await locked(id, in: tx)
            guard job.state == .dead || job.state == .cancelled else {
                throw Problem(ProblemCatalogue.jobStateConflict, detail: "The job is \(job.state.rawValue); only a dead or cancelled job can be retried")
            }
            let rows = try await tx.rows(
                """
                UPDATE jobs SET state = 'available', run_at = now(), cancel_requested = false, finished_at = NULL,
                    max_attempts = greatest(max_attempts, attempts + 1), updated_at = now()
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
                RETURNING \(unescaped: JobRecord.columns)
                """)
            guard let row = rows.first else { throw notFound(id) }
            return try await Self.handOff(try JobRecord(row: row), in: tx)
        }
    }

    /// A running job's progress (0…1) and message, recorded by the worker `worker` that holds
    /// it, with a `job.progress` event (the job as `GET /v1/jobs/{id}` shows it) for the
    /// realtime stream's `jobs` topic. Returns whether the job was asked to stop, or nil when
    /// `worker` no longer holds it.
    public static func reportProgress(
        _ id: UUID, worker: String, fraction: Double, message: String?, in tx: TenantTransaction
    ) async throws -> Bool? {
        let rows = try await tx.rows(progressStatement(id, worker: worker, fraction: fraction, message: message))
        guard let cancelRequested = try rows.first?.decode(Bool?.self) else { return nil }
        let job = try await get(id, in: tx)
        try await EventOutbox.write(type: "job.progress", resource: topic, id: id, in: tx) { job.writeJSON(to: &$0) }
        return cancelRequested
    }

    /// `trellis_jobs_progress`: the progress (0…1; a non-finite value counts as 0) and message of
    /// a job `worker` holds; answers whether it was asked to stop, null when not held.
    public static func progressStatement(_ id: UUID, worker: String, fraction: Double, message: String?) -> PostgresQuery {
        "SELECT trellis_jobs_progress(\(id), \(worker), \(fraction.isFinite ? fraction : 0), \(message))"
    }

    /// The realtime topic of job events (`?topics=jobs`, needs `jobs:read`).
    public static let topic = "jobs"

    private static func locked(_ id: UUID, in tx: TenantTransaction) async throws -> JobRecord {
        let rows = try await tx.rows(
            "SELECT \(unescaped: JobRecord.columns) FROM jobs WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id) FOR UPDATE")
        guard let row = rows.first else { throw notFound(id) }
        return try JobRecord(row: row)
    }

    /// Runs `body` as the service call `jobs.<operation>`: a span in a trace.
    static func traced<T>(_ operation: String, _ body: () async throws -> T) async rethrows -> T {
        try await Traced.call("jobs", operation, body)
    }

    static func notFound(_ id: UUID) -> Problem {
        Problem.notFound("No job with id \(id.lowercasedString)")
    }
}

/// The parameters of a job list (`GET /v1/jobs`, `jobs.list`): the page, and `state` and
/// `type` filters.
struct JobListQuery: Sendable {
    var page: IDPage
    var state: JobState?
    var type: String?
    /// Whether each job's own cursor is made (GraphQL's edges).
    var wantsItemCursors = false

    init(_ parameters: [(String, String)], services: TrellisServices, pathPrefix: String) throws {
        var state: JobState?
        var type: String?
        page = try IDPage(parameters, limits: services.pageLimits, keys: services.cursorKeys, pathPrefix: pathPrefix) { name, value, path, problems in
            switch name {
            case "state":
                state = JobState(rawValue: value)
                if state == nil {
                    problems.append(FieldProblem(path: path, code: .enum, message: "must be one of " + JobState.allCases.map(\.rawValue).joined(separator: ", ")))
                }
            case "type":
                if value.isEmpty || value.utf8.count > 200 || value.utf8.contains(0) {
                    problems.append(FieldProblem(path: path, code: .format, message: "must be a job type (1 to 200 characters, no NUL)"))
                } else {
                    type = value
                }
            default:
                return false
            }
            return true
        }
        self.state = state
        self.type = type
        keys = services.cursorKeys
    }

    /// The same, with the problems the adapter found itself (a parameter of the wrong JSON
    /// type, say) reported beside these, all at once.
    init(_ parameters: [(String, String)], besides earlier: [FieldProblem], services: TrellisServices, pathPrefix: String) throws {
        do {
            try self.init(parameters, services: services, pathPrefix: pathPrefix)
        } catch let problem as Problem {
            throw Problem.invalidQuery(earlier + problem.errors)
        }
        if !earlier.isEmpty { throw Problem.invalidQuery(earlier) }
    }

    private let keys: CursorKeys

    /// The page of jobs, newest first, with the cursor of the next.
    func run(in tx: some TenantSession) async throws -> Page<JobRecord> {
        let jobs = try await JobQueue.list(state: state, type: type, limit: page.limit + 1, after: page.after, in: tx)
        return IDPage.page(Array(jobs.prefix(page.limit)), hasMore: jobs.count > page.limit, keys: keys, itemCursors: wantsItemCursors, id: \.id)
    }
}
