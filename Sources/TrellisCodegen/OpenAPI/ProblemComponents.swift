import OpenAPIKit
import TrellisContract
import TrellisSchema

extension OpenAPIGenerator {
    /// Shared components: the security scheme, the RFC 9457 `Problem` schema, the error
    /// responses, the response headers and the reusable parameters (DESIGN.md §5, §5.1).
    enum ProblemComponents {
        static let problemJSON = OpenAPI.ContentType(rawValue: "application/problem+json")!
        static let securitySchemeName = "bearerAuth"

        /// The codes of `FieldError.code`, as the validators emit them (DESIGN.md §4).
        static let fieldErrorCodes = [
            "required", "type", "too_short", "too_long", "too_small", "too_large", "pattern",
            "format", "enum", "unknown_field", "too_many_items", "read_only",
        ]

        static var securityScheme: OpenAPI.SecurityScheme {
            .http(
                scheme: "bearer",
                description: "Send `Authorization: Bearer <credential>`. The credential is an API key (`trk_<id>_<secret>`, from `trellis keys create` or `POST /v1/api-keys`), a session token (`trs_<workspace>_<id>_<secret>`, from `POST /v1/auth/login`, when the server has Redis) or, when the server is configured with `TRELLIS_JWT_SECRET` or `TRELLIS_JWKS_FILE`, a JWT (HS256/RS256/ES256; the workspace comes from its `workspace_id` claim or the one `TRELLIS_JWT_WORKSPACE_CLAIM` names, the scopes from `scope`)."
            )
        }

        // MARK: Schemas

        static func schemas() -> [(name: String, schema: JSONSchema)] {
            [("Problem", problem), ("FieldError", fieldError)]
        }

        static var fieldError: JSONSchema {
            .object(
                description: "One invalid value.",
                properties: [
                    "path": .string(description: "JSON Pointer to the value (`/tags/3`); `/query/<name>` for a query parameter; empty for the whole body.",
                                    examples: [AnyCodable("/name")]),
                    "code": .string(description: "What is wrong with the value.",
                                    allowedValues: fieldErrorCodes.map { AnyCodable($0) }),
                    "message": .string(description: "Human-readable explanation.", examples: [AnyCodable("at most 200 characters")]),
                ]
            )
        }

        static var problem: JSONSchema {
            .object(
                description: "An error, as RFC 9457 problem details (`application/problem+json`).",
                properties: [
                    "type": .string(format: .uriReference, description: "URI reference identifying the problem type, e.g. `/problems/validation-failed`."),
                    "title": .string(description: "Short summary of the problem type."),
                    "status": .integer(description: "The HTTP status code.", maximum: (599, exclusive: false), minimum: (100, exclusive: false)),
                    "code": .string(description: "Stable machine-readable code; each one always comes with the same `status`, `title` and `type`.",
                                    allowedValues: ProblemCatalogue.all.map { AnyCodable($0.code) }),
                    "detail": .string(required: false, description: "Human-readable explanation of this occurrence."),
                    "request_id": .string(description: "The request's `X-Request-ID`; quote it when reporting a problem."),
                    "trace_id": .string(required: false, description: "On a 5xx when the server traces requests (`OTEL_EXPORTER_OTLP_ENDPOINT`): the W3C trace id (32 hex digits) of this request's trace."),
                    "errors": .array(required: false, description: "Every invalid value (validation and query errors).",
                                     items: ResourceSchemas.ref("FieldError")),
                ]
            )
        }

        // MARK: Headers

        static func headers(api: APISettings) -> [(name: String, header: OpenAPI.Header)] {
            [
                ("X-Request-ID", .init(schema: .string(pattern: "^[A-Za-z0-9._-]{1,128}$"),
                                       description: "The request id: the client's `X-Request-ID` when it is 1–128 characters of `[A-Za-z0-9._-]`, else one made by the server.")),
                ("ETag", .init(schema: .string(examples: [AnyCodable("\"3\"")]),
                               description: "An object's version as a strong entity tag, e.g. `\"3\"`: send it back in `If-Match` or `If-None-Match`. On a page of a cached resource, a hash of the page: send it back in `If-None-Match`.")),
                ("Cache-Control", .init(schema: .string(examples: [AnyCodable("private, no-cache")]),
                                        description: "`private, no-cache` on the answers of cached resources: a client may keep the answer but must revalidate it with `If-None-Match` before using it again, since any write may change it.")),
                ("Location", .init(schema: .string(format: .uriReference),
                                   description: "URL of the created object.")),
                ("Link", .init(schema: .string(examples: [AnyCodable("</v1/agents?cursor=\(JSONValues.exampleCursor)&limit=\(api.defaultPageSize)>; rel=\"next\"")]),
                               description: "RFC 8288 links: `rel=\"next\"` for the next page, `rel=\"deprecation\"` on deprecated operations.")),
                ("Idempotent-Replayed", .init(schema: .boolean,
                                              description: "`true` when this response is the stored response of an earlier request with the same `Idempotency-Key` and body.")),
                ("Allow", .init(schema: .string(examples: [AnyCodable("GET, POST")]),
                                description: "The methods the path supports (on a 405).")),
                ("Upgrade", .init(schema: .string(examples: [AnyCodable("websocket")]),
                                  description: "The protocol to upgrade to (`websocket`, on a 426 and a 101).")),
                ("Retry-After", .init(schema: .integer(minimum: (0, exclusive: false)),
                                      description: "Seconds to wait before retrying.")),
                ("RateLimit-Limit", .init(schema: .integer(minimum: (1, exclusive: false)),
                                          description: "The most requests the credential may make at once on this resource (its `rate_limit` burst).")),
                ("RateLimit-Remaining", .init(schema: .integer(minimum: (0, exclusive: false)),
                                              description: "How many more requests it may make right now.")),
                ("RateLimit-Reset", .init(schema: .integer(minimum: (0, exclusive: false)),
                                          description: "Seconds until the full limit is available again.")),
                ("WWW-Authenticate", .init(schema: .string(examples: [AnyCodable("Bearer error=\"invalid_token\", error_description=\"revoked\"")]),
                                           description: "The `Bearer` challenge (RFC 6750): `Bearer` alone without a credential, with `error=\"invalid_token\"` for a refused one, `error=\"insufficient_scope\"` and the `scope` on a 403.")),
                ("Deprecation", .init(schema: .string(examples: [AnyCodable("@1767225600")]),
                                      description: "On every response of a deprecated operation (RFC 9745): `@<unix seconds>`, the time of the response.")),
                ("Sunset", .init(schema: .string(examples: [AnyCodable("Wed, 30 Jun 2027 23:59:59 GMT")]),
                                 description: "On every response of a deprecated operation: the last second it works (RFC 8594, an HTTP date).")),
            ]
        }

        static func headerRef(_ name: String) -> Either<OpenAPI.Reference<OpenAPI.Header>, OpenAPI.Header> {
            .reference(.component(named: name))
        }

        /// Headers on every response: the request id.
        static var commonHeaders: OpenAPI.Header.Map {
            ["X-Request-ID": headerRef("X-Request-ID")]
        }

        /// What every answered `/v1` request's rate limit adds to its response.
        static let rateLimitHeaders = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"]

        /// The headers of a `/v1` success: the common ones, the rate limit's, and `extra`.
        static func v1Headers(adding extra: [String]) -> OpenAPI.Header.Map {
            headers(adding: rateLimitHeaders + extra)
        }

        static func headers(adding extra: [String]) -> OpenAPI.Header.Map {
            var map = commonHeaders
            for name in extra { map[name] = headerRef(name) }
            return map
        }

        // MARK: Parameters

        static func parameters(api: APISettings) -> [(name: String, parameter: OpenAPI.Parameter)] {
            [
                ("Limit", .query(name: "limit", schema: .integer(
                    maximum: (api.maxPageSize, exclusive: false), minimum: (1, exclusive: false),
                    defaultValue: AnyCodable(api.defaultPageSize)),
                    description: "Page size, 1–\(api.maxPageSize) (default \(api.defaultPageSize)).")),
                ("Cursor", .query(name: "cursor", schema: .string(minLength: 1),
                                  description: "Opaque keyset cursor: the `next_cursor` of the previous page. A cursor that is not one is a 400 `invalid_query`.")),
                ("CreatedAfter", .query(name: "created_after", schema: .string(format: .dateTime),
                                        description: "Only objects created strictly after this RFC 3339 timestamp.")),
                ("CreatedBefore", .query(name: "created_before", schema: .string(format: .dateTime),
                                         description: "Only objects created strictly before this RFC 3339 timestamp.")),
                ("SearchQuery", .query(name: "q", required: true, schema: .string(minLength: 1, examples: [AnyCodable("research assistant")]),
                                       description: "Search terms in web-search syntax (`websearch_to_tsquery`): quoted phrases, `or`, `-word`. Required; empty is a 400.")),
                ("IdempotencyKey", .header(name: "Idempotency-Key", schema: .string(minLength: 1, maxLength: 255),
                                           description: "Makes a create safe to retry: the same key with the same body within 24 h replays the first response (with `Idempotent-Replayed: true`); the same key with another body is a 422 `idempotency_key_reused`. Keys are scoped to the workspace.")),
                ("IfMatch", .header(name: "If-Match", schema: .string(examples: [AnyCodable("\"3\"")]),
                                    description: "Apply the change only if the object's current `ETag` matches; otherwise 412.")),
                ("IfNoneMatch", .header(name: "If-None-Match", schema: .string(examples: [AnyCodable("\"3\"")]),
                                        description: "Answer 304 Not Modified when the answer's `ETag` matches.")),
                ("XRequestID", .header(name: "X-Request-ID", schema: .string(pattern: "^[A-Za-z0-9._-]{1,128}$"),
                                       description: "Your id for the request (1–128 characters of `[A-Za-z0-9._-]`), echoed in the response and logs.")),
            ]
        }

        static func parameterRef(_ name: String) -> Either<OpenAPI.Reference<OpenAPI.Parameter>, OpenAPI.Parameter> {
            .reference(.component(named: name))
        }

        // MARK: Responses

        /// The `errors` of a kind's example, for kinds that list invalid values.
        private static func exampleErrors(_ kind: ProblemKind, api: APISettings) -> [(path: String, code: String, message: String)] {
            switch kind {
            case ProblemCatalogue.validationFailed:
                [("/name", "too_long", "at most 200 characters"), ("/tags/3", "too_long", "at most 40 characters")]
            case ProblemCatalogue.invalidQuery:
                [("/query/limit", "format", "must be an integer from 1 to \(api.maxPageSize)")]
            default:
                []
            }
        }

        /// The example body of a problem of `kind`, as the runtime writes it.
        static func example(_ kind: ProblemKind, api: APISettings) -> AnyCodable {
            let detail = kind == ProblemCatalogue.payloadTooLarge
                ? "The request body must be at most \(api.maxBodySize) bytes" : kind.exampleDetail
            var object: [String: AnyCodable] = [
                "type": AnyCodable(kind.type), "title": AnyCodable(kind.title),
                "status": AnyCodable(kind.status), "code": AnyCodable(kind.code), "detail": AnyCodable(detail),
                "request_id": AnyCodable(JSONValues.exampleRequestID),
            ]
            let errors = exampleErrors(kind, api: api)
            if !errors.isEmpty {
                object["errors"] = AnyCodable(errors.map { error in
                    AnyCodable(["path": AnyCodable(error.path), "code": AnyCodable(error.code), "message": AnyCodable(error.message)])
                })
            }
            return AnyCodable(object)
        }

        /// The problems of one operation grouped by status: each group is one documented response.
        static func groups(_ kinds: [ProblemKind]) -> [[ProblemKind]] {
            Dictionary(grouping: OperationContract.sorted(kinds), by: \.status).sorted { $0.key < $1.key }.map(\.value)
        }

        /// `UniqueViolation`, or `MalformedJSONOrPayloadTooLarge` for a group of several kinds.
        static func responseName(_ group: [ProblemKind]) -> String {
            group.map(\.componentName).joined(separator: "Or")
        }

        /// One response for a group of kinds with the same status: every kind is an example,
        /// and the headers are those the kinds carry.
        static func problemResponse(_ group: [ProblemKind], api: APISettings) -> OpenAPI.Response {
            let content: OpenAPI.Content
            let description: String
            if group.count == 1 {
                description = "`\(group[0].code)`: \(group[0].meaning)"
                content = .init(schemaReference: .component(named: "Problem"), example: example(group[0], api: api))
            } else {
                description = group.map { "`\($0.code)`: \($0.meaning)" }.joined(separator: " ")
                var examples = OpenAPI.Example.Map()
                for kind in group {
                    examples[kind.code] = .example(.init(summary: kind.title, legacyValue: .b(example(kind, api: api))))
                }
                content = .init(schemaReference: .component(named: "Problem"), examples: examples)
            }
            let headerNames = Array(Set(group.flatMap(\.headers))).sorted()
            return .init(description: description, headers: headers(adding: headerNames), content: [problemJSON: .content(content)])
        }

        /// The response components: one per group of problems some operation documents,
        /// and `NotModified`.
        static func responses(groups: [[ProblemKind]], api: APISettings) -> [(name: String, response: OpenAPI.Response)] {
            groups.map { (responseName($0), problemResponse($0, api: api)) } + [
                ("NotModified", .init(description: "The answer's `ETag` matches `If-None-Match`: use your copy. `Cache-Control` as on the 200 of a cached resource.",
                                      headers: v1Headers(adding: ["ETag", "Cache-Control"]))),
            ]
        }

        /// The error responses of an operation answering `kinds`, by status.
        static func errorResponses(_ kinds: [ProblemKind]) -> [(OpenAPI.Response.StatusCode, Either<OpenAPI.Reference<OpenAPI.Response>, OpenAPI.Response>)] {
            groups(kinds).compactMap { group in
                OpenAPI.Response.StatusCode(rawValue: String(group[0].status)).map { ($0, responseRef(responseName(group))) }
            }
        }

        static func responseRef(_ name: String) -> Either<OpenAPI.Reference<OpenAPI.Response>, OpenAPI.Response> {
            .reference(.component(named: name))
        }
    }
}
