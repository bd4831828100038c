/// One kind of RFC 9457 problem the server sends: its stable code, status, title and the
/// headers that always come with it.
///
/// This module is the single catalogue of the HTTP contract that both sides read: the
/// runtime (`TrellisRuntime`) builds every ``Problem`` from a kind here, and the generator
/// (`TrellisCodegen`) documents exactly these kinds, per operation, in the OpenAPI document.
/// DESIGN.md §1 forbids codegen and runtime importing each other, and `TrellisSchema` is the
/// schema language (YAML, Yams), not the HTTP contract; so the catalogue is its own small
/// target with no dependencies at all, below both.
public struct ProblemKind: Sendable, Hashable {
    /// Stable machine-readable code, e.g. `validation_failed`.
    public let code: String
    public let status: Int
    /// Short summary of the problem type (the `title` member).
    public let title: String
    /// Response headers every problem of this kind carries, e.g. `WWW-Authenticate`.
    public let headers: [String]
    /// When the server sends it, for the document.
    public let meaning: String
    /// A typical `detail`, for the document's example.
    public let exampleDetail: String

    public init(code: String, status: Int, title: String, headers: [String] = [], meaning: String, exampleDetail: String) {
        self.code = code
        self.status = status
        self.title = title
        self.headers = headers
        self.meaning = meaning
        self.exampleDetail = exampleDetail
    }

    /// The `type` member: `/problems/validation-failed` for `validation_failed`.
    public var type: String { "/problems/" + String(code.map { $0 == "_" ? "-" : $0 }) }

    /// `ValidationFailed` for `validation_failed` (`JSON` stays upper case): a component name.
    public var componentName: String {
        code.split(separator: "_").map { word in
            word == "json" ? "JSON" : word.prefix(1).uppercased() + word.dropFirst()
        }.joined()
    }
}

/// Every problem the server can send, and nothing else (DESIGN.md §5).
public enum ProblemCatalogue {
    public static let malformedJSON = ProblemKind(
        code: "malformed_json", status: 400, title: "Malformed JSON",
        meaning: "The body is not well-formed JSON.", exampleDetail: "Unexpected end of input at byte 17")
    public static let invalidQuery = ProblemKind(
        code: "invalid_query", status: 400, title: "Invalid query parameters",
        meaning: "A query parameter is unknown or invalid; `errors[].path` is `/query/<name>`.",
        exampleDetail: "1 query parameter is invalid")
    public static let invalidIdempotencyKey = ProblemKind(
        code: "invalid_idempotency_key", status: 400, title: "Invalid idempotency key",
        meaning: "`Idempotency-Key` is empty, longer than 255 characters or not printable ASCII.",
        exampleDetail: "Idempotency-Key must be 1 to 255 printable ASCII characters")
    public static let unauthenticated = ProblemKind(
        code: "unauthenticated", status: 401, title: "Unauthenticated", headers: ["WWW-Authenticate"],
        meaning: "No credential, or an invalid, expired or revoked one.",
        exampleDetail: "This API needs a bearer credential: Authorization: Bearer <API key or JWT>")
    public static let insufficientScope = ProblemKind(
        code: "insufficient_scope", status: 403, title: "Insufficient scope", headers: ["WWW-Authenticate"],
        meaning: "The credential lacks the scope this operation needs.",
        exampleDetail: "This operation needs the 'agents:write' scope, which this credential does not have")
    public static let notFound = ProblemKind(
        code: "not_found", status: 404, title: "Not found",
        meaning: "No such object in the caller's workspace (another workspace's object is a 404 too), or no such path.",
        exampleDetail: "No agent with this id")
    public static let methodNotAllowed = ProblemKind(
        code: "method_not_allowed", status: 405, title: "Method not allowed", headers: ["Allow"],
        meaning: "The path exists but not with this method; `Allow` lists the methods it has.",
        exampleDetail: "Allowed: GET, POST")
    public static let uniqueViolation = ProblemKind(
        code: "unique_violation", status: 409, title: "Conflict",
        meaning: "A unique value is already taken in this workspace.",
        exampleDetail: "Another object in this workspace already has this name")
    public static let stillReferenced = ProblemKind(
        code: "still_referenced", status: 409, title: "Conflict",
        meaning: "Other objects still reference this one (`on_delete: restrict`).",
        exampleDetail: "Other objects still reference this one")
    public static let keyInactive = ProblemKind(
        code: "key_inactive", status: 409, title: "Conflict",
        meaning: "Only an active key can be rotated; this one is revoked or expired.",
        exampleDetail: "Only an active key can be rotated; this one is revoked or expired")
    public static let jobStateConflict = ProblemKind(
        code: "job_state_conflict", status: 409, title: "Conflict",
        meaning: "The job's state does not allow this: only a scheduled, available, retryable or running job can be cancelled, and only a dead or cancelled one retried.",
        exampleDetail: "The job is completed; only a dead or cancelled job can be retried")
    public static let preconditionFailed = ProblemKind(
        code: "precondition_failed", status: 412, title: "Precondition failed",
        meaning: "`If-Match` does not match the object's current `ETag`, or is not an `ETag` of this API.",
        exampleDetail: "The object is at version 4, not 3")
    public static let payloadTooLarge = ProblemKind(
        code: "payload_too_large", status: 413, title: "Payload too large",
        meaning: "The body is over the API's body limit.", exampleDetail: "The request body must be at most 1048576 bytes")
    public static let unsupportedMediaType = ProblemKind(
        code: "unsupported_media_type", status: 415, title: "Unsupported media type",
        meaning: "The body is not sent as `application/json`.", exampleDetail: "Send the body as application/json")
    public static let upgradeRequired = ProblemKind(
        code: "upgrade_required", status: 426, title: "Upgrade required", headers: ["Upgrade"],
        meaning: "This path is a WebSocket: open a new connection whose first request asks to upgrade (`Upgrade: websocket`).",
        exampleDetail: "GET /v1/realtime is a WebSocket; connect with Upgrade: websocket on a new connection")
    public static let validationFailed = ProblemKind(
        code: "validation_failed", status: 422, title: "Validation failed",
        meaning: "The body is JSON but not a valid input: every problem is listed in `errors`.",
        exampleDetail: "2 fields are invalid")
    public static let idempotencyKeyReused = ProblemKind(
        code: "idempotency_key_reused", status: 422, title: "Idempotency key reused",
        meaning: "This `Idempotency-Key` was used with a different body.",
        exampleDetail: "This Idempotency-Key was used with a different body")
    public static let rateLimited = ProblemKind(
        code: "rate_limited", status: 429, title: "Rate limited",
        headers: ["Retry-After", "RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"],
        meaning: "The credential used its rate limit for this resource (the schema's `rate_limit`, else `api.yaml`'s); nothing was run. Retry after `Retry-After` seconds.",
        exampleDetail: "Rate limit reached (60 at once, 600 per minute); retry in 1 s")
    public static let internalError = ProblemKind(
        code: "internal_error", status: 500, title: "Internal server error",
        meaning: "Unexpected server error; details are logged under the request id, never returned.",
        exampleDetail: "Something went wrong on our side; quote the request id when reporting it")
    public static let serviceUnavailable = ProblemKind(
        code: "service_unavailable", status: 503, title: "Service unavailable", headers: ["Retry-After"],
        meaning: "A dependency (the database) is unavailable; nothing was committed, so retrying after `Retry-After` seconds is safe.",
        exampleDetail: "The database is unavailable; try again shortly")

    /// Every kind, by status then code.
    public static let all: [ProblemKind] = [
        malformedJSON, invalidQuery, invalidIdempotencyKey, unauthenticated, insufficientScope, notFound,
        methodNotAllowed, uniqueViolation, stillReferenced, keyInactive, jobStateConflict, preconditionFailed, payloadTooLarge,
        unsupportedMediaType, upgradeRequired, validationFailed, idempotencyKeyReused, rateLimited, internalError, serviceUnavailable,
    ].sorted { ($0.status, $0.code) < ($1.status, $1.code) }

    /// The kind for `code`, if the catalogue has it.
    public static func kind(code: String) -> ProblemKind? { all.first { $0.code == code } }

    /// The kind a bare framework error with this status stands for (an unknown path is
    /// Hummingbird's 404, an over-long body its 413); nil when no kind is the generic one.
    public static func generic(status: Int) -> ProblemKind? {
        switch status {
        case 401: unauthenticated
        case 404: notFound
        case 405: methodNotAllowed
        case 413: payloadTooLarge
        case 415: unsupportedMediaType
        case 503: serviceUnavailable
        case 500...599: internalError
        default: nil
        }
    }
}
