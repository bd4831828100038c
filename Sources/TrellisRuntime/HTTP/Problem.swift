import HTTPTypes
import TrellisContract

/// An RFC 9457 problem: the one error type the HTTP boundary turns into a response.
/// Services throw it; anything else thrown becomes a 500 whose details are logged, not sent.
/// Status, code and title come from a ``ProblemKind`` of the shared ``ProblemCatalogue``, the
/// list the OpenAPI document is generated from.
public struct Problem: Error, Sendable, Hashable {
    public var status: HTTPResponse.Status
    /// Stable machine-readable code, e.g. `validation_failed`.
    public var code: String
    public var title: String
    public var detail: String?
    /// At most ``maxReportedErrors`` of them (see ``totalErrors``).
    public var errors: [FieldProblem]
    /// How many problems were found, when more than ``errors`` holds; the body then says
    /// `"truncated": true` and `"total_errors"`, so an error body stays small whatever the input.
    public var totalErrors: Int?
    /// Extra response headers (`Allow`, `Retry-After`, `WWW-Authenticate`, …).
    public var headers: HTTPFields

    /// The most field problems one response lists (DESIGN.md §6).
    public static let maxReportedErrors = 100

    /// A problem of a catalogued kind; `headers` should hold the kind's headers.
    public init(_ kind: ProblemKind, detail: String? = nil, errors: [FieldProblem] = [], headers: HTTPFields = [:]) {
        self.status = HTTPResponse.Status(code: kind.status)
        self.code = kind.code
        self.title = kind.title
        self.detail = detail
        self.errors = []
        self.headers = headers
        setErrors(errors)
    }

    /// A problem outside the catalogue: only for framework errors the catalogue has no kind for.
    init(uncatalogued status: HTTPResponse.Status, code: String, title: String, detail: String?, headers: HTTPFields) {
        self.status = status
        self.code = code
        self.title = title
        self.detail = detail
        self.errors = []
        self.headers = headers
    }

    /// Keeps the first ``maxReportedErrors`` and, past them, the total.
    private mutating func setErrors(_ all: [FieldProblem]) {
        errors = Array(all.prefix(Self.maxReportedErrors))
        totalErrors = all.count > Self.maxReportedErrors ? all.count : nil
    }

    /// Kept so code written before the catalogue still compiles; the OpenAPI document only
    /// knows catalogued codes, so add a ``ProblemKind`` and use ``init(_:detail:errors:headers:)``.
    @available(*, deprecated, message: "add a ProblemKind to ProblemCatalogue (TrellisContract) and use Problem(_:detail:)")
    public init(
        status: HTTPResponse.Status, code: String, title: String, detail: String? = nil,
        errors: [FieldProblem] = [], headers: HTTPFields = [:]
    ) {
        self.init(uncatalogued: status, code: code, title: title, detail: detail, headers: headers)
        setErrors(errors)
    }

    /// `/problems/validation-failed` for code `validation_failed`.
    public var type: String { "/problems/" + code.replacingOccurrences(of: "_", with: "-") }

    /// The body; `traceID` (the request's trace, when it is traced) is sent on a 5xx only.
    public func json(requestID: String, traceID: String? = nil) -> [UInt8] {
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("type"); w.value(type)
        w.key("title"); w.value(title)
        w.key("status"); w.value(Int64(status.code))
        w.key("code"); w.value(code)
        if let detail {
            w.key("detail"); w.value(detail)
        }
        w.key("request_id"); w.value(requestID)
        if let traceID, status.code >= 500 {
            w.key("trace_id"); w.value(traceID)
        }
        w.fieldProblems(errors)
        if let totalErrors {
            w.key("truncated"); w.value(true)
            w.key("total_errors"); w.value(Int64(totalErrors))
        }
        w.endObject()
        return w.bytes
    }
}

extension Problem: CustomStringConvertible {
    /// `unique_violation: Another user already has this email`: how the CLI reports a problem
    /// from a service call it shares with the API.
    public var description: String {
        ([code + ": " + (detail ?? title)] + errors.map { "  \($0.path): \($0.message)" }).joined(separator: "\n")
    }
}

extension Problem {
    public static func validationFailed(_ errors: [FieldProblem]) -> Problem {
        let count = Set(errors.map(\.path)).count
        return Problem(
            ProblemCatalogue.validationFailed, detail: count == 1 ? "1 field is invalid" : "\(count) fields are invalid",
            errors: errors)
    }

    public static func invalidQuery(_ errors: [FieldProblem]) -> Problem {
        Problem(
            ProblemCatalogue.invalidQuery,
            detail: errors.count == 1 ? "1 query parameter is invalid" : "\(errors.count) query parameters are invalid",
            errors: errors)
    }

    public static func malformedJSON(_ detail: String) -> Problem {
        Problem(ProblemCatalogue.malformedJSON, detail: detail)
    }

    public static func notFound(_ detail: String = "No such resource") -> Problem {
        Problem(ProblemCatalogue.notFound, detail: detail)
    }

    public static func methodNotAllowed(allowed: [HTTPRequest.Method]) -> Problem {
        var headers = HTTPFields()
        headers[.allow] = allowed.map(\.rawValue).joined(separator: ", ")
        return Problem(
            ProblemCatalogue.methodNotAllowed, detail: "Allowed: " + allowed.map(\.rawValue).joined(separator: ", "),
            headers: headers)
    }

    public static func payloadTooLarge(limit: Int) -> Problem {
        Problem(ProblemCatalogue.payloadTooLarge, detail: "The request body must be at most \(limit) bytes")
    }

    public static func unsupportedMediaType(expected: [String]) -> Problem {
        Problem(ProblemCatalogue.unsupportedMediaType, detail: "Send the body as " + expected.joined(separator: " or "))
    }

    public static func preconditionFailed(_ detail: String) -> Problem {
        Problem(ProblemCatalogue.preconditionFailed, detail: detail)
    }

    public static func conflict(field: String?) -> Problem {
        Problem(
            ProblemCatalogue.uniqueViolation,
            detail: field.map { "Another object in this workspace already has this \($0)" }
                ?? "The object conflicts with an existing one")
    }

    /// 426: `path` is a WebSocket and this request did not (or, later on a kept-alive
    /// connection, could not) ask to upgrade.
    public static func upgradeRequired(_ path: String) -> Problem {
        var headers = HTTPFields()
        headers[.upgrade] = "websocket"
        headers[.connection] = "Upgrade"
        return Problem(
            ProblemCatalogue.upgradeRequired,
            detail: "GET \(path) is a WebSocket; connect with Upgrade: websocket as the first request of a new connection",
            headers: headers)
    }

    public static let internalError = Problem(
        ProblemCatalogue.internalError, detail: "Something went wrong on our side; quote the request id when reporting it")

    public static func serviceUnavailable(_ detail: String) -> Problem {
        var headers = HTTPFields()
        headers[.retryAfter] = "5"
        return Problem(ProblemCatalogue.serviceUnavailable, detail: detail, headers: headers)
    }
}

extension JSONWriter {
    /// `"errors": [{path, code, message}, …]`, when there are any: the field problems of a
    /// problem body, a JSON-RPC error's `data` and a GraphQL error's `extensions`, written alike.
    mutating func fieldProblems(_ problems: [FieldProblem]) {
        guard !problems.isEmpty else { return }
        key("errors")
        beginArray()
        for problem in problems {
            beginObject()
            // A path names client input (an unknown key can be a megabyte long): bounded too.
            key("path"); value(problem.path.count > 256 ? problem.path.prefix(256) + "…" : problem.path)
            key("code"); value(problem.code.rawValue)
            key("message"); value(problem.message)
            endObject()
        }
        endArray()
    }
}
