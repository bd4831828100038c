import OpenAPIKit
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
                description: "Send `Authorization: Bearer <credential>`. The credential is an API key (`trk_<id>_<secret>`), a session token (`trs_…`, from `POST /v1/auth/login`) or a JWT (HS256/RS256/ES256; the workspace comes from its `workspace_id` claim, the scopes from `scope`)."
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
                    "code": .string(description: "Stable machine-readable code, e.g. `validation_failed`, `invalid_query`, `malformed_json`, `unauthenticated`, `insufficient_scope`, `not_found`, `conflict`, `precondition_failed`, `payload_too_large`, `unsupported_media_type`, `idempotency_key_reused`, `rate_limited`, `service_unavailable`, `internal_error`."),
                    "detail": .string(required: false, description: "Human-readable explanation of this occurrence."),
                    "request_id": .string(description: "The request's `X-Request-ID`; quote it when reporting a problem."),
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
                ("RateLimit-Limit", .init(schema: .integer(minimum: (0, exclusive: false)),
                                          description: "Requests allowed in the current window for this credential (or client IP) and resource.")),
                ("RateLimit-Remaining", .init(schema: .integer(minimum: (0, exclusive: false)),
                                              description: "Requests left in the current window.")),
                ("RateLimit-Reset", .init(schema: .integer(minimum: (0, exclusive: false)),
                                          description: "Seconds until the full quota is back.")),
                ("ETag", .init(schema: .string(examples: [AnyCodable("\"3\"")]),
                               description: "The object's version as a strong entity tag, e.g. `\"3\"`. Send it back in `If-Match` or `If-None-Match`.")),
                ("Location", .init(schema: .string(format: .uriReference),
                                   description: "URL of the created object.")),
                ("Link", .init(schema: .string(examples: [AnyCodable("</v1/agents?cursor=\(JSONValues.exampleCursor)&limit=\(api.defaultPageSize)>; rel=\"next\"")]),
                               description: "RFC 8288 links: `rel=\"next\"` for the next page, `rel=\"deprecation\"` on deprecated operations.")),
                ("Idempotent-Replayed", .init(schema: .boolean,
                                              description: "`true` when this response is the stored response of an earlier request with the same `Idempotency-Key` and body.")),
                ("Retry-After", .init(schema: .integer(minimum: (0, exclusive: false)),
                                      description: "Seconds to wait before retrying.")),
                ("WWW-Authenticate", .init(schema: .string(examples: [AnyCodable("Bearer realm=\"trellis\", error=\"invalid_token\"")]),
                                           description: "The authentication scheme: `Bearer`.")),
                ("Deprecation", .init(schema: .string, description: "Present when the operation is deprecated (RFC 9745).")),
                ("Sunset", .init(schema: .string, description: "When a deprecated operation stops working (RFC 8594, an HTTP date).")),
            ]
        }

        static func headerRef(_ name: String) -> Either<OpenAPI.Reference<OpenAPI.Header>, OpenAPI.Header> {
            .reference(.component(named: name))
        }

        /// Headers on every response: request id and rate limit state.
        static var commonHeaders: OpenAPI.Header.Map {
            [
                "X-Request-ID": headerRef("X-Request-ID"),
                "RateLimit-Limit": headerRef("RateLimit-Limit"),
                "RateLimit-Remaining": headerRef("RateLimit-Remaining"),
                "RateLimit-Reset": headerRef("RateLimit-Reset"),
            ]
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
                                        description: "Answer 304 Not Modified when the object's `ETag` matches.")),
                ("XRequestID", .header(name: "X-Request-ID", schema: .string(pattern: "^[A-Za-z0-9._-]{1,128}$"),
                                       description: "Your id for the request (1–128 characters of `[A-Za-z0-9._-]`), echoed in the response and logs.")),
            ]
        }

        static func parameterRef(_ name: String) -> Either<OpenAPI.Reference<OpenAPI.Parameter>, OpenAPI.Parameter> {
            .reference(.component(named: name))
        }

        // MARK: Responses

        private struct ProblemSample {
            var name: String
            var summary: String
            var slug: String
            var title: String
            var status: Int
            var code: String
            var detail: String
            var errors: [(path: String, code: String, message: String)] = []

            var value: AnyCodable {
                var object: [String: AnyCodable] = [
                    "type": AnyCodable("/problems/\(slug)"), "title": AnyCodable(title),
                    "status": AnyCodable(status), "code": AnyCodable(code), "detail": AnyCodable(detail),
                    "request_id": AnyCodable(JSONValues.exampleRequestID),
                ]
                if !errors.isEmpty {
                    object["errors"] = AnyCodable(errors.map { error in
                        AnyCodable(["path": AnyCodable(error.path), "code": AnyCodable(error.code), "message": AnyCodable(error.message)])
                    })
                }
                return AnyCodable(object)
            }
        }

        private static func problemResponse(_ description: String, _ samples: [ProblemSample], headers extra: [String] = []) -> OpenAPI.Response {
            let content: OpenAPI.Content
            if samples.count == 1 {
                content = .init(schemaReference: .component(named: "Problem"), example: samples[0].value)
            } else {
                var examples = OpenAPI.Example.Map()
                for sample in samples {
                    examples[sample.name] = .example(.init(summary: sample.summary, legacyValue: .b(sample.value)))
                }
                content = .init(schemaReference: .component(named: "Problem"), examples: examples)
            }
            return .init(description: description, headers: headers(adding: extra), content: [problemJSON: .content(content)])
        }

        static func responses(api: APISettings) -> [(name: String, response: OpenAPI.Response)] {
            [
                ("BadRequest", problemResponse("Malformed JSON body (`malformed_json`) or invalid query parameters (`invalid_query`, with `errors[].path` = `/query/<name>`).", [
                    ProblemSample(name: "invalid_query", summary: "A query parameter is invalid", slug: "invalid-query", title: "Invalid query",
                                  status: 400, code: "invalid_query", detail: "1 query parameter is invalid",
                                  errors: [("/query/limit", "too_large", "at most \(api.maxPageSize)")]),
                    ProblemSample(name: "malformed_json", summary: "The body is not JSON", slug: "malformed-json", title: "Malformed JSON",
                                  status: 400, code: "malformed_json", detail: "Unexpected end of input at byte 17"),
                ])),
                ("Unauthorized", problemResponse("No credential, or an invalid, expired or revoked one.", [
                    ProblemSample(name: "unauthenticated", summary: "Missing credential", slug: "unauthenticated", title: "Unauthenticated",
                                  status: 401, code: "unauthenticated",
                                  detail: "This API needs a bearer credential: Authorization: Bearer <API key or JWT>"),
                    ProblemSample(name: "invalid_token", summary: "Refused credential", slug: "unauthenticated", title: "Unauthenticated",
                                  status: 401, code: "unauthenticated", detail: "The credential was refused: the API key has been revoked"),
                ], headers: ["WWW-Authenticate"])),
                ("Forbidden", problemResponse("The credential lacks the scope this operation needs (`insufficient_scope`).", [
                    ProblemSample(name: "insufficient_scope", summary: "Missing scope", slug: "insufficient-scope", title: "Insufficient scope",
                                  status: 403, code: "insufficient_scope",
                                  detail: "This operation needs the 'agents:write' scope, which this credential does not have"),
                ])),
                ("NotFound", problemResponse("No such object in the caller's workspace (another workspace's object is a 404 too).", [
                    ProblemSample(name: "not_found", summary: "Not found", slug: "not-found", title: "Not found",
                                  status: 404, code: "not_found", detail: "No agent with this id"),
                ])),
                ("Conflict", problemResponse("A unique value is already taken.", [
                    ProblemSample(name: "conflict", summary: "Unique violation", slug: "conflict", title: "Conflict",
                                  status: 409, code: "conflict", detail: "name is already taken"),
                ])),
                ("PreconditionFailed", problemResponse("`If-Match` does not match the object's current `ETag`.", [
                    ProblemSample(name: "precondition_failed", summary: "Stale version", slug: "precondition-failed", title: "Precondition failed",
                                  status: 412, code: "precondition_failed", detail: "The object is at version 4, not 3"),
                ])),
                ("PayloadTooLarge", problemResponse("The body is over the limit (\(api.maxBodySize) bytes).", [
                    ProblemSample(name: "payload_too_large", summary: "Body too large", slug: "payload-too-large", title: "Payload too large",
                                  status: 413, code: "payload_too_large", detail: "The body is over \(api.maxBodySize) bytes"),
                ])),
                ("UnsupportedMediaType", problemResponse("The body is not `application/json`.", [
                    ProblemSample(name: "unsupported_media_type", summary: "Not JSON", slug: "unsupported-media-type", title: "Unsupported media type",
                                  status: 415, code: "unsupported_media_type", detail: "Send Content-Type: application/json"),
                ])),
                ("ValidationFailed", problemResponse("The body is valid JSON but not a valid input: every problem is listed in `errors`. Also `idempotency_key_reused`.", [
                    ProblemSample(name: "validation_failed", summary: "Invalid fields", slug: "validation-failed", title: "Validation failed",
                                  status: 422, code: "validation_failed", detail: "2 fields are invalid",
                                  errors: [("/name", "too_long", "at most 200 characters"), ("/tags/3", "too_long", "at most 40 characters")]),
                    ProblemSample(name: "idempotency_key_reused", summary: "Idempotency key reused with another body", slug: "idempotency-key-reused",
                                  title: "Idempotency key reused", status: 422, code: "idempotency_key_reused",
                                  detail: "This Idempotency-Key was used with a different body"),
                ])),
                ("TooManyRequests", problemResponse("Rate limit exceeded; retry after `Retry-After` seconds.", [
                    ProblemSample(name: "rate_limited", summary: "Rate limited", slug: "rate-limited", title: "Too many requests",
                                  status: 429, code: "rate_limited", detail: "Retry in 2 seconds"),
                ], headers: ["Retry-After"])),
                ("InternalError", problemResponse("Unexpected server error; details are logged under the request id, never returned.", [
                    ProblemSample(name: "internal_error", summary: "Internal error", slug: "internal-error", title: "Internal server error",
                                  status: 500, code: "internal_error", detail: "Quote the request id when reporting this"),
                ])),
                ("ServiceUnavailable", problemResponse("A dependency (the database) is down; retry after `Retry-After` seconds.", [
                    ProblemSample(name: "service_unavailable", summary: "Dependency down", slug: "service-unavailable", title: "Service unavailable",
                                  status: 503, code: "service_unavailable", detail: "The database is unavailable"),
                ], headers: ["Retry-After"])),
                ("NotModified", .init(description: "The object's `ETag` matches `If-None-Match`: use your copy.",
                                      headers: headers(adding: ["ETag"]))),
            ]
        }

        static func responseRef(_ name: String) -> Either<OpenAPI.Reference<OpenAPI.Response>, OpenAPI.Response> {
            .reference(.component(named: name))
        }
    }
}
