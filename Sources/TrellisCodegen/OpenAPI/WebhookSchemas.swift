import OpenAPIKit

extension OpenAPIGenerator.KeyManagementPaths {
    /// The `WebhookEndpoint` and `WebhookDelivery` objects and the bodies of
    /// `/v1/webhook-endpoints`.
    enum WebhookSchemas {
        typealias Values = OpenAPIGenerator.JSONValues

        static let createExample: [String: AnyCodable] = [
            "url": AnyCodable("https://hooks.example.com/trellis"),
            "events": AnyCodable([AnyCodable("agent.created"), AnyCodable("agent.updated")]),
            "description": AnyCodable("CRM sync"),
        ]

        static let endpointExample: [String: AnyCodable] = [
            "id": AnyCodable(Values.exampleID), "object": AnyCodable("webhook_endpoint"),
            "url": AnyCodable("https://hooks.example.com/trellis"),
            "events": AnyCodable([AnyCodable("agent.created"), AnyCodable("agent.updated")]),
            "description": AnyCodable("CRM sync"), "enabled": AnyCodable(true), "scopes": AnyCodable([AnyCodable("*")]),
            "circuit": AnyCodable(["state": AnyCodable("closed"), "failure_streak": AnyCodable(0), "opened_at": AnyCodable(nil as String?)]),
            "created_at": AnyCodable(Values.exampleTimestamp), "updated_at": AnyCodable(Values.exampleTimestamp),
        ]

        static var newEndpointExample: [String: AnyCodable] {
            var example = endpointExample
            example["secret"] = AnyCodable("whsec_" + String(repeating: "x", count: 43))
            return example
        }

        static let deliveryExample: [String: AnyCodable] = [
            "id": AnyCodable(Values.exampleID), "object": AnyCodable("webhook_delivery"),
            "endpoint_id": AnyCodable(Values.exampleReferenceID), "event_id": AnyCodable(Values.exampleID),
            "event_type": AnyCodable("agent.created"), "state": AnyCodable("succeeded"), "attempts": AnyCodable(1),
            "job_id": AnyCodable(Values.exampleReferenceID),
            "log": AnyCodable([AnyCodable([
                "attempt": AnyCodable(1), "at": AnyCodable(Values.exampleTimestamp), "status": AnyCodable(200),
                "latency_ms": AnyCodable(84), "error": AnyCodable(nil as String?),
            ])]),
            "event": AnyCodable(["type": AnyCodable("agent.created"), "event_id": AnyCodable(Values.exampleID)]),
            "created_at": AnyCodable(Values.exampleTimestamp), "updated_at": AnyCodable(Values.exampleTimestamp),
        ]

        static func schemas(list: (String) -> JSONSchema) -> [(name: String, schema: JSONSchema)] {
            let timestamp = JSONSchema.string(format: .dateTime)
            let events = JSONSchema.array(
                description: "Event types it receives: `<resource>.<created|updated|deleted>` (`agent.created`), `<resource>.*`, `job.progress`, or `*`.",
                minItems: 1, maxItems: 100, items: .string(examples: [AnyCodable("agent.created")]))
            var properties: OrderedDictionary<String, JSONSchema> = [
                "id": .string(format: .uuid),
                "object": .string(allowedValues: [AnyCodable("webhook_endpoint")]),
                "url": .string(format: .uri),
                "events": events,
                "description": .string(nullable: true),
                "enabled": .boolean(description: "A disabled endpoint receives nothing; its pending deliveries fail."),
                "scopes": .array(description: "The scopes of the credential that made it, narrowed by each that changed it: it receives only events of the resources these may read.", items: .string),
                "circuit": .object(description: "Open after several straight failures: no call until a cool-down has passed, then one probe whose success closes it.", properties: [
                    "state": .string(allowedValues: [AnyCodable("closed"), AnyCodable("open"), AnyCodable("half_open")]),
                    "failure_streak": .integer(description: "Deliveries that failed in a row."),
                    "opened_at": .string(format: .dateTime, nullable: true),
                ]),
                "created_at": timestamp,
                "updated_at": timestamp,
            ]
            let endpoint = JSONSchema.object(description: "A webhook endpoint, without its secret.", properties: properties)
            properties["secret"] = .string(description: "The signing secret `whsec_…`; shown only in this response.")
            let newEndpoint = JSONSchema.object(description: "A new webhook endpoint with its signing secret.", properties: properties)
            let delivery = JSONSchema.object(description: "One event sent (or being sent) to one endpoint.", properties: [
                "id": .string(format: .uuid),
                "object": .string(allowedValues: [AnyCodable("webhook_delivery")]),
                "endpoint_id": .string(format: .uuid),
                "event_id": .string(format: .uuid, description: "Also the `Trellis-Event-Id` header: the same on a retry or a redelivery."),
                "event_type": .string,
                "state": .string(description: "`pending` (to send, or retrying), `succeeded`, or `failed` (no attempt left).",
                                 allowedValues: [AnyCodable("pending"), AnyCodable("succeeded"), AnyCodable("failed")]),
                "attempts": .integer,
                "job_id": .string(format: .uuid, description: "The `webhooks.deliver` job sending it (`GET /v1/jobs/{id}`)."),
                "log": .array(description: "The attempts, oldest first (the last 50).", items: .object(properties: [
                    "attempt": .integer, "at": timestamp,
                    "status": .integer(nullable: true, description: "The endpoint's HTTP status; null when none came."),
                    "latency_ms": .integer,
                    "error": .string(nullable: true),
                ])),
                "event": OpenAPIGenerator.ResourceSchemas.ref("Event"),
                "created_at": timestamp,
                "updated_at": timestamp,
            ])
            let url = JSONSchema.string(format: .uri, description: "http or https; resolving only to public addresses unless the server allows private ones.", maxLength: 2048)
            let description = JSONSchema.string(required: false, nullable: true, maxLength: 1000)
            return [
                ("WebhookEndpoint", endpoint),
                ("NewWebhookEndpoint", newEndpoint),
                ("WebhookEndpointList", list("WebhookEndpoint")),
                ("WebhookDelivery", delivery),
                ("WebhookDeliveryList", list("WebhookDelivery")),
                ("CreateWebhookEndpoint", .object(properties: [
                    "url": url, "events": events, "description": description,
                    "enabled": .boolean(required: false, description: "Default true."),
                ], additionalProperties: .a(false))),
                ("UpdateWebhookEndpoint", .object(properties: [
                    "url": url.optionalSchemaObject(), "events": events.optionalSchemaObject(), "description": description,
                    "enabled": .boolean(required: false),
                ], additionalProperties: .a(false))),
            ]
        }
    }
}
