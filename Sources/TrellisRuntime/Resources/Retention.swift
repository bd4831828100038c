import Foundation
import Logging
import PostgresNIO

/// A resource's `retention` from the schema: rows whose `created_at` is older than `after`
/// are deleted, or moved to `archived_rows` (their JSON, restorable by SQL), by the hourly
/// `trellis.retention` job in each workspace.
public struct RetentionRule: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        case delete
        case archive
    }

    /// The resource's path (`messages`), as audit entries and archived rows name it.
    public var resource: String
    public var table: String
    public var action: Action
    public var after: Duration

    public init(resource: String, table: String, action: Action, after: Duration) {
        self.resource = resource
        self.table = table
        self.action = action
        self.after = after
    }
}

/// The payload of a `trellis.retention` job: none (the rules are the schema's).
public struct RetentionPayload: JobPayload {
    public static let jobType = "trellis.retention"

    public init() {}

    public static func validate(_ json: JSONValue) -> Validated<RetentionPayload> {
        guard case let .object(members) = json, members.members.isEmpty else {
            return .invalid([FieldProblem(path: "", code: .unknownField, message: "takes no fields")])
        }
        return .valid(RetentionPayload())
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.endObject()
    }
}

/// Applies the retention rules in one workspace, in bounded batches, each its own transaction
/// (so no run holds locks long), and records one audit entry per run that removed anything.
public enum Retention {
    /// Rows removed per statement.
    public static let batchSize = 1000
    /// Statements per resource per run: at most `batchSize × maxBatches` rows a run; the next
    /// hour's run carries on.
    public static let maxBatches = 100

    /// The built-in job that applies the rules, on the `maintenance` queue.
    public static let jobDefinition = JobDefinition(
        RetentionPayload.self, description: "Applies the schema's retention rules in one workspace", queue: "maintenance",
        priority: 10, maxAttempts: 3, backoff: JobBackoff(base: 60, cap: 600), timeoutSeconds: 3600, uniqueForSeconds: nil)

    /// Hourly at minute 17, once per workspace; a run still going skips the next tick.
    public static let schedule = ScheduleDefinition(
        name: "trellis.retention", job: RetentionPayload.jobType, cron: "17 * * * *", minutes: [17], hours: Array(0...23),
        daysOfMonth: Array(1...31), months: Array(1...12), daysOfWeek: Array(0...6), timeZone: "UTC", overlap: .skip)

    /// What one run removed: rows per resource.
    public struct Outcome: Sendable, Hashable {
        public var removed: [String: Int] = [:]
        public var total: Int { removed.values.reduce(0, +) }
    }

    /// Removes what `rules` say is past its time from the workspace `transaction` runs in.
    /// `transaction` runs its body in one tenant transaction of the workspace each time.
    public static func run(
        _ rules: [RetentionRule], batchSize: Int = batchSize, maxBatches: Int = maxBatches,
        transaction: (@Sendable (TenantTransaction) async throws -> Int) async throws -> Int,
        audit: (Outcome) async throws -> Void
    ) async throws -> Outcome {
        var outcome = Outcome()
        for rule in rules {
            var removed = 0
            for _ in 0..<maxBatches {
                let count = try await transaction { tx in try await removeBatch(rule, limit: batchSize, in: tx) }
                removed += count
                if count < batchSize { break }
            }
            if removed > 0 { outcome.removed[rule.resource] = removed }
        }
        if outcome.total > 0 { try await audit(outcome) }
        return outcome
    }

    /// One batch: the oldest rows past the cutoff, deleted or moved to `archived_rows` in one statement.
    static func removeBatch(_ rule: RetentionRule, limit: Int, in tx: TenantTransaction) async throws -> Int {
        let table = Migrator.quoteIdentifier(rule.table)
        let seconds = Double(rule.after.components.seconds)
        let picked = """
            SELECT id FROM \(table) WHERE workspace_id = $1 AND created_at < now() - make_interval(secs => $2)
            ORDER BY created_at LIMIT $3
            """
        var binds = PostgresBindings()
        binds.append(tx.identity.workspaceID)
        binds.append(seconds)
        binds.append(Int32(limit))
        let sql: String
        switch rule.action {
        case .delete:
            sql = "WITH gone AS (DELETE FROM \(table) WHERE id IN (\(picked)) RETURNING 1) SELECT count(*)::bigint FROM gone"
        case .archive:
            binds.append(rule.resource)
            sql = """
                WITH moved AS (DELETE FROM \(table) WHERE id IN (\(picked)) RETURNING *),
                     kept AS (INSERT INTO archived_rows (workspace_id, resource, id, created_at, data)
                              SELECT m.workspace_id, $4, m.id, m.created_at, to_jsonb(m) - 'search_vector' FROM moved m RETURNING 1)
                SELECT count(*)::bigint FROM kept
                """
        }
        let rows = try await tx.connection.rows(PostgresQuery(unsafeSQL: sql, binds: binds), logger: tx.logger)
        let count = Int(try rows.first?.decode(Int64.self) ?? 0)
        // Cached reads of the table move on, as after any delete (read-your-writes holds).
        if count > 0 { tx.writes?.record(rule.table, deleting: true) }
        return count
    }

    /// The summary audit entry of a run: rows removed per resource.
    public static func auditEntry(_ outcome: Outcome, rules: [RetentionRule]) -> AuditEntry {
        var members: [(String, JSONValue)] = []
        for rule in rules {
            guard let count = outcome.removed[rule.resource] else { continue }
            members.append((rule.resource, .object(JSONObject([
                "action": .string(rule.action == .delete ? "deleted" : "archived"),
                "rows": .integer(Int64(count)),
                "older_than_seconds": .integer(Int64(rule.after.components.seconds)),
            ]))))
        }
        return AuditEntry(
            action: "retention.applied", resource: "retention", resourceID: "", after: .object(JSONObject(members.map { .init(key: $0.0, value: $0.1) })))
    }
}

extension APIDefinition {
    /// `api.jobs` and `api.schedules` plus the built-in `trellis.retention` when any resource
    /// has a retention rule: what the scheduler fires and the worker serves (the API's
    /// `POST /v1/jobs` takes only the types of `jobs.yaml`).
    public var scheduledJobs: (jobs: [JobDefinition], schedules: [ScheduleDefinition]) {
        guard !retention.isEmpty else { return (jobs, schedules) }
        return (jobs + [Retention.jobDefinition], schedules + [Retention.schedule])
    }
}
