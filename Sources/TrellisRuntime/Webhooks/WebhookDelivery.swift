import Crypto
import Foundation
import PostgresNIO

/// The payload of a `webhooks.deliver` job: which delivery to send.
public struct WebhookDeliveryPayload: JobPayload {
    public static let jobType = WebhookSettings.jobType
    public var deliveryID: UUID

    public init(deliveryID: UUID) {
        self.deliveryID = deliveryID
    }

    public static func validate(_ json: JSONValue) -> Validated<WebhookDeliveryPayload> {
        guard case let .object(object) = json, case let .string(text)? = object["delivery_id"], let id = UUID(uuidString: text) else {
            return .invalid([FieldProblem(path: "/delivery_id", code: .format, message: "must be a delivery id")])
        }
        return .valid(WebhookDeliveryPayload(deliveryID: id))
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("delivery_id"); w.value(deliveryID)
        w.endObject()
    }
}

extension WebhookSettings {
    /// The delivery job's options, for the worker that serves the `webhooks` queue.
    public var jobDefinition: JobDefinition {
        JobDefinition(
            WebhookDeliveryPayload.self, description: "Sends one webhook delivery", queue: Self.queue, priority: 0,
            maxAttempts: maxAttempts, backoff: backoff, timeoutSeconds: Int(timeout.components.seconds) + 5, uniqueForSeconds: nil)
    }
}

/// `Trellis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" under the
/// endpoint's secret>` — the scheme receivers check (docs/operations.md "Webhooks").
public enum WebhookSignature {
    public static let header = "Trellis-Signature"

    public static func value(secret: String, timestamp: Int, body: [UInt8]) -> String {
        let signed = Array("\(timestamp).".utf8) + body
        let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: Array(secret.utf8)))
        return "t=\(timestamp),v1=\(Array(mac).hexString)"
    }
}

/// What a `webhooks.deliver` job reads and writes about its delivery (migration 0014), in the
/// job's workspace.
public enum WebhookDeliveries {
    /// A delivery with its endpoint, as the sender needs it.
    public struct Target: Sendable {
        public var deliveryID: UUID
        public var endpointID: UUID
        public var eventID: UUID
        public var state: String
        public var payload: String
        public var url: String
        public var enabled: Bool
        public var sealedSecret: [UInt8]
        /// How long the endpoint's circuit has been open, or nil while it is closed.
        public var openFor: Double?
    }

    public static func target(_ id: UUID, in tx: TenantTransaction) async throws -> Target? {
        let rows = try await tx.rows(
            """
            SELECT d.id, d.endpoint_id, d.event_id, d.state, d.payload, e.url, e.enabled, e.secret_sealed,
                   extract(epoch FROM now() - e.circuit_opened_at)::double precision
            FROM webhook_deliveries d JOIN webhook_endpoints e ON e.id = d.endpoint_id
            WHERE d.workspace_id = \(tx.identity.workspaceID) AND d.id = \(id)
            """)
        guard let row = rows.first else { return nil }
        let (deliveryID, endpointID, eventID, state, payload, url, enabled, secret, openFor) =
            try row.decode((UUID, UUID, UUID, String, String, String, Bool, Data, Double?).self)
        return Target(
            deliveryID: deliveryID, endpointID: endpointID, eventID: eventID, state: state, payload: payload, url: url, enabled: enabled,
            sealedSecret: Array(secret), openFor: openFor)
    }

    /// Takes the half-open circuit's one probe for this delivery: true when no other delivery
    /// holds it (or the holder's took longer than `stale`, so it died).
    public static func takeProbe(endpoint: UUID, stale: Duration, in tx: TenantTransaction) async throws -> Bool {
        try await !tx.rows(
            """
            UPDATE webhook_endpoints SET circuit_probe_at = now()
            WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(endpoint) AND circuit_opened_at IS NOT NULL
              AND (circuit_probe_at IS NULL OR circuit_probe_at < now() - make_interval(secs => \(Double(stale.components.seconds))))
            RETURNING id
            """).isEmpty
    }

    /// One attempt's end, in the delivery's log (the last 50 kept) and in its endpoint's
    /// circuit: a success closes it; a failure lengthens the streak, and opens it at
    /// `threshold` straight failures (or reopens it after a failed probe). `final`: no attempt
    /// follows, so a failure leaves the delivery `failed`.
    public static func record(
        _ target: Target, attempt: Int, status: Int?, latencyMilliseconds: Int, error: String?, final: Bool, threshold: Int,
        in tx: TenantTransaction
    ) async throws {
        let succeeded = error == nil
        var w = JSONWriter(capacity: 160)
        w.beginObject()
        w.key("attempt"); w.value(Int64(attempt))
        w.key("at"); w.value(Date())
        w.key("status"); if let status { w.value(Int64(status)) } else { w.null() }
        w.key("latency_ms"); w.value(Int64(latencyMilliseconds))
        w.key("error"); if let error { w.value(String(error.prefix(500))) } else { w.null() }
        w.endObject()
        let state = succeeded ? "succeeded" : (final ? "failed" : "pending")
        _ = try await tx.rows(
            """
            UPDATE webhook_deliveries SET state = \(state), attempts = attempts + 1, updated_at = now(),
                log = (SELECT coalesce(jsonb_agg(entry ORDER BY n), '[]') FROM (
                          SELECT entry, n FROM jsonb_array_elements(log || jsonb_build_array(\(w.string)::jsonb)) WITH ORDINALITY AS l(entry, n)
                          ORDER BY n DESC LIMIT 50) kept)
            WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(target.deliveryID)
            """)
        if succeeded {
            _ = try await tx.rows(
                """
                UPDATE webhook_endpoints SET failure_streak = 0, circuit_opened_at = NULL, circuit_probe_at = NULL
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(target.endpointID)
                  AND (failure_streak <> 0 OR circuit_opened_at IS NOT NULL)
                """)
        } else {
            _ = try await tx.rows(
                """
                UPDATE webhook_endpoints SET failure_streak = failure_streak + 1, circuit_probe_at = NULL,
                    circuit_opened_at = CASE
                        WHEN circuit_opened_at IS NOT NULL AND circuit_probe_at IS NOT NULL THEN now()
                        WHEN circuit_opened_at IS NULL AND failure_streak + 1 >= \(Int32(threshold)) THEN now()
                        ELSE circuit_opened_at END
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(target.endpointID)
                """)
        }
    }

    /// Marks a delivery failed without a call (its endpoint was disabled).
    public static func abandon(_ target: Target, reason: String, in tx: TenantTransaction) async throws {
        var w = JSONWriter(capacity: 120)
        w.beginObject()
        w.key("at"); w.value(Date())
        w.key("error"); w.value(reason)
        w.endObject()
        _ = try await tx.rows(
            """
            UPDATE webhook_deliveries SET state = 'failed', updated_at = now(), log = log || jsonb_build_array(\(w.string)::jsonb)
            WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(target.deliveryID)
            """)
    }
}
