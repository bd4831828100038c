import Foundation
import PostgresNIO

/// One job as the API shows it (DESIGN.md §5.1): `{"id","object":"job","type","queue","state",
/// "priority","payload","run_at","attempts","max_attempts","progress","message","result",
/// "errors","cancel_requested","created_by","created_at","updated_at","attempted_at","finished_at"}`.
public struct JobRecord: Sendable, JSONWritable {
    public var id: UUID
    public var workspaceID: UUID?
    public var type: String
    public var queue: String
    public var state: JobState
    public var priority: Int
    /// JSON text, as stored.
    public var payload: String
    public var runAt: Date
    public var attempts: Int
    public var maxAttempts: Int
    public var progress: Double
    public var message: String?
    /// JSON text, once completed with a result.
    public var result: String?
    /// JSON text: `[{"attempt","at","error"}, …]`, one per failed attempt.
    public var errors: String
    public var cancelRequested: Bool
    public var createdBy: String
    public var createdAt: Date
    public var updatedAt: Date
    public var attemptedAt: Date?
    public var finishedAt: Date?

    static let columns = """
        id, workspace_id, type, queue, state, priority, payload::text, run_at, attempts, max_attempts, progress, message, \
        result::text, errors::text, cancel_requested, created_by, created_at, updated_at, attempted_at, finished_at
        """

    init(row: PostgresRow) throws {
        let stateName: String
        let priority: Int32, attempts: Int32, maxAttempts: Int32
        (id, workspaceID, type, queue, stateName, priority, payload, runAt, attempts, maxAttempts, progress, message) =
            try row.decode((UUID, UUID?, String, String, String, Int32, String, Date, Int32, Int32, Double, String?).self)
        let cells = row.makeRandomAccess()
        result = try cells[12].decode(String?.self)
        errors = try cells[13].decode(String.self)
        cancelRequested = try cells[14].decode(Bool.self)
        createdBy = try cells[15].decode(String.self)
        createdAt = try cells[16].decode(Date.self)
        updatedAt = try cells[17].decode(Date.self)
        attemptedAt = try cells[18].decode(Date?.self)
        finishedAt = try cells[19].decode(Date?.self)
        state = JobState(rawValue: stateName) ?? .dead
        self.priority = Int(priority)
        self.attempts = Int(attempts)
        self.maxAttempts = Int(maxAttempts)
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("object"); w.value("job")
        w.key("workspace_id"); if let workspaceID { w.value(workspaceID) } else { w.null() }
        w.key("type"); w.value(type)
        w.key("queue"); w.value(queue)
        w.key("state"); w.value(state.rawValue)
        w.key("priority"); w.value(Int64(priority))
        w.key("payload"); w.raw(Array(payload.utf8))
        w.key("run_at"); w.value(runAt)
        w.key("attempts"); w.value(Int64(attempts))
        w.key("max_attempts"); w.value(Int64(maxAttempts))
        w.key("progress"); w.value(progress)
        w.key("message"); if let message { w.value(message) } else { w.null() }
        w.key("result"); if let result { w.raw(Array(result.utf8)) } else { w.null() }
        w.key("errors"); w.raw(Array(errors.utf8))
        w.key("cancel_requested"); w.value(cancelRequested)
        w.key("created_by"); w.value(createdBy)
        w.key("created_at"); w.value(createdAt)
        w.key("updated_at"); w.value(updatedAt)
        w.key("attempted_at"); if let attemptedAt { w.value(attemptedAt) } else { w.null() }
        w.key("finished_at"); if let finishedAt { w.value(finishedAt) } else { w.null() }
        w.endObject()
    }
}

/// The states of DESIGN.md §7.
public enum JobState: String, Sendable, CaseIterable {
    /// Waiting for its `run_at`.
    case scheduled
    /// Ready for a worker.
    case available
    /// Held by a worker under a lease.
    case running
    /// Failed, waiting for its backoff to pass.
    case retryable
    case completed
    case cancelled
    /// Out of attempts; kept with its errors, retryable through the API.
    case dead

    /// Still to run (or running): the states a cancel stops.
    public var isPending: Bool { [.scheduled, .available, .running, .retryable].contains(self) }
}
