import OpenAPIKit
import TrellisContract
import TrellisSchema

extension OpenAPIGenerator {
    /// The hand-written `/v1` operations (API keys, platform admin) from the shared contract's
    /// ``OperationContract/handWritten`` list, documented like generated ones: the same
    /// problem responses, request-id header and bearer security.
    enum KeyManagementPaths {
        static let keysTag = "API keys"
        static let adminTag = "Platform admin"
        static let sessionsTag = "Sessions"
        static let eventsTag = "Events"
        static let jobsTag = "Jobs"
        static let webhooksTag = "Webhooks"

        static var tags: [OpenAPI.Tag] {
            [
                OpenAPI.Tag(name: keysTag, description: "The caller's workspace's API keys; needs the `keys:admin` scope. A key never grants more than its creator holds."),
                OpenAPI.Tag(name: adminTag, description: "Workspaces, users and platform-admin keys; needs a platform-admin key (scope `admin`)."),
                OpenAPI.Tag(name: eventsTag, description: "The workspace's realtime events, as Server-Sent Events."),
                OpenAPI.Tag(name: jobsTag, description: "Durable background jobs of the types in `jobs.yaml`: enqueue, follow, cancel, retry. Needs `jobs:read` / `jobs:write`."),
                OpenAPI.Tag(name: webhooksTag, description: "Signed HTTP callbacks for the workspace's events, retried for about a day, with a delivery log and a circuit breaker per endpoint. Needs `webhooks:read` / `webhooks:write`."),
                OpenAPI.Tag(name: sessionsTag, description: "Email and password for a session token (`trs_…`), a bearer credential like an API key that ends at logout, after its idle timeout or at its expiry."),
            ]
        }

        static func pathItems(api: APISettings) -> [(path: OpenAPI.Path, item: OpenAPI.PathItem)] {
            let byPath = Dictionary(grouping: OperationContract.handWritten, by: \.path)
            return byPath.keys.sorted().map { path in
                let operations = byPath[path]!
                let get = operations.first { $0.method == .get }.map { operation($0, api: api) }
            // (`admin/users` and `auth/…` have no path parameters.)
                let post = operations.first { $0.method == .post }.map { operation($0, api: api) }
                let patch = operations.first { $0.method == .patch }.map { operation($0, api: api) }
                let delete = operations.first { $0.method == .delete }.map { operation($0, api: api) }
                return (OpenAPI.Path(["v1"] + path.split(separator: "/").map(String.init)),
                        OpenAPI.PathItem(parameters: pathParameters(path), get: get, post: post, delete: delete, patch: patch))
            }
        }

        /// `{id}` and `{key_id}`: a workspace's id under `admin/workspaces`, else a key's.
        static func pathParameters(_ path: String) -> OpenAPI.Parameter.Array {
            path.split(separator: "/").filter { $0.hasPrefix("{") }.map { segment in
                let name = String(segment.dropFirst().dropLast())
                let isWorkspace = name == "id" && path.hasPrefix("admin/workspaces/")
                if name == "fingerprint" {
                    return .parameter(.path(name: name, schema: .string(pattern: "^[0-9a-f]{64}$"), description: "The error's `fingerprint`."))
                }
                if name == "name" {
                    return .parameter(.path(name: name, schema: .string(examples: [AnyCodable("messages.cleanup")]), description: "The schedule's `name`."))
                }
                let owner = isWorkspace ? "workspace" : path.hasPrefix("jobs/") ? "job"
                    : path.hasPrefix("webhook-endpoints/") ? "webhook endpoint" : path.hasPrefix("webhook-deliveries/") ? "webhook delivery" : "API key"
                return .parameter(.path(name: name, schema: .string(format: .uuid), description: "The \(owner)'s `id`."))
            }
        }

        static func operation(_ op: HandWrittenOperation, api: APISettings) -> OpenAPI.Operation {
            var responses = OpenAPI.Response.Map()
            let (status, response) = success(op.shape)
            responses[status] = .response(response)
            for (status, response) in ProblemComponents.errorResponses(op.problems) {
                responses[status] = response
            }
            var parameters: OpenAPI.Parameter.Array = [ProblemComponents.parameterRef("XRequestID")]
            if [.keyList, .workspaceList, .jobList, .webhookEndpointList, .webhookDeliveryList].contains(op.shape) {
                parameters = [ProblemComponents.parameterRef("Limit"), ProblemComponents.parameterRef("Cursor")] + parameters
            }
            if op.shape == .jobList { parameters = JobSchemas.listParameters + parameters }
            if op.shape == .errorEventList {
                parameters = [
                    .parameter(.query(name: "status", required: false,
                                      schema: .string(allowedValues: ["open", "resolved", "all"].map { AnyCodable($0) }, defaultValue: AnyCodable("open")),
                                      description: "`open` (the default): not resolved, or happened again since; `resolved`; `all`.")),
                    .parameter(.query(name: "limit", required: false,
                                      schema: .integer(maximum: (100, exclusive: false), minimum: (1, exclusive: false), defaultValue: AnyCodable(50)),
                                      description: "At most this many errors.")),
                ] + parameters
            }
            if op.shape == .enqueueJob { parameters = [ProblemComponents.parameterRef("IdempotencyKey")] + parameters }
            if op.shape == .eventStream || op.shape == .eventSocket {
                parameters = [
                    .parameter(.query(name: "topics", required: false, schema: .string(examples: [AnyCodable("agents,messages")]),
                                      description: "Comma-separated resource paths to stream; all the caller may read when absent.")),
                    .parameter(.header(name: "Last-Event-ID", required: false, schema: .string(pattern: "^[0-9]+-[0-9]+$"),
                                       description: "Resume after this event (its `id:`), within the kept history.")),
                    .parameter(.query(name: "last_event_id", required: false, schema: .string(pattern: "^[0-9]+-[0-9]+$"),
                                      description: "`Last-Event-ID`, for clients that cannot set headers (browsers' `EventSource` and `WebSocket`).")),
                ] + parameters
            }
            return OpenAPI.Operation(
                tags: [tag(op.path)],
                summary: op.summary,
                description: op.description + (op.scope.isEmpty ? "" : " Requires scope `\(op.scope)`."),
                operationId: op.operationID,
                parameters: parameters,
                requestBody: requestBody(op.shape),
                responses: responses,
                security: op.needsCredential ? nil : []
            )
        }

        static func tag(_ path: String) -> String {
            if path.hasPrefix("admin/") { return adminTag }
            if path.hasPrefix("auth/") { return sessionsTag }
            if path == "events" || path == "realtime" { return eventsTag }
            if path == "jobs" || path.hasPrefix("jobs/") { return jobsTag }
            if path.hasPrefix("webhook-") { return webhooksTag }
            return keysTag
        }

        // MARK: Bodies

        static func requestBody(_ shape: HandWrittenOperation.Shape) -> OpenAPI.Request? {
            let name: String
            let example: [String: AnyCodable]
            switch shape {
            case .createKey:
                name = "CreateAPIKey"
                example = ["name": AnyCodable("CI deploys"), "scopes": AnyCodable([AnyCodable("agents:read"), AnyCodable("agents:write")])]
            case .createAdminKey:
                name = "CreateAdminAPIKey"
                example = ["name": AnyCodable("ops on-call"), "expires_at": AnyCodable("2026-01-15T09:30:00Z")]
            case .rotateKey:
                name = "RotateAPIKey"
                example = ["grace_period_seconds": AnyCodable(3600)]
            case .createWorkspace:
                name = "CreateWorkspace"
                example = ["name": AnyCodable("Acme")]
            case .login:
                name = "Login"
                example = ["email": AnyCodable("ada@example.com"), "password": AnyCodable("correct horse battery staple")]
            case .createUser:
                name = "CreateUser"
                example = [
                    "workspace_id": AnyCodable(JSONValues.exampleWorkspaceID), "email": AnyCodable("ada@example.com"),
                    "password": AnyCodable("correct horse battery staple"), "name": AnyCodable("Ada"),
                    "scopes": AnyCodable([AnyCodable("agents:read"), AnyCodable("agents:write")]),
                ]
            case .enqueueJob:
                name = "EnqueueJob"
                example = JobSchemas.enqueueExample
            case .createWebhookEndpoint:
                name = "CreateWebhookEndpoint"
                example = WebhookSchemas.createExample
            case .updateWebhookEndpoint:
                name = "UpdateWebhookEndpoint"
                example = ["enabled": AnyCodable(false)]
            case .key, .keyList, .workspaceList, .logout, .credential, .eventStream, .eventSocket, .job, .jobList, .scheduleList,
                 .scheduleRun, .webhookEndpoint, .webhookEndpointList, .deleteWebhookEndpoint, .webhookDelivery, .webhookDeliveryList,
                 .redeliverWebhook, .errorEvent, .errorEventList:
                return nil
            }
            return OpenAPI.Request(
                content: [.json: .content(.init(schemaReference: .component(named: name), example: AnyCodable(example)))],
                required: shape != .rotateKey)
        }

        static func success(_ shape: HandWrittenOperation.Shape) -> (OpenAPI.Response.StatusCode, OpenAPI.Response) {
            func response(_ description: String, _ schema: String, _ example: AnyCodable) -> OpenAPI.Response {
                .init(description: description, headers: ProblemComponents.v1Headers(adding: []),
                      content: [.json: .content(.init(schemaReference: .component(named: schema), example: example))])
            }
            switch shape {
            case .createKey, .rotateKey:
                return (201, response("The new key; `key` is its secret, shown only here.", "NewAPIKey", AnyCodable(newKeyExample(["agents:read", "agents:write"]))))
            case .createAdminKey:
                return (201, response("The new platform-admin key; `key` is its secret, shown only here.", "NewAPIKey", AnyCodable(newKeyExample(["admin"]))))
            case .key:
                return (200, response("The key, without its secret.", "APIKey", AnyCodable(keyExample(["agents:read"]))))
            case .keyList:
                return (200, response("A page of keys, newest first.", "APIKeyList", page(AnyCodable(keyExample(["agents:read"])))))
            case .createWorkspace:
                return (201, response("The new workspace.", "Workspace", AnyCodable(workspaceExample)))
            case .workspaceList:
                return (200, response("A page of workspaces, newest first.", "WorkspaceList", page(AnyCodable(workspaceExample))))
            case .login:
                var example = sessionExample
                example["token"] = AnyCodable("trs_" + JSONValues.exampleWorkspaceID.replacingOccurrences(of: "-", with: "") + "_0190f3c27b1e7a4c9d2e5f6a7b8c9d0e_" + String(repeating: "x", count: 43))
                var headers = ProblemComponents.v1Headers(adding: [])
                headers["Cache-Control"] = .b(OpenAPI.Header(schema: .string(examples: [AnyCodable("no-store")]), description: "`no-store`: the body holds a secret."))
                return (200, .init(description: "The new session; `token` is its secret, shown only here.", headers: headers,
                                   content: [.json: .content(.init(schemaReference: .component(named: "NewSession"), example: AnyCodable(example)))]))
            case .logout:
                return (204, .init(description: "The session has ended.", headers: ProblemComponents.v1Headers(adding: [])))
            case .credential:
                return (200, response("The caller's credential.", "Credential", AnyCodable([
                    "object": AnyCodable("credential"), "actor": AnyCodable("user:" + JSONValues.exampleReferenceID),
                    "workspace_id": AnyCodable(JSONValues.exampleWorkspaceID),
                    "scopes": AnyCodable([AnyCodable("agents:read")]), "session": AnyCodable(sessionExample),
                ])))
            case .createUser:
                return (201, response("The new user (never the password or its hash).", "User", AnyCodable(userExample)))
            case .eventSocket:
                var headers = ProblemComponents.v1Headers(adding: [])
                headers["Upgrade"] = ProblemComponents.headerRef("Upgrade")
                return (101, .init(
                    description: "Switched to a WebSocket: JSON text messages `ready`, then `event` (its `data` an `Event`) and `reset`.",
                    headers: headers))
            case .enqueueJob:
                return (202, response("The queued job (200 with the existing job when the type is unique and this repeats it).", "Job", AnyCodable(JobSchemas.jobExample)))
            case .job:
                return (200, response("The job.", "Job", AnyCodable(JobSchemas.jobExample)))
            case .jobList:
                return (200, response("A page of jobs, newest first.", "JobList", page(AnyCodable(JobSchemas.jobExample))))
            case .scheduleList:
                return (200, response("Every schedule (one page).", "ScheduleList", page(AnyCodable(JobSchemas.scheduleExample))))
            case .scheduleRun:
                return (202, response("The run recorded; its jobs are queued.", "ScheduleRun", AnyCodable(JobSchemas.runExample)))
            case .createWebhookEndpoint:
                return (201, response("The new endpoint; `secret` signs its deliveries and is shown only here.", "NewWebhookEndpoint",
                                      AnyCodable(WebhookSchemas.newEndpointExample)))
            case .updateWebhookEndpoint, .webhookEndpoint:
                return (200, response("The endpoint, without its secret.", "WebhookEndpoint", AnyCodable(WebhookSchemas.endpointExample)))
            case .webhookEndpointList:
                return (200, response("A page of endpoints, newest first.", "WebhookEndpointList", page(AnyCodable(WebhookSchemas.endpointExample))))
            case .deleteWebhookEndpoint:
                return (204, .init(description: "The endpoint is deleted.", headers: ProblemComponents.v1Headers(adding: [])))
            case .webhookDelivery:
                return (200, response("The delivery.", "WebhookDelivery", AnyCodable(WebhookSchemas.deliveryExample)))
            case .webhookDeliveryList:
                return (200, response("A page of deliveries, newest first.", "WebhookDeliveryList", page(AnyCodable(WebhookSchemas.deliveryExample))))
            case .redeliverWebhook:
                return (202, response("The delivery, pending again with a new job.", "WebhookDelivery", AnyCodable(WebhookSchemas.deliveryExample)))
            case .errorEvent:
                return (200, response("The grouped error.", "TrackedError", AnyCodable(ErrorSchemas.errorExample)))
            case .errorEventList:
                return (200, response("Grouped errors, most recently seen first (one page; `next_cursor` is always null).", "TrackedErrorList",
                                      page(AnyCodable(ErrorSchemas.errorExample))))
            case .eventStream:
                let example = "retry: 2000\n\nid: 1764604800000-0\nevent: agent.created\ndata: {\"event_id\":\"\(JSONValues.exampleID)\",\"type\":\"agent.created\",\"resource\":\"agents\",\"resource_id\":\"\(JSONValues.exampleReferenceID)\",\"workspace_id\":\"\(JSONValues.exampleWorkspaceID)\",\"actor\":\"api_key:\(JSONValues.exampleID)\",\"occurred_at\":\"\(JSONValues.exampleTimestamp)\",\"data\":{\"id\":\"\(JSONValues.exampleReferenceID)\",\"name\":\"Planner\"}}\n\n: heartbeat\n\n"
                return (200, .init(
                    description: "An open stream of events; each `data` is an `Event`.",
                    headers: ProblemComponents.v1Headers(adding: []),
                    content: [OpenAPI.ContentType(rawValue: "text/event-stream")!: .content(.init(schema: .string, example: AnyCodable(example)))]))
            }
        }

        static func page(_ item: AnyCodable) -> AnyCodable {
            AnyCodable(["data": AnyCodable([item]), "next_cursor": AnyCodable(nil as String?), "has_more": AnyCodable(false)])
        }

        static func keyExample(_ scopes: [String]) -> [String: AnyCodable] {
            [
                "id": AnyCodable(JSONValues.exampleID), "object": AnyCodable("api_key"),
                "workspace_id": AnyCodable(JSONValues.exampleWorkspaceID), "name": AnyCodable("CI deploys"),
                "scopes": AnyCodable(scopes.map { AnyCodable($0) }), "created_at": AnyCodable(JSONValues.exampleTimestamp),
                "expires_at": AnyCodable(nil as String?), "revoked_at": AnyCodable(nil as String?),
                "last_used_at": AnyCodable(nil as String?), "rotated_from": AnyCodable(nil as String?),
                "created_by": AnyCodable("key:" + JSONValues.exampleReferenceID),
                "rate_limit": AnyCodable(nil as String?),
            ]
        }

        static func newKeyExample(_ scopes: [String]) -> [String: AnyCodable] {
            var example = keyExample(scopes)
            example["key"] = AnyCodable("trk_0190f3c27b1e7a4c9d2e5f6a7b8c9d0e_" + String(repeating: "x", count: 43))
            return example
        }

        static let sessionExample: [String: AnyCodable] = [
            "object": AnyCodable("session"), "id": AnyCodable(JSONValues.exampleID),
            "user_id": AnyCodable(JSONValues.exampleReferenceID), "workspace_id": AnyCodable(JSONValues.exampleWorkspaceID),
            "scopes": AnyCodable([AnyCodable("agents:read")]), "created_at": AnyCodable(JSONValues.exampleTimestamp),
            "expires_at": AnyCodable(JSONValues.exampleTimestamp), "idle_timeout_seconds": AnyCodable(3600),
        ]

        static let userExample: [String: AnyCodable] = [
            "id": AnyCodable(JSONValues.exampleReferenceID), "object": AnyCodable("user"),
            "workspace_id": AnyCodable(JSONValues.exampleWorkspaceID), "email": AnyCodable("ada@example.com"),
            "name": AnyCodable("Ada"), "scopes": AnyCodable([AnyCodable("agents:read"), AnyCodable("agents:write")]),
            "created_at": AnyCodable(JSONValues.exampleTimestamp), "created_by": AnyCodable("api_key:" + JSONValues.exampleID),
            "disabled_at": AnyCodable(nil as String?),
        ]

        static let workspaceExample: [String: AnyCodable] = [
            "id": AnyCodable(JSONValues.exampleWorkspaceID), "object": AnyCodable("workspace"),
            "name": AnyCodable("Acme"), "created_at": AnyCodable(JSONValues.exampleTimestamp),
        ]

        // MARK: Schemas

        static func schemas() -> [(name: String, schema: JSONSchema)] {
            let timestamp = JSONSchema.string(format: .dateTime)
            let optionalTimestamp = JSONSchema.string(format: .dateTime, nullable: true)
            var keyProperties: OrderedDictionary<String, JSONSchema> = [
                "id": .string(format: .uuid),
                "object": .string(allowedValues: [AnyCodable("api_key")]),
                "workspace_id": .string(format: .uuid, description: "The workspace the key acts in."),
                "name": .string(nullable: true),
                "scopes": .array(items: .string),
                "created_at": timestamp,
                "expires_at": optionalTimestamp,
                "revoked_at": optionalTimestamp,
                "last_used_at": optionalTimestamp,
                "rotated_from": .string(format: .uuid, nullable: true, description: "The key this one replaced by rotation."),
                "created_by": .string(description: "The credential that made the key (`key:<id>`, `jwt:<sub>`, `cli`)."),
                "rate_limit": .object(
                    nullable: true,
                    description: "The key's own rate limit, used in every bucket instead of the schema's and `api.yaml`'s; null: those apply.",
                    properties: ["per_minute": .integer, "burst": .integer]),
            ]
            let apiKey = JSONSchema.object(description: "An API key, without its secret.", properties: keyProperties)
            keyProperties["key"] = .string(description: "The secret bearer credential `trk_<id>_<secret>`; shown only in this response.")
            let newKey = JSONSchema.object(description: "A new API key with its secret.", properties: keyProperties)
            let workspace = JSONSchema.object(description: "A tenant workspace.", properties: [
                "id": .string(format: .uuid), "object": .string(allowedValues: [AnyCodable("workspace")]),
                "name": .string(), "created_at": timestamp,
            ])
            func list(_ item: String) -> JSONSchema {
                .object(properties: [
                    "data": .array(items: ResourceSchemas.ref(item)),
                    "next_cursor": .string(nullable: true, description: "Pass as `cursor` for the next page; null on the last."),
                    "has_more": .boolean,
                ])
            }
            let expiresAt = JSONSchema.string(format: .dateTime, required: false, description: "When the key stops working; a future RFC 3339 timestamp. Never, when absent.")
            let name = JSONSchema.string(required: false, description: "A label for people.", minLength: 1, maxLength: 200)
            let rateLimit = JSONSchema.object(
                required: false,
                description: "The key's own rate limit in every bucket, instead of the schema's and `api.yaml`'s. A tenant caller may set at most its own key's limit, or else the lowest limit the API sets; platform admins may set any.",
                properties: [
                    "per_minute": .integer(description: "Sustained requests per minute.", maximum: (60_000_000, exclusive: false), minimum: (1, exclusive: false)),
                    "burst": .integer(description: "Requests at once.", maximum: (1_000_000, exclusive: false), minimum: (1, exclusive: false)),
                ],
                additionalProperties: .a(false))
            var sessionProperties: OrderedDictionary<String, JSONSchema> = [
                "object": .string(allowedValues: [AnyCodable("session")]),
                "id": .string(format: .uuid),
                "user_id": .string(format: .uuid),
                "workspace_id": .string(format: .uuid),
                "scopes": .array(items: .string),
                "created_at": timestamp,
                "expires_at": .string(format: .dateTime, description: "The latest the session lives, however busy."),
                "idle_timeout_seconds": .integer(description: "The session ends after this long without a request."),
            ]
            let session = JSONSchema.object(description: "A logged-in session, without its token.", properties: sessionProperties)
            sessionProperties["token"] = .string(description: "The bearer credential `trs_<workspace>_<id>_<secret>`; shown only in this response.")
            let newSession = JSONSchema.object(description: "A new session with its token.", properties: sessionProperties)
            let password = JSONSchema.string(description: "At least 10 characters, at most 1024 bytes.", minLength: 1, maxLength: 1024)
            return JobSchemas.schemas(list: list) + WebhookSchemas.schemas(list: list) + ErrorSchemas.schemas(list: list) + [
                ("Event", .object(description: "One realtime event: the `data` of an SSE frame.", properties: [
                    "event_id": .string(format: .uuid),
                    "type": .string(description: "`<resource>.<created|updated|deleted>`, e.g. `agent.created`."),
                    "resource": .string(description: "The resource's path, e.g. `agents`."),
                    "resource_id": .string(format: .uuid),
                    "workspace_id": .string(format: .uuid),
                    "actor": .string(description: "Who wrote: `api_key:<id>`, `user:<id>`, `jwt:<sub>`."),
                    "occurred_at": timestamp,
                    "data": .object(description: "The object as the REST API returns it (for a delete, as it was)."),
                ])),
                ("Session", session),
                ("NewSession", newSession),
                ("Credential", .object(description: "The credential of a request.", properties: [
                    "object": .string(allowedValues: [AnyCodable("credential")]),
                    "actor": .string(description: "`api_key:<id>`, `jwt:<sub>` or `user:<id>`: as audit entries name it."),
                    "workspace_id": .string(format: .uuid),
                    "scopes": .array(items: .string),
                    "session": .one(of: [ResourceSchemas.ref("Session"), .null()]),
                ])),
                ("User", .object(description: "A person who logs in; never the password or its hash.", properties: [
                    "id": .string(format: .uuid), "object": .string(allowedValues: [AnyCodable("user")]),
                    "workspace_id": .string(format: .uuid), "email": .string(format: .email), "name": .string(nullable: true),
                    "scopes": .array(items: .string), "created_at": timestamp,
                    "created_by": .string(description: "The credential that made the user."),
                    "disabled_at": optionalTimestamp,
                ])),
                ("Login", .object(properties: [
                    "email": .string(format: .email, maxLength: 254),
                    "password": password,
                    "scopes": .array(required: false, description: "Narrows the session to these of the user's scopes; all of them when absent.", minItems: 1, items: .string),
                ], additionalProperties: .a(false))),
                ("CreateUser", .object(properties: [
                    "workspace_id": .string(format: .uuid, description: "The tenant workspace the user belongs to."),
                    "email": .string(format: .email, description: "Unique across workspaces, compared case-insensitively.", maxLength: 254),
                    "password": password,
                    "name": name,
                    "scopes": .array(description: "Workspace scopes the user holds (never `admin`).", minItems: 1, items: .string),
                ], additionalProperties: .a(false))),
                ("APIKey", apiKey),
                ("NewAPIKey", newKey),
                ("APIKeyList", list("APIKey")),
                ("Workspace", workspace),
                ("WorkspaceList", list("Workspace")),
                ("CreateAPIKey", .object(properties: [
                    "name": name,
                    "scopes": .array(description: "Scopes the key grants, each one the caller holds.", minItems: 1, items: .string),
                    "expires_at": expiresAt,
                    "rate_limit": rateLimit,
                ], additionalProperties: .a(false))),
                ("CreateAdminAPIKey", .object(properties: ["name": name, "expires_at": expiresAt], additionalProperties: .a(false))),
                ("RotateAPIKey", .object(properties: [
                    "grace_period_seconds": .integer(required: false, description: "How long the old key keeps working (default 86400).",
                                                     maximum: (2_592_000, exclusive: false), minimum: (0, exclusive: false)),
                ], additionalProperties: .a(false))),
                ("CreateWorkspace", .object(properties: [
                    "name": .string(minLength: 1, maxLength: 200),
                ], additionalProperties: .a(false))),
            ]
        }
    }
}
