import Foundation
import TrellisRuntime

/// Runs `trellis.retention` jobs: applies the schema's retention rules in the job's workspace
/// (``Retention``), each batch in its own transaction, and records one summary audit entry when
/// the run removed anything. Its result is the rows removed per resource.
struct RetentionRunner: JobHandler {
    let rules: [RetentionRule]

    func run(_ payload: RetentionPayload, context: JobContext) async throws -> JSONValue? {
        let outcome = try await Retention.run(
            rules,
            transaction: { body in
                try context.checkStop()
                return try await context.transaction(body)
            },
            audit: { outcome in
                try await context.transaction { tx in try await AuditLog.record(Retention.auditEntry(outcome, rules: rules), in: tx) }
            })
        return .object(JSONObject(rules.map { .init(key: $0.resource, value: .integer(Int64(outcome.removed[$0.resource] ?? 0))) }))
    }
}
