import Foundation
import PostgresNIO

/// Writes a resource write's realtime event into the outbox, in the write's own transaction
/// (migration 0011): the event exists if and only if the write commits. The ``EventRelay``
/// moves it to Redis after the commit.
///
/// The event is written once, as clients will read it:
/// `{"event_id","type","resource","resource_id","workspace_id","actor","occurred_at","data"}`,
/// `type` being `<resource>.<created|updated|deleted>` (`agent.created`) and `data` the object
/// as the REST API returns it (for a delete, as it was).
enum EventOutbox {
    static func record(
        _ verb: String, _ object: some Resource, descriptor d: ResourceDescriptor, in tx: TenantTransaction
    ) async throws {
        guard d.events else { return }
        try await write(type: d.eventName + "." + verb, resource: d.path, id: object.id, in: tx) { object.writeJSON(to: &$0) }
    }

    /// Writes one event of `type` about `resource`'s object `id`, its `data` written by `data`,
    /// when the transaction records events (realtime is on).
    static func write(
        type: String, resource: String, id: UUID, in tx: TenantTransaction, data: (inout JSONWriter) -> Void
    ) async throws {
        guard let writes = tx.writes, writes.recordsEvents else { return }
        let eventID = UUID.v7()
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.key("event_id"); w.value(eventID)
        w.key("type"); w.value(type)
        w.key("resource"); w.value(resource)
        w.key("resource_id"); w.value(id)
        w.key("workspace_id"); w.value(tx.identity.workspaceID)
        w.key("actor"); w.value(tx.identity.actor)
        w.key("occurred_at"); w.value(Date())
        w.key("data"); data(&w)
        w.endObject()
        try await tx.connection.rows(
            "INSERT INTO event_outbox (workspace_id, event_id, payload) VALUES (\(tx.identity.workspaceID), \(eventID), \(w.string))",
            logger: tx.logger)
        writes.recordEvent()
    }
}
