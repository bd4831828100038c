import OpenAPIKit
import TrellisSchema

extension OpenAPIGenerator {
    /// Endpoints every Trellis server has, outside `/v1`: health, the document itself and the
    /// docs page. They need no credential (`security: []`).
    enum PlatformPaths {
        static let tag = "Platform"

        static func schemas() -> [(name: String, schema: JSONSchema)] {
            [
                ("HealthCheck", .object(
                    description: "The state of one dependency.",
                    properties: [
                        "status": .string(
                            description: "`ok`; `degraded` (answering, but over 1 s, or for `queue` a job waiting over 300 s, or for a dependency over half its timeout); `down`; `unknown` for a dependency not probed yet.",
                            allowedValues: ["ok", "degraded", "down", "unknown"].map { AnyCodable($0) }, examples: [AnyCodable("ok")]),
                        "latency_ms": .number(format: .double, required: false, description: "How long the check took, in milliseconds."),
                        "oldest_available_age_seconds": .number(
                            format: .double, required: false, description: "`queue` only: how long the oldest runnable job has waited."),
                        "http_status": .integer(required: false, description: "A dependency's answer to its last probe."),
                        "error": .string(required: false, description: "Why a dependency is down, in a few words (never its URL)."),
                        "checked_at": .string(format: .dateTime, required: false, description: "When a dependency was last probed."),
                    ]
                )),
                ("Health", .object(
                    description: "Health of the instance. `/health/live` has only `status`; `/health/ready` adds `checks`.",
                    properties: [
                        "status": .string(description: "`ok`; `degraded` when a check is not `ok` (still serving; a queue backlog alone does not count); `down` when Postgres is down.",
                                          allowedValues: ["ok", "degraded", "down"].map { AnyCodable($0) }),
                        "checks": .object(
                            required: false, description: "Postgres, Redis (when configured), the job queue (when the API has job types), and api.yaml's `dependencies` as the background prober last saw them.",
                            properties: [
                                "postgres": ResourceSchemas.ref("HealthCheck"),
                                "redis": ResourceSchemas.ref("HealthCheck").optionalSchemaObject(),
                                "queue": ResourceSchemas.ref("HealthCheck").optionalSchemaObject(),
                                "dependencies": .object(
                                    required: false, description: "One entry per api.yaml dependency, by name.",
                                    additionalProperties: .b(ResourceSchemas.ref("HealthCheck"))),
                            ]
                        ),
                    ]
                )),
            ]
        }

        static func pathItems() -> [(path: OpenAPI.Path, item: OpenAPI.PathItem)] {
            let readyExample = AnyCodable([
                "status": AnyCodable("ok"),
                "checks": AnyCodable([
                    "postgres": AnyCodable(["status": AnyCodable("ok"), "latency_ms": AnyCodable(0.8)]),
                    "redis": AnyCodable(["status": AnyCodable("ok"), "latency_ms": AnyCodable(0.3)]),
                    "queue": AnyCodable(["status": AnyCodable("ok"), "latency_ms": AnyCodable(1.1)]),
                ]),
            ])
            let downExample = AnyCodable([
                "status": AnyCodable("down"),
                "checks": AnyCodable([
                    "postgres": AnyCodable(["status": AnyCodable("down"), "latency_ms": AnyCodable(2000.0)]),
                    "redis": AnyCodable(["status": AnyCodable("ok"), "latency_ms": AnyCodable(0.3)]),
                    "queue": AnyCodable(["status": AnyCodable("down"), "latency_ms": AnyCodable(2000.0)]),
                ]),
            ])
            return [
                ("/health/live", OpenAPI.PathItem(get: operation(
                    id: "getLiveness", summary: "Liveness",
                    description: "Answers 200 `{\"status\":\"ok\"}` while the process is up; touches no dependency.",
                    responses: [200: .response(.init(
                        description: "The process is up.",
                        content: [.json: .content(.init(schemaReference: .component(named: "Health"), example: AnyCodable(["status": AnyCodable("ok")])))]
                    ))]
                ))),
                ("/health/ready", OpenAPI.PathItem(get: operation(
                    id: "getReadiness", summary: "Readiness",
                    description: "Checks Postgres, Redis and the job queue, and reports api.yaml's dependencies as their background probes found them (a request here never probes them). 503 only when Postgres is down; anything else not `ok` is `degraded` with a 200.",
                    responses: [
                        200: .response(.init(description: "Ready (`ok` or `degraded`).",
                                             content: [.json: .content(.init(schemaReference: .component(named: "Health"), example: readyExample))])),
                        503: .response(.init(
                            description: "Not ready: Postgres is down (`status` is `down`).",
                            content: [.json: .content(.init(schemaReference: .component(named: "Health"), example: downExample))]
                        )),
                    ]
                ))),
                ("/openapi.json", OpenAPI.PathItem(get: operation(
                    id: "getOpenAPIJSON", summary: "OpenAPI document (JSON)",
                    description: "This OpenAPI 3.1 document as JSON.",
                    responses: [200: .response(.init(description: "The document.",
                                                     content: [.json: .content(.init(schema: .object(description: "An OpenAPI 3.1 document.")))]))]
                ))),
                ("/openapi.yaml", OpenAPI.PathItem(get: operation(
                    id: "getOpenAPIYAML", summary: "OpenAPI document (YAML)",
                    description: "This OpenAPI 3.1 document as YAML.",
                    responses: [200: .response(.init(description: "The document.",
                                                     content: [.yaml: .content(.init(schema: .string))]))]
                ))),
                ("/docs", OpenAPI.PathItem(get: operation(
                    id: "getDocs", summary: "API reference (Swagger UI)",
                    description: "Swagger UI for this document; assets from a CDN, or from `TRELLIS_SWAGGER_UI_DIR` when set.",
                    responses: [200: .response(.init(description: "The HTML page.",
                                                     content: [.html: .content(.init(schema: .string))]))]
                ))),
            ]
        }

        private static func operation(id: String, summary: String, description: String, responses: OpenAPI.Response.Map) -> OpenAPI.Operation {
            // Every response carries the request id; platform endpoints are not rate limited.
            let withRequestID = responses.mapValues { entry -> Either<OpenAPI.Reference<OpenAPI.Response>, OpenAPI.Response> in
                guard var response = entry.responseValue else { return entry }
                response.headers = ["X-Request-ID": ProblemComponents.headerRef("X-Request-ID")]
                return .response(response)
            }
            return OpenAPI.Operation(
                tags: [tag], summary: summary, description: description + " No credential needed.",
                operationId: id, responses: withRequestID, security: []
            )
        }
    }
}
