/// An operation the runtime implements by hand (API keys, platform admin) rather than from
/// the schema. The runtime registers these routes; the generator documents them from this
/// list, so the document cannot forget one the catalogue knows.
public struct HandWrittenOperation: Sendable, Hashable {
    public enum Method: String, Sendable { case get = "GET", post = "POST", patch = "PATCH", delete = "DELETE" }
    /// How the body and the success response look, for the document.
    public enum Shape: String, Sendable {
        /// Request body `{name?, scopes, expires_at?}`; 201 with the key and its secret.
        case createKey
        /// Request body `{name?, expires_at?}`; 201 with a platform-admin key and its secret.
        case createAdminKey
        /// Optional body `{grace_period_seconds?}`; 201 with the new key and its secret.
        case rotateKey
        /// No body; 200 with one key (no secret).
        case key
        /// 200 with a page of keys.
        case keyList
        /// Request body `{name}`; 201 with the workspace.
        case createWorkspace
        /// 200 with a page of workspaces.
        case workspaceList
        /// Request body `{email, password, scopes?}`; 200 with a session and its token. No credential.
        case login
        /// No body; 204.
        case logout
        /// No body; 200 describing the caller's credential (and session).
        case credential
        /// Request body `{workspace_id, email, password, name?, scopes}`; 201 with the user.
        case createUser
        /// No body; 200 with `text/event-stream`.
        case eventStream
        /// No body; 101 to a WebSocket carrying the event stream as JSON messages.
        case eventSocket
        /// Request body `{type, payload, priority?, run_at?}`; 202 with the job (200 with the
        /// job it repeats, for a type `unique_for` a window).
        case enqueueJob
        /// No body; 200 with one job.
        case job
        /// 200 with a page of jobs; `state` and `type` filter it.
        case jobList
        /// 200 with every cron schedule, its next tick and its recent runs.
        case scheduleList
        /// No body; 202 with the run recorded.
        case scheduleRun
        /// Request body `{url, events, description?, enabled?}`; 201 with the endpoint and its secret.
        case createWebhookEndpoint
        /// Request body `{url?, events?, description?, enabled?}`; 200 with the endpoint.
        case updateWebhookEndpoint
        /// No body; 200 with one endpoint (no secret).
        case webhookEndpoint
        /// 200 with a page of endpoints.
        case webhookEndpointList
        /// No body; 204.
        case deleteWebhookEndpoint
        /// No body; 200 with one delivery.
        case webhookDelivery
        /// 200 with a page of an endpoint's deliveries.
        case webhookDeliveryList
        /// No body; 202 with the delivery, pending again.
        case redeliverWebhook
        /// No body; 200 with one grouped error.
        case errorEvent
        /// 200 with grouped errors, most recently seen first; `status` and `limit` narrow it.
        case errorEventList
    }

    public let method: Method
    /// Below `/v1`, with `{name}` parameters, e.g. `api-keys/{id}/revoke`.
    public let path: String
    public let operationID: String
    public let summary: String
    public let description: String
    /// The scope the caller needs; empty when any credential will do (or none, for login).
    public let scope: String
    public let shape: Shape
    /// Besides ``OperationContract/everyOperation``.
    public let specific: [ProblemKind]
    /// False for the one route that takes no bearer credential (login): documented with
    /// `security: []`, and ``scope`` is empty.
    public var needsCredential = true

    public var problems: [ProblemKind] { OperationContract.sorted(OperationContract.everyOperation + specific) }
}

extension OperationContract {
    static let keyNotFound = [ProblemCatalogue.notFound]
    static let page = [ProblemCatalogue.invalidQuery]
    static let userWorkspace = [ProblemCatalogue.notFound, ProblemCatalogue.uniqueViolation]
    static let jobState = [ProblemCatalogue.notFound, ProblemCatalogue.jobStateConflict]
    static let idempotency = [ProblemCatalogue.invalidIdempotencyKey, ProblemCatalogue.idempotencyKeyReused]

    /// `/v1/api-keys` (holders of `keys:admin`) and `/v1/admin/…` (platform admin keys only),
    /// DESIGN.md §5.
    public static let handWritten: [HandWrittenOperation] = [
        .init(method: .post, path: "api-keys", operationID: "createAPIKey", summary: "Create an API key",
              description: "Creates a key in the caller's workspace. The secret (`key`) is in this response only. A key can grant only scopes its creator holds.",
              scope: "keys:admin", shape: .createKey, specific: jsonBody),
        .init(method: .get, path: "api-keys", operationID: "listAPIKeys", summary: "List API keys",
              description: "The workspace's keys, newest first, without secrets.",
              scope: "keys:admin", shape: .keyList, specific: page),
        .init(method: .get, path: "api-keys/{id}", operationID: "getAPIKey", summary: "Get an API key",
              description: "One key of the workspace, without its secret.",
              scope: "keys:admin", shape: .key, specific: keyNotFound),
        .init(method: .post, path: "api-keys/{id}/revoke", operationID: "revokeAPIKey", summary: "Revoke an API key",
              description: "Revokes the key at once on this instance and within seconds on every other one. Revoking a revoked key returns it unchanged.",
              scope: "keys:admin", shape: .key, specific: keyNotFound),
        .init(method: .post, path: "api-keys/{id}/rotate", operationID: "rotateAPIKey", summary: "Rotate an API key",
              description: "A new key with the old one's name and scopes; the old key keeps working for `grace_period_seconds` (default 86400). The new secret is in this response only.",
              scope: "keys:admin", shape: .rotateKey, specific: jsonBody + keyNotFound + [ProblemCatalogue.keyInactive]),
        .init(method: .post, path: "admin/workspaces", operationID: "createWorkspace", summary: "Create a workspace",
              description: "Creates a tenant workspace.",
              scope: "admin", shape: .createWorkspace, specific: jsonBody),
        .init(method: .get, path: "admin/workspaces", operationID: "listWorkspaces", summary: "List workspaces",
              description: "Every workspace, newest first.",
              scope: "admin", shape: .workspaceList, specific: page),
        .init(method: .post, path: "admin/workspaces/{id}/api-keys", operationID: "createWorkspaceAPIKey",
              summary: "Create an API key in a workspace",
              description: "The platform admin's way to hand a tenant its first key. The secret (`key`) is in this response only.",
              scope: "admin", shape: .createKey, specific: jsonBody + keyNotFound),
        .init(method: .post, path: "admin/workspaces/{id}/api-keys/{key_id}/revoke", operationID: "revokeWorkspaceAPIKey",
              summary: "Revoke a tenant's API key",
              description: "Revokes any key of the workspace; audited in that workspace.",
              scope: "admin", shape: .key, specific: keyNotFound),
        .init(method: .post, path: "admin/api-keys", operationID: "createAdminAPIKey", summary: "Create a platform-admin key",
              description: "A key with the `admin` scope that belongs to no tenant workspace. The secret (`key`) is in this response only.",
              scope: "admin", shape: .createAdminKey, specific: jsonBody),
        .init(method: .get, path: "admin/api-keys", operationID: "listAdminAPIKeys", summary: "List platform-admin keys",
              description: "The platform-admin keys, newest first, without secrets.",
              scope: "admin", shape: .keyList, specific: page),
        .init(method: .post, path: "admin/api-keys/{key_id}/revoke", operationID: "revokeAdminAPIKey",
              summary: "Revoke a platform-admin key",
              description: "Revokes a platform-admin key.",
              scope: "admin", shape: .key, specific: keyNotFound),
        .init(method: .get, path: "admin/errors", operationID: "listErrors", summary: "List tracked errors",
              description: "Every 5xx response and failed job attempt of every instance, grouped by fingerprint (kind, error type, route template or job type, the first frame of our code, and the error's code such as a SQLSTATE), most recently seen first: with its count, first and last seen, a sample request id (`job_<id>` for a job) and trace id. Never a message or a value of the request. `status` is `open` (the default), `resolved` or `all`; `limit` is 1 to 100 (50).",
              scope: "admin", shape: .errorEventList, specific: page),
        .init(method: .get, path: "admin/errors/{fingerprint}", operationID: "getError", summary: "Get a tracked error",
              description: "One grouped error by its fingerprint.",
              scope: "admin", shape: .errorEvent, specific: keyNotFound),
        .init(method: .post, path: "admin/errors/{fingerprint}/resolve", operationID: "resolveError", summary: "Resolve a tracked error",
              description: "Marks the error resolved; its next occurrence re-opens it (`reopened` counts how often). Recorded in the platform audit chain.",
              scope: "admin", shape: .errorEvent, specific: keyNotFound),
        .init(method: .post, path: "admin/users", operationID: "createUser", summary: "Create a user",
              description: "A person who logs in with email and password (`POST /v1/auth/login`), in a tenant workspace, holding workspace scopes. Only a scrypt hash of the password is stored. An email names at most one user across workspaces.",
              scope: "admin", shape: .createUser, specific: jsonBody + userWorkspace),
        .init(method: .post, path: "auth/login", operationID: "login", summary: "Log in",
              description: "Trades an email and password for a session token (`trs_…`), used as a bearer credential like an API key until logout, `idle_timeout_seconds` without a request, or `expires_at`. Attempts are limited per client address and per account (429 with `Retry-After`, before the password is checked); an unknown email, a disabled user and a wrong password all answer 401 alike. `scopes` narrows the session to some of the user's scopes. Needs no credential.",
              scope: "", shape: .login, specific: jsonBody, needsCredential: false),
        .init(method: .post, path: "auth/logout", operationID: "logout", summary: "Log out",
              description: "Ends the session used for this request on every instance at once. Only a session logs out (422 for an API key or JWT: revoke a key instead). Needs a session; no scope.",
              scope: "", shape: .logout, specific: [ProblemCatalogue.validationFailed]),
        .init(method: .get, path: "auth/session", operationID: "getCredential", summary: "Describe the caller's credential",
              description: "The credential of this request: its actor, workspace and scopes, and for a session its user and expiry (`session`, null for an API key or JWT). Any credential; no scope.",
              scope: "", shape: .credential, specific: []),
        .init(method: .get, path: "events", operationID: "streamEvents", summary: "Stream the workspace's events",
              description: "Server-Sent Events: every committed create, update and delete of a resource with events, in this workspace, as `id: <stream id>`, `event: <type>` (`agent.created`), `data: <event JSON>` frames; a `: heartbeat` comment on an idle stream. `topics` (comma-separated resource paths, and `jobs` for `job.progress` events) narrows it; each topic needs its read scope (`jobs:read` for `jobs`), and without `topics` the stream carries every topic whose scope the caller holds. `Last-Event-ID` resumes after that event within the kept history (an `event: reset` frame first if some events since have left it). The stream ends after its maximum duration; reconnect with `Last-Event-ID`. 503 when the server runs without Redis.",
              scope: "events:read", shape: .eventStream, specific: [ProblemCatalogue.invalidQuery, ProblemCatalogue.validationFailed]),
        .init(method: .get, path: "realtime", operationID: "openRealtimeSocket", summary: "Stream the workspace's events over a WebSocket",
              description: "The stream of `GET /v1/events` over a WebSocket (`Upgrade: websocket`, as the first request of a new connection; otherwise 426). Checked like any request before the upgrade: a refused credential, scope or parameter is answered with its problem and no upgrade. Each message is a JSON text frame: first `{\"type\":\"ready\",\"last_event_id\",\"topics\"}`, then `{\"type\":\"event\",\"id\",\"event\",\"data\"}` (`data` an `Event`) and `{\"type\":\"reset\",…}`. `topics` narrows it as on `/v1/events`; `last_event_id` (query) or `Last-Event-ID` resumes. The server pings every heartbeat interval and closes with 1000 after the stream's maximum duration, 1001 on shutdown, 4401 once the credential is refused (revoked, logged out, expired), 1013 when the instance has no room, 1011 when Redis fails. Messages from the client are read and ignored. GraphQL clients subscribe at `/v1/graphql` over `graphql-transport-ws` instead.",
              scope: "events:read", shape: .eventSocket,
              specific: [ProblemCatalogue.invalidQuery, ProblemCatalogue.validationFailed, ProblemCatalogue.upgradeRequired]),
        .init(method: .post, path: "jobs", operationID: "enqueueJob", summary: "Enqueue a job",
              description: "Queues a job of a type from `jobs.yaml` with a payload validated like a resource body (every problem at once, paths such as `/payload/agent_id`). 202 with the job; for a type `unique_for` a window, enqueuing the same payload again within it answers 200 with the first job instead. `priority` (-1000 to 1000, lower runs first) and `run_at` (a delay, at most 366 days ahead) override the type's. The job runs with this credential's scopes, never more. Send `Idempotency-Key` to retry safely: a repeat within 24 h replays the first answer.",
              scope: "jobs:write", shape: .enqueueJob, specific: jsonBody + idempotency),
        .init(method: .get, path: "jobs", operationID: "listJobs", summary: "List jobs",
              description: "The workspace's jobs, newest first; `state` and `type` narrow the list (`?state=dead` is the dead-letter queue).",
              scope: "jobs:read", shape: .jobList, specific: page),
        .init(method: .get, path: "jobs/{id}", operationID: "getJob", summary: "Get a job",
              description: "One job: its state, attempts, progress and message, result, and the error of every failed attempt.",
              scope: "jobs:read", shape: .job, specific: keyNotFound),
        .init(method: .post, path: "jobs/{id}/cancel", operationID: "cancelJob", summary: "Cancel a job",
              description: "A job that has not started is cancelled at once; a running one is asked to stop (`cancel_requested`), which its handler sees, and ends `cancelled`. 409 for a finished job.",
              scope: "jobs:write", shape: .job, specific: jobState),
        .init(method: .post, path: "jobs/{id}/retry", operationID: "retryJob", summary: "Retry a job",
              description: "Runs a dead or cancelled job again now, with one more attempt if it had none left; its error history stays. 409 for any other state.",
              scope: "jobs:write", shape: .job, specific: jobState),
        .init(method: .get, path: "admin/schedules", operationID: "listSchedules", summary: "List the cron schedules",
              description: "Every schedule of `jobs.yaml`: its job, cron expression, time zone and overlap rule, its next tick, and its last 10 runs (each with how many of its jobs are still to run, completed, and dead or cancelled). Each tick fires once however many workers run, and enqueues the job once per tenant workspace.",
              scope: "admin", shape: .scheduleList, specific: page),
        .init(method: .post, path: "admin/schedules/{name}/run", operationID: "runSchedule", summary: "Run a schedule now",
              description: "Fires the schedule now, outside its cron times (recorded with trigger `manual`); a schedule with `overlap: skip` records a skipped run while its last run's jobs are still to run.",
              scope: "admin", shape: .scheduleRun, specific: keyNotFound),
        .init(method: .post, path: "webhook-endpoints", operationID: "createWebhookEndpoint", summary: "Create a webhook endpoint",
              description: "An endpoint receives a signed POST for each event of the types it subscribes to (`agent.created`, `agent.*`, or `*`), made from the events the realtime stream carries. The signing secret (`secret`) is in this response only; each request carries `Trellis-Signature: t=<unix>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">`. The URL must be http(s) and, unless the server allows private addresses, resolve only to public ones. At most 50 endpoints per workspace. 503 when the server has no webhook key.",
              scope: "webhooks:write", shape: .createWebhookEndpoint, specific: jsonBody),
        .init(method: .get, path: "webhook-endpoints", operationID: "listWebhookEndpoints", summary: "List webhook endpoints",
              description: "The workspace's endpoints, newest first, without secrets, each with its circuit (`closed`, `open` after repeated failures, `half_open` when the next delivery probes).",
              scope: "webhooks:read", shape: .webhookEndpointList, specific: page),
        .init(method: .get, path: "webhook-endpoints/{id}", operationID: "getWebhookEndpoint", summary: "Get a webhook endpoint",
              description: "One endpoint, without its secret.",
              scope: "webhooks:read", shape: .webhookEndpoint, specific: keyNotFound),
        .init(method: .patch, path: "webhook-endpoints/{id}", operationID: "updateWebhookEndpoint", summary: "Update a webhook endpoint",
              description: "Changes the given fields (a new URL is checked like a new endpoint's). Enabling an endpoint closes its circuit.",
              scope: "webhooks:write", shape: .updateWebhookEndpoint, specific: jsonBody + keyNotFound),
        .init(method: .delete, path: "webhook-endpoints/{id}", operationID: "deleteWebhookEndpoint", summary: "Delete a webhook endpoint",
              description: "Deletes the endpoint and its delivery log; deliveries still to send are dropped.",
              scope: "webhooks:write", shape: .deleteWebhookEndpoint, specific: keyNotFound),
        .init(method: .get, path: "webhook-endpoints/{id}/deliveries", operationID: "listWebhookDeliveries", summary: "List an endpoint's deliveries",
              description: "The endpoint's deliveries, newest first: each event sent (or being sent), its state, and the log of its attempts with status code and latency. A delivery is retried with backoff for about 24 hours.",
              scope: "webhooks:read", shape: .webhookDeliveryList, specific: page + keyNotFound),
        .init(method: .get, path: "webhook-deliveries/{id}", operationID: "getWebhookDelivery", summary: "Get a webhook delivery",
              description: "One delivery with its attempt log.",
              scope: "webhooks:read", shape: .webhookDelivery, specific: keyNotFound),
        .init(method: .post, path: "webhook-deliveries/{id}/redeliver", operationID: "redeliverWebhook", summary: "Redeliver a webhook",
              description: "Sends a delivery that succeeded or failed again, with a fresh set of attempts (the same event id, so receivers can tell a repeat). 409 while it is still pending.",
              scope: "webhooks:write", shape: .redeliverWebhook, specific: jobState),
    ]
}
