import Foundation
import TrellisJobs
import TrellisRuntime

// The handlers of the job types in schema/jobs.yaml. Each checks the scope its work needs
// (a job acts with the scopes of the credential that enqueued it), reads and writes through
// the same service calls as the API, and reports progress.

extension TrellisApp {
    /// Every job type's handler, for `trellis worker` and `serve --with-worker`.
    public static var jobHandlers: JobHandlers {
        var handlers = JobHandlers()
        handlers.register(GenerateAgentSummary())
        handlers.register(ReindexMessages())
        handlers.register(SummarizeSwarm())
        handlers.register(CleanupMessages())
        handlers.register(Wait())
        return handlers
    }
}

/// `agents.generate_summary`: reads the agent and stores a short description of its setup as
/// the job's result, in three reported steps.
struct GenerateAgentSummary: JobHandler {
    func run(_ payload: AgentsGenerateSummaryPayload, context: JobContext) async throws -> JSONValue? {
        try context.authorized(for: Agent.descriptor.readScope)
        try await context.progress(0.1, message: "reading the agent")
        let agent = try await context.transaction { try await ResourceService<Agent>().get(payload.agentID, in: $0) }
        try await context.progress(0.5, message: "summarizing")
        var parts = ["\(agent.name) runs on \(agent.model.rawValue) at temperature \(agent.temperature)"]
        if let role = agent.role { parts.append("as \(role)") }
        if let tags = agent.tags, !tags.isEmpty { parts.append("tagged " + tags.joined(separator: ", ")) }
        parts.append(agent.isActive ? "and is active" : "and is inactive")
        let prompt = agent.systemPrompt.map { $0.split(whereSeparator: \.isWhitespace).count } ?? 0
        try await context.progress(0.9, message: "storing the summary")
        return .object(JSONObject([
            "agent_id": .string(agent.id.lowercasedString),
            "summary": .string(parts.joined(separator: " ") + "."),
            "system_prompt_words": .integer(Int64(prompt)),
        ]))
    }
}

/// `messages.reindex`: rewrites the messages of one swarm (or of the workspace) in batches, so
/// Postgres recomputes their stored search vectors; reports progress per batch.
struct ReindexMessages: JobHandler {
    static let batch = 500

    func run(_ payload: MessagesReindexPayload, context: JobContext) async throws -> JSONValue? {
        try context.authorized(for: Message.descriptor.writeScope)
        let total = try await context.transaction { tx in
            try await tx.rows(
                "SELECT count(*) FROM messages WHERE workspace_id = \(tx.identity.workspaceID) AND (\(payload.swarmID)::uuid IS NULL OR swarm_id = \(payload.swarmID))"
            ).first?.decode(Int.self) ?? 0
        }
        var done = 0
        var after: UUID?
        while true {
            try context.checkStop()
            let ids = try await context.transaction { tx in
                try await tx.rows(
                    """
                    UPDATE messages SET content = content WHERE workspace_id = \(tx.identity.workspaceID) AND id IN (
                        SELECT id FROM messages WHERE workspace_id = \(tx.identity.workspaceID)
                          AND (\(payload.swarmID)::uuid IS NULL OR swarm_id = \(payload.swarmID))
                          AND (\(after)::uuid IS NULL OR id > \(after))
                        ORDER BY id LIMIT \(Self.batch))
                    RETURNING id
                    """
                ).map { try $0.decode(UUID.self) }
            }
            guard let last = ids.max() else { break }
            after = last
            done += ids.count
            try await context.progress(total == 0 ? 1 : Double(done) / Double(total), message: "\(done) of \(total) messages")
        }
        return .object(JSONObject(["messages": .integer(Int64(done))]))
    }
}

/// `swarms.summarize`: counts the swarm's messages by role into the job's result.
struct SummarizeSwarm: JobHandler {
    func run(_ payload: SwarmsSummarizePayload, context: JobContext) async throws -> JSONValue? {
        try context.authorized(for: Swarm.descriptor.readScope)
        try context.authorized(for: Message.descriptor.readScope)
        let swarm = try await context.transaction { try await ResourceService<Swarm>().get(payload.swarmID, in: $0) }
        let counts = try await context.transaction { tx in
            try await tx.rows(
                "SELECT role, count(*) FROM messages WHERE workspace_id = \(tx.identity.workspaceID) AND swarm_id = \(swarm.id) GROUP BY role ORDER BY role"
            ).map { try $0.decode((String, Int).self) }
        }
        let byRole = JSONObject(counts.map { JSONObject.Member(key: $0.0, value: .integer(Int64($0.1))) })
        return .object(JSONObject([
            "swarm_id": .string(swarm.id.lowercasedString),
            "messages_by_role": .object(byRole),
        ]))
    }
}

/// `messages.cleanup`: deletes the workspace's messages older than `older_than_days`.
struct CleanupMessages: JobHandler {
    func run(_ payload: MessagesCleanupPayload, context: JobContext) async throws -> JSONValue? {
        try context.authorized(for: Message.descriptor.writeScope)
        let deleted = try await context.transaction { tx in
            try await tx.rows(
                """
                WITH gone AS (DELETE FROM messages WHERE workspace_id = \(tx.identity.workspaceID)
                    AND created_at < now() - make_interval(days => \(Int32(payload.olderThanDays))) RETURNING 1)
                SELECT count(*) FROM gone
                """
            ).first?.decode(Int.self) ?? 0
        }
        return .object(JSONObject(["deleted": .integer(Int64(deleted))]))
    }
}

/// `demo.wait`: waits `milliseconds` (stopping at once when cancelled or shut down), then
/// completes with `{"waited_ms"}`. Needs no scope: it touches no data.
struct Wait: JobHandler {
    func run(_ payload: DemoWaitPayload, context: JobContext) async throws -> JSONValue? {
        if payload.milliseconds > 0 { try await Task.sleep(for: .milliseconds(payload.milliseconds)) }
        return .object(JSONObject(["waited_ms": .integer(payload.milliseconds)]))
    }
}
