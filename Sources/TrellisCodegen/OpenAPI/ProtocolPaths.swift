import OpenAPIKit
import TrellisContract
import TrellisSchema

extension OpenAPIGenerator {
    /// The `/v1` endpoints that speak another protocol over the same service calls
    /// (``ProtocolEndpoint/all``: JSON-RPC 2.0 at `POST /v1/rpc`): their envelopes, the
    /// `Trellis-Atomic` header, and the HTTP problems they can answer besides 200. The
    /// methods themselves are in the OpenRPC document (`openapi/openrpc.json`, `rpc.discover`).
    enum ProtocolPaths {
        static let tag = "JSON-RPC"

        static var tags: [OpenAPI.Tag] {
            [OpenAPI.Tag(name: tag, description: "JSON-RPC 2.0 over the same operations as REST; the methods are listed by the OpenRPC document that `rpc.discover` answers (committed at `openapi/openrpc.json`).")]
        }

        static func pathItems(api: APISettings) -> [(path: OpenAPI.Path, item: OpenAPI.PathItem)] {
            ProtocolEndpoint.all.map { endpoint in
                var responses = OpenAPI.Response.Map()
                responses[200] = .response(OpenAPI.Response(
                    description: "The answer: one response object for a single call, an array in the calls' order for a batch (notifications get no entry). Errors of a call are answered here too, with their JSON-RPC code.",
                    headers: ProblemComponents.headers(adding: []),
                    content: [.json: .content(.init(schema: .one(of: [ResourceSchemas.ref("JSONRPCResponse"), .array(items: ResourceSchemas.ref("JSONRPCResponse"))]),
                        example: AnyCodable([
                            "jsonrpc": AnyCodable("2.0"), "id": AnyCodable(1),
                            "result": AnyCodable(["id": AnyCodable(JSONValues.exampleID), "deleted": AnyCodable(true)]),
                        ])))]))
                responses[204] = .response(OpenAPI.Response(
                    description: "Only notifications were sent: nothing to answer.", headers: ProblemComponents.headers(adding: [])))
                for (status, response) in ProblemComponents.errorResponses(endpoint.problems) {
                    responses[status] = response
                }
                let atomic = OpenAPI.Parameter.header(
                    name: "Trellis-Atomic", schema: .string(allowedValues: [AnyCodable("true")]),
                    description: "`true` runs a batch in one transaction: the first failure rolls back every call, and every entry reports it (`error.data.failed_call` is its index).")
                let operation = OpenAPI.Operation(
                    tags: [tag], summary: endpoint.summary, description: endpoint.description + " At most \(api.rpcMaxBatch) calls per batch.",
                    operationId: endpoint.operationID,
                    parameters: [.parameter(atomic), ProblemComponents.parameterRef("XRequestID")],
                    requestBody: OpenAPI.Request(
                        content: [.json: .content(.init(
                            schema: .one(of: [ResourceSchemas.ref("JSONRPCRequest"), .array(minItems: 1, items: ResourceSchemas.ref("JSONRPCRequest"))]),
                            example: AnyCodable([
                                "jsonrpc": AnyCodable("2.0"), "method": AnyCodable("agents.delete"),
                                "params": AnyCodable(["id": AnyCodable(JSONValues.exampleID)]), "id": AnyCodable(1),
                            ])))]),
                    responses: responses)
                return (OpenAPI.Path(["v1", endpoint.path]), OpenAPI.PathItem(post: operation))
            }
        }

        static func schemas() -> [(name: String, schema: JSONSchema)] {
            let id = JSONSchema.one(
                of: .string, .integer, .number, .null(),
                required: false, description: "Echoed in the answer; absent in a notification, which gets none.")
            return [
                ("JSONRPCRequest", .object(
                    description: "One JSON-RPC 2.0 call.",
                    properties: [
                        "jsonrpc": .string(allowedValues: [AnyCodable("2.0")]),
                        "method": .string(description: "`<resource>.list|get|create|update|delete|search`, or `rpc.discover`.", minLength: 1),
                        "params": .object(required: false, description: "The input object: the body of a create, `{\"id\", …patch}` for an update, `{\"id\"}` for get and delete, the query parameters for list and search."),
                        "id": id,
                    ], additionalProperties: .a(false))),
                ("JSONRPCError", .object(
                    description: "A failed call.",
                    properties: [
                        "code": .integer(description: "JSON-RPC code: " + JSONRPCError.all.map { "\($0.code) \($0.message.lowercased())" }.joined(separator: ", ") + "."),
                        "message": .string(description: "What went wrong, for people."),
                        "data": .object(
                            description: "The REST problem behind the error: its `code` (`validation_failed`, `not_found`, …) and `status`, the `request_id`, and for -32602 the field `errors` (paths into `params`).",
                            properties: [
                                "code": .string(required: false),
                                "status": .integer(required: false),
                                "request_id": .string,
                                "errors": .array(required: false, items: ResourceSchemas.ref("FieldError")),
                                "failed_call": .integer(required: false, description: "In a rolled-back atomic batch, the index of the call that failed."),
                            ]),
                    ])),
                ("JSONRPCResponse", .object(
                    description: "The answer to one call: `result` or `error`.",
                    properties: [
                        "jsonrpc": .string(allowedValues: [AnyCodable("2.0")]),
                        "result": .fragment(required: false, description: "The call's result, as the OpenRPC document describes it per method."),
                        "error": ResourceSchemas.ref("JSONRPCError").optionalSchemaObject(),
                        "id": .one(of: .string, .integer, .number, .null()),
                    ])),
            ]
        }
    }
}
