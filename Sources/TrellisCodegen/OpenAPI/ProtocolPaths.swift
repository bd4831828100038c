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
        static let graphQLTag = "GraphQL"

        static var tags: [OpenAPI.Tag] {
            [
                OpenAPI.Tag(name: tag, description: "JSON-RPC 2.0 over the same operations as REST; the methods are listed by the OpenRPC document that `rpc.discover` answers (committed at `openapi/openrpc.json`)."),
                OpenAPI.Tag(name: graphQLTag, description: "GraphQL over the same operations as REST; the schema is `GET /v1/graphql/schema.graphql` (committed at `openapi/schema.graphql`)."),
            ]
        }

        static func pathItems(api: APISettings) -> [(path: OpenAPI.Path, item: OpenAPI.PathItem)] {
            let byPath = Dictionary(grouping: ProtocolEndpoint.all, by: \.path)
            return byPath.keys.sorted().map { path in
                var item = OpenAPI.PathItem()
                for endpoint in byPath[path]! {
                    let operation = self.operation(endpoint, api: api)
                    if endpoint.method == .post { item.post = operation } else { item.get = operation }
                }
                return (OpenAPI.Path(["v1"] + path.split(separator: "/").map(String.init)), item)
            }
        }

        static func operation(_ endpoint: ProtocolEndpoint, api: APISettings) -> OpenAPI.Operation {
            var responses = OpenAPI.Response.Map()
            var parameters: OpenAPI.Parameter.Array = [ProblemComponents.parameterRef("XRequestID")]
            var requestBody: OpenAPI.Request?
            var description = endpoint.description
            switch endpoint.kind {
            case .jsonRPC:
                responses[200] = .response(OpenAPI.Response(
                    description: "The answer: one response object for a single call, an array in the calls' order for a batch (notifications get no entry). Errors of a call are answered here too, with their JSON-RPC code.",
                    headers: ProblemComponents.v1Headers(adding: []),
                    content: [.json: .content(.init(schema: .one(of: [ResourceSchemas.ref("JSONRPCResponse"), .array(items: ResourceSchemas.ref("JSONRPCResponse"))]),
                        example: AnyCodable([
                            "jsonrpc": AnyCodable("2.0"), "id": AnyCodable(1),
                            "result": AnyCodable(["id": AnyCodable(JSONValues.exampleID), "deleted": AnyCodable(true)]),
                        ])))]))
                responses[204] = .response(OpenAPI.Response(
                    description: "Only notifications were sent: nothing to answer.", headers: ProblemComponents.v1Headers(adding: [])))
                parameters.insert(.parameter(.header(
                    name: "Trellis-Atomic", schema: .string(allowedValues: [AnyCodable("true")]),
                    description: "`true` runs a batch in one transaction: the first failure rolls back every call, and every entry reports it (`error.data.failed_call` is its index).")), at: 0)
                requestBody = OpenAPI.Request(
                    content: [.json: .content(.init(
                        schema: .one(of: [ResourceSchemas.ref("JSONRPCRequest"), .array(minItems: 1, items: ResourceSchemas.ref("JSONRPCRequest"))]),
                        example: AnyCodable([
                            "jsonrpc": AnyCodable("2.0"), "method": AnyCodable("agents.delete"),
                            "params": AnyCodable(["id": AnyCodable(JSONValues.exampleID)]), "id": AnyCodable(1),
                        ])))])
                description += " At most \(api.rpcMaxBatch) calls per batch."
            case .graphQL:
                responses[200] = .response(OpenAPI.Response(
                    description: "`data`, and `errors` when a field or the request failed.",
                    headers: ProblemComponents.v1Headers(adding: []),
                    content: [.json: .content(.init(schemaReference: .component(named: "GraphQLResponse"), example: AnyCodable([
                        "data": AnyCodable(["agent": AnyCodable(["id": AnyCodable(JSONValues.exampleID), "name": AnyCodable("Ada")])]),
                    ])))]))
                if endpoint.method == .post {
                    requestBody = OpenAPI.Request(content: [.json: .content(.init(
                        schemaReference: .component(named: "GraphQLRequest"),
                        example: AnyCodable([
                            "query": AnyCodable("query One($id: ID!) { agent(id: $id) { id name model tags } }"),
                            "variables": AnyCodable(["id": AnyCodable(JSONValues.exampleID)]),
                        ])))])
                } else {
                    parameters = [
                        .parameter(.query(name: "query", required: false, schema: .string, description: "The document (optional with a persisted query's hash).")),
                        .parameter(.query(name: "operationName", required: false, schema: .string)),
                        .parameter(.query(name: "variables", required: false, schema: .string, description: "A JSON object.")),
                        .parameter(.query(name: "extensions", required: false, schema: .string, description: "A JSON object: `{\"persistedQuery\":{\"version\":1,\"sha256Hash\":\"…\"}}`.")),
                    ] + parameters
                }
            case .graphQLSchema:
                responses[200] = .response(OpenAPI.Response(
                    description: "The SDL.", headers: ProblemComponents.v1Headers(adding: []),
                    content: [.txt: .content(.init(schema: .string))]))
            }
            for (status, response) in ProblemComponents.errorResponses(endpoint.problems) {
                responses[status] = response
            }
            // Over the credential's rate limit, answered in the endpoint's own protocol.
            let details = AnyCodable(["code": AnyCodable("rate_limited"), "status": AnyCodable(429), "request_id": AnyCodable(JSONValues.exampleRequestID)])
            let message = AnyCodable(ProblemCatalogue.rateLimited.exampleDetail)
            switch endpoint.kind {
            case .jsonRPC:
                responses[429] = rateLimited(
                    "A JSON-RPC error -32029 with `id: null` (the body was not read)", schema: "JSONRPCResponse",
                    example: [
                        "jsonrpc": AnyCodable("2.0"), "id": AnyCodable(nil as String?),
                        "error": AnyCodable(["code": AnyCodable(-32029), "message": message, "data": details]),
                    ])
            case .graphQL:
                responses[429] = rateLimited(
                    "One GraphQL error whose `extensions.code` is `rate_limited`", schema: "GraphQLResponse",
                    example: ["errors": AnyCodable([AnyCodable(["message": message, "extensions": details])])])
            case .graphQLSchema:
                break
            }
            return OpenAPI.Operation(
                tags: [endpoint.kind == .jsonRPC ? tag : graphQLTag], summary: endpoint.summary, description: description,
                operationId: endpoint.operationID, parameters: parameters, requestBody: requestBody, responses: responses)
        }

        /// A 429 answered in a protocol's own body: `shape` says how, `example` shows it.
        static func rateLimited(
            _ shape: String, schema: String, example: [String: AnyCodable]
        ) -> Either<OpenAPI.Reference<OpenAPI.Response>, OpenAPI.Response> {
            .response(OpenAPI.Response(
                description: "`rate_limited`: the credential used its rate limit (`api.yaml`'s); nothing was run. \(shape); retry after `Retry-After` seconds.",
                headers: ProblemComponents.v1Headers(adding: ["Retry-After"]),
                content: [.json: .content(.init(schemaReference: .component(named: schema), example: AnyCodable(example)))]))
        }

        static func schemas() -> [(name: String, schema: JSONSchema)] {
            let id = JSONSchema.one(
                of: .string, .integer, .number, .null(),
                required: false, description: "Echoed in the answer; absent in a notification, which gets none.")
            return [
                ("GraphQLRequest", .object(
                    description: "A GraphQL request.",
                    properties: [
                        "query": .string(required: false, description: "The document; optional when `extensions.persistedQuery` names one the server has seen."),
                        "operationName": .string(required: false, nullable: true),
                        "variables": .object(required: false, nullable: true),
                        "extensions": .object(required: false, nullable: true, description: "`persistedQuery: {version: 1, sha256Hash}` (Apollo's automatic persisted queries)."),
                    ], additionalProperties: .a(false))),
                ("GraphQLResponse", .object(
                    description: "A GraphQL result.",
                    properties: [
                        "data": .object(required: false, nullable: true),
                        "errors": .array(required: false, items: .object(properties: [
                            "message": .string,
                            "path": .array(required: false, items: .fragment),
                            "locations": .array(required: false, items: .object(properties: ["line": .integer, "column": .integer])),
                            "extensions": .object(required: false, description: "`code`: the REST problem code of a field's error (`not_found`, `validation_failed` with `errors`, …) or the request's (`GRAPHQL_VALIDATION_FAILED`, `QUERY_TOO_DEEP`, `PERSISTED_QUERY_NOT_FOUND`, …); `status`; `request_id`."),
                        ])),
                    ])),
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
