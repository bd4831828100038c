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

        static var tags: [OpenAPI.Tag] {
            [
                OpenAPI.Tag(name: keysTag, description: "The caller's workspace's API keys; needs the `keys:admin` scope. A key never grants more than its creator holds."),
                OpenAPI.Tag(name: adminTag, description: "Workspaces and platform-admin keys; needs a platform-admin key (scope `admin`)."),
            ]
        }

        static func pathItems(api: APISettings) -> [(path: OpenAPI.Path, item: OpenAPI.PathItem)] {
            let byPath = Dictionary(grouping: OperationContract.handWritten, by: \.path)
            return byPath.keys.sorted().map { path in
                let operations = byPath[path]!
                let get = operations.first { $0.method == .get }.map { operation($0, api: api) }
                let post = operations.first { $0.method == .post }.map { operation($0, api: api) }
                return (OpenAPI.Path(["v1"] + path.split(separator: "/").map(String.init)),
                        OpenAPI.PathItem(parameters: pathParameters(path), get: get, post: post))
            }
        }

        /// `{id}` and `{key_id}`: a workspace's id under `admin/workspaces`, else a key's.
        static func pathParameters(_ path: String) -> OpenAPI.Parameter.Array {
            path.split(separator: "/").filter { $0.hasPrefix("{") }.map { segment in
                let name = String(segment.dropFirst().dropLast())
                let isWorkspace = name == "id" && path.hasPrefix("admin/workspaces/")
                return .parameter(.path(name: name, schema: .string(format: .uuid),
                                        description: isWorkspace ? "The workspace's `id`." : "The API key's `id`."))
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
            if op.shape == .keyList || op.shape == .workspaceList {
                parameters = [ProblemComponents.parameterRef("Limit"), ProblemComponents.parameterRef("Cursor")] + parameters
            }
            return OpenAPI.Operation(
                tags: [op.path.hasPrefix("admin/") ? adminTag : keysTag],
                summary: op.summary,
                description: op.description + " Requires scope `\(op.scope)`.",
                operationId: op.operationID,
                parameters: parameters,
                requestBody: requestBody(op.shape),
                responses: responses
            )
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
            case .key, .keyList, .workspaceList:
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
            return [
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
