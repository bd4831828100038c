import Foundation
import PostgresNIO
import TrellisTracing
import TrellisContract

/// A workspace's webhook endpoints and their deliveries (migration 0014): the rules behind
/// `/v1/webhook_endpoints` and `/v1/webhook_deliveries`. Every call runs in the caller's tenant
/// transaction, so row-level security keeps each workspace to its own rows.
public struct WebhookEndpoints: Sendable {
    let settings: WebhookSettings

    public init(settings: WebhookSettings) {
        self.settings = settings
    }

    /// What a create or an update sets (nil: unchanged on update).
    public struct Changes: Sendable {
        public var url: String?
        public var events: [String]?
        public var description: String??
        public var enabled: Bool?

        public init(url: String? = nil, events: [String]? = nil, description: String?? = nil, enabled: Bool? = nil) {
            self.url = url
            self.events = events
            self.description = description
            self.enabled = enabled
        }
    }

    /// A new endpoint with a new signing secret, which only this answer shows.
    public func create(_ changes: Changes, in tx: TenantTransaction) async throws -> WebhookEndpointRecord {
        try await Traced.call("webhook_endpoints", "create") {
            guard let url = changes.url, let events = changes.events else {
                throw Problem.validationFailed([FieldProblem(path: "/url", code: .required, message: "is required")])
            }
            let count = try await tx.rows("SELECT count(*) FROM webhook_endpoints WHERE workspace_id = \(tx.identity.workspaceID)")
                .first?.decode(Int.self) ?? 0
            guard count < settings.maxEndpoints else {
                throw Problem.validationFailed([FieldProblem(
                    path: "", code: .tooManyItems, message: "a workspace has at most \(settings.maxEndpoints) webhook endpoints")])
            }
            let id = UUID.v7()
            let secret = Self.newSecret()
            let sealed = try settings.secrets.seal(secret, endpoint: id)
            let rows = try await tx.rows(
                """
                INSERT INTO webhook_endpoints (id, workspace_id, url, events, description, enabled, scopes, secret_sealed)
                VALUES (\(id), \(tx.identity.workspaceID), \(url), \(events), \(changes.description ?? nil), \(changes.enabled ?? true),
                        \(tx.identity.scopes.scopes.sorted()), \(Data(sealed)))
                RETURNING \(unescaped: WebhookEndpointRecord.columns)
                """)
            var record = try WebhookEndpointRecord(row: rows[0], cooldown: settings.circuitCooldown)
            record.secret = secret
            return record
        }
    }

    public func get(_ id: UUID, in tx: some TenantSession) async throws -> WebhookEndpointRecord {
        try await Traced.call("webhook_endpoints", "get") {
            let rows = try await tx.rows(
                "SELECT \(unescaped: WebhookEndpointRecord.columns) FROM webhook_endpoints WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)")
            guard let row = rows.first else { throw Self.notFound(id) }
            return try WebhookEndpointRecord(row: row, cooldown: settings.circuitCooldown)
        }
    }

    /// Newest first; `after` is the last id of the previous page.
    public func list(limit: Int, after: UUID?, in tx: some TenantSession) async throws -> [WebhookEndpointRecord] {
        try await Traced.call("webhook_endpoints", "list") {
            try await tx.rows(
                """
                SELECT \(unescaped: WebhookEndpointRecord.columns) FROM webhook_endpoints
                WHERE workspace_id = \(tx.identity.workspaceID) AND (\(after)::uuid IS NULL OR id < \(after))
                ORDER BY id DESC LIMIT \(limit)
                """).map { try WebhookEndpointRecord(row: $0, cooldown: settings.circuitCooldown) }
        }
    }

    /// Changes what is given. Enabling an endpoint closes its circuit (the owner says it is
    /// fixed). The endpoint's scopes narrow to those the updater also holds, so a credential
    /// cannot point at its own server an endpoint that receives more than it may read.
    public func update(_ id: UUID, _ changes: Changes, in tx: TenantTransaction) async throws -> WebhookEndpointRecord {
        try await Traced.call("webhook_endpoints", "update") {
            let current = try await tx.rows(
                "SELECT scopes FROM webhook_endpoints WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id) FOR UPDATE")
            guard let held = try current.first?.decode([String].self) else { throw Self.notFound(id) }
            let scopes = Self.narrow(held, to: tx.identity.scopes)
            let description = changes.description.map { $0 ?? "" }
            let rows = try await tx.rows(
                """
                UPDATE webhook_endpoints SET url = coalesce(\(changes.url), url), events = coalesce(\(changes.events), events),
                    scopes = \(scopes),
                    description = CASE WHEN \(description)::text IS NULL THEN description ELSE nullif(\(description), '') END,
                    enabled = coalesce(\(changes.enabled), enabled),
                    failure_streak = CASE WHEN \(changes.enabled) THEN 0 ELSE failure_streak END,
                    circuit_opened_at = CASE WHEN \(changes.enabled) THEN NULL ELSE circuit_opened_at END,
                    circuit_probe_at = CASE WHEN \(changes.enabled) THEN NULL ELSE circuit_probe_at END,
                    updated_at = now()
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
                RETURNING \(unescaped: WebhookEndpointRecord.columns)
                """)
            guard let row = rows.first else { throw Self.notFound(id) }
            return try WebhookEndpointRecord(row: row, cooldown: settings.circuitCooldown)
        }
    }

    /// Deletes the endpoint and its deliveries; their jobs find nothing to send and end.
    public func delete(_ id: UUID, in tx: TenantTransaction) async throws {
        try await Traced.call("webhook_endpoints", "delete") {
            let rows = try await tx.rows(
                "DELETE FROM webhook_endpoints WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id) RETURNING id")
            if rows.isEmpty { throw Self.notFound(id) }
        }
    }

    /// The endpoint's deliveries, newest first.
    public func deliveries(of endpoint: UUID, limit: Int, after: UUID?, in tx: some TenantSession) async throws -> [WebhookDeliveryRecord] {
        try await Traced.call("webhook_endpoints", "deliveries") {
            _ = try await get(endpoint, in: tx)
            return try await tx.rows(
                """
                SELECT \(unescaped: WebhookDeliveryRecord.columns) FROM webhook_deliveries
                WHERE workspace_id = \(tx.identity.workspaceID) AND endpoint_id = \(endpoint) AND (\(after)::uuid IS NULL OR id < \(after))
                ORDER BY id DESC LIMIT \(limit)
                """).map(WebhookDeliveryRecord.init(row:))
        }
    }

    public func delivery(_ id: UUID, in tx: some TenantSession) async throws -> WebhookDeliveryRecord {
        try await Traced.call("webhook_endpoints", "delivery") {
            let rows = try await tx.rows(
                "SELECT \(unescaped: WebhookDeliveryRecord.columns) FROM webhook_deliveries WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)")
            guard let row = rows.first else { throw Problem.notFound("No webhook delivery with id \(id.lowercasedString)") }
            return try WebhookDeliveryRecord(row: row)
        }
    }

    /// Sends a delivery again: a new job with a fresh set of attempts. 409 while one is still
    /// to run (the delivery is `pending`).
    public func redeliver(_ id: UUID, in tx: TenantTransaction) async throws -> WebhookDeliveryRecord {
        try await Traced.call("webhook_endpoints", "redeliver") {
            let current = try await tx.rows(
                "SELECT state FROM webhook_deliveries WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id) FOR UPDATE")
            guard let state = try current.first?.decode(String.self) else {
                throw Problem.notFound("No webhook delivery with id \(id.lowercasedString)")
            }
            guard state != "pending" else {
                throw Problem(ProblemCatalogue.jobStateConflict, detail: "The delivery is still pending; redeliver it once it has succeeded or failed")
            }
            let job = UUID.v7()
            _ = try await tx.rows(
                """
                INSERT INTO jobs (id, workspace_id, type, queue, state, priority, payload, max_attempts, timeout_seconds,
                                  backoff_base_seconds, backoff_cap_seconds, scopes, created_by)
                VALUES (\(job), \(tx.identity.workspaceID), \(WebhookSettings.jobType), \(WebhookSettings.queue), 'available', 0,
                        jsonb_build_object('delivery_id', \(id)::text), \(Int32(settings.maxAttempts)),
                        \(Int32(settings.timeout.components.seconds + 5)), \(Int32(settings.backoff.base)), \(Int32(settings.backoff.cap)),
                        '{}', \(tx.identity.actor))
                """)
            _ = try await tx.rows("SELECT pg_notify('trellis_jobs', \(WebhookSettings.queue))")
            let rows = try await tx.rows(
                """
                UPDATE webhook_deliveries SET state = 'pending', job_id = \(job), updated_at = now()
                WHERE workspace_id = \(tx.identity.workspaceID) AND id = \(id)
                RETURNING \(unescaped: WebhookDeliveryRecord.columns)
                """)
            return try WebhookDeliveryRecord(row: rows[0])
        }
    }

    /// The scopes of `held` that `caller` also allows (`*` narrows to the caller's own).
    static func narrow(_ held: [String], to caller: ScopeSet) -> [String] {
        var kept = Set<String>()
        for scope in held {
            if scope == ScopeSet.all {
                kept.formUnion(caller.scopes.filter { $0 != ScopeSet.platformAdmin })
            } else if caller.allows(scope) {
                kept.insert(scope)
            }
        }
        return kept.sorted()
    }

    static func notFound(_ id: UUID) -> Problem {
        Problem.notFound("No webhook endpoint with id \(id.lowercasedString)")
    }

    /// `whsec_` and 32 random bytes in base64url.
    static func newSecret() -> String {
        var generator = SystemRandomNumberGenerator()
        return "whsec_" + Base64URL.encode((0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
    }
}

/// One endpoint as the API shows it: `{"id","object":"webhook_endpoint","url","events",
/// "description","enabled","scopes","circuit":{"state","failure_streak","opened_at"},"created_at",
/// "updated_at"}`, plus `"secret"` in the answer that created it (and never again).
public struct WebhookEndpointRecord: Sendable, JSONWritable {
    public var id: UUID
    public var url: String
    public var events: [String]
    public var description: String?
    public var enabled: Bool
    /// What its events are limited to: the scopes of the credential that made it, narrowed by
    /// each credential that changed it.
    public var scopes: [String]
    public var failureStreak: Int
    public var circuitOpenedAt: Date?
    public var createdAt: Date
    public var updatedAt: Date
    public var secret: String?
    /// `closed`, `open` (no calls until the cool-down ends), or `half_open` (the next delivery
    /// is a probe).
    public var circuit: String

    static let columns = "id, url, events, description, enabled, scopes, failure_streak, circuit_opened_at, created_at, updated_at"

    init(row: PostgresRow, cooldown: Duration) throws {
        let streak: Int32
        (id, url, events, description, enabled, scopes, streak, circuitOpenedAt, createdAt, updatedAt) =
            try row.decode((UUID, String, [String], String?, Bool, [String], Int32, Date?, Date, Date).self)
        failureStreak = Int(streak)
        if let opened = circuitOpenedAt {
            circuit = Date().timeIntervalSince(opened) < Double(cooldown.components.seconds) ? "open" : "half_open"
        } else {
            circuit = "closed"
        }
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("object"); w.value("webhook_endpoint")
        w.key("url"); w.value(url)
        w.key("events"); w.beginArray(); for event in events { w.value(event) }; w.endArray()
        w.key("description"); if let description { w.value(description) } else { w.null() }
        w.key("enabled"); w.value(enabled)
        w.key("scopes"); w.beginArray(); for scope in scopes { w.value(scope) }; w.endArray()
        w.key("circuit")
        w.beginObject()
        w.key("state"); w.value(circuit)
        w.key("failure_streak"); w.value(Int64(failureStreak))
        w.key("opened_at"); if let circuitOpenedAt { w.value(circuitOpenedAt) } else { w.null() }
        w.endObject()
        if let secret { w.key("secret"); w.value(secret) }
        w.key("created_at"); w.value(createdAt)
        w.key("updated_at"); w.value(updatedAt)
        w.endObject()
    }
}

/// One delivery: `{"id","object":"webhook_delivery","endpoint_id","event_id","event_type",
/// "state","attempts","job_id","log":[{"attempt","at","status","latency_ms","error"}],
/// "event","created_at","updated_at"}`.
public struct WebhookDeliveryRecord: Sendable, JSONWritable {
    public var id: UUID
    public var endpointID: UUID
    public var eventID: UUID
    public var eventType: String
    public var state: String
    public var attempts: Int
    public var jobID: UUID
    /// JSON text.
    public var log: String
    /// The request body (JSON text).
    public var payload: String
    public var createdAt: Date
    public var updatedAt: Date

    static let columns = "id, endpoint_id, event_id, event_type, state, attempts, job_id, log::text, payload, created_at, updated_at"

    init(row: PostgresRow) throws {
        let attempts: Int32
        (id, endpointID, eventID, eventType, state, attempts, jobID, log, payload, createdAt, updatedAt) =
            try row.decode((UUID, UUID, UUID, String, String, Int32, UUID, String, String, Date, Date).self)
        self.attempts = Int(attempts)
    }

    public func writeJSON(to w: inout JSONWriter) {
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("object"); w.value("webhook_delivery")
        w.key("endpoint_id"); w.value(endpointID)
        w.key("event_id"); w.value(eventID)
        w.key("event_type"); w.value(eventType)
        w.key("state"); w.value(state)
        w.key("attempts"); w.value(Int64(attempts))
        w.key("job_id"); w.value(jobID)
        w.key("log"); w.raw(Array(log.utf8))
        w.key("event"); w.raw(Array(payload.utf8))
        w.key("created_at"); w.value(createdAt)
        w.key("updated_at"); w.value(updatedAt)
        w.endObject()
    }
}
