import TrellisContract

/// One entry of a JSON-RPC 2.0 request (a single call, or one element of a batch), checked
/// against the spec's request object: `"jsonrpc": "2.0"`, a string `method`, `params` an
/// object when present (Trellis's methods take named parameters only), and an `id` that is
/// a string, a number or null, or absent for a notification. Other members are refused, as
/// unknown fields are everywhere in this API.
struct JSONRPCCall: Sendable {
    /// The request's id, echoed in its answer.
    enum ID: Sendable, Hashable {
        case string(String)
        case integer(Int64)
        case number(Double)
        case null

        init?(_ json: JSONValue) {
            switch json {
            case let .string(text): self = .string(text)
            case let .integer(value): self = .integer(value)
            case let .double(value): self = .number(value)
            case .null: self = .null
            default: return nil
            }
        }

        func write(to w: inout JSONWriter) {
            switch self {
            case let .string(text): w.value(text)
            case let .integer(value): w.value(value)
            case let .number(value): w.value(value)
            case .null: w.null()
            }
        }
    }

    var method: String
    /// The `params` object; an absent `params` is an empty object.
    var params: JSONObject
    /// nil for a notification (no `id` member): it runs, and gets no answer.
    var id: ID?

    /// The call, or the `-32600` answer an invalid entry gets (with its id when that much
    /// could be read, else null).
    static func parse(_ json: JSONValue) -> Result<JSONRPCCall, JSONRPCFailure> {
        guard case let .object(object) = json else {
            return .failure(.init(.invalidRequest, detail: "A request must be a JSON object, not \(json.typeName)", id: .null))
        }
        var version: JSONValue?, method: JSONValue?, params: JSONValue?, idValue: JSONValue?
        var unknown: [String] = []
        for member in object.members {
            switch member.key {
            case "jsonrpc": version = member.value
            case "method": method = member.value
            case "params": params = member.value
            case "id": idValue = member.value
            default: unknown.append(member.key)
            }
        }
        let id = idValue.flatMap(ID.init)
        func invalid(_ detail: String) -> Result<JSONRPCCall, JSONRPCFailure> {
            .failure(.init(.invalidRequest, detail: detail, id: id ?? .null))
        }
        if idValue != nil, id == nil { return invalid("\"id\" must be a string, a number or null") }
        guard case .string("2.0") = version else { return invalid("\"jsonrpc\" must be exactly \"2.0\"") }
        guard case let .string(name)? = method, !name.isEmpty else { return invalid("\"method\" must be a non-empty string") }
        if let first = unknown.first {
            return invalid("Unknown member \"\(first.count > 64 ? first.prefix(64) + "…" : first)\": a request has jsonrpc, method, params and id")
        }
        switch params {
        case nil:
            return .success(JSONRPCCall(method: name, params: JSONObject(), id: id))
        case let .object(members)?:
            return .success(JSONRPCCall(method: name, params: members, id: id))
        case let other?:
            // Positional params are valid JSON-RPC, but no Trellis method takes them.
            return .failure(.init(
                .invalidParams, detail: "\"params\" must be an object of named parameters, not \(other.typeName)",
                errors: [FieldProblem(path: "", code: .type, message: "must be an object")], id: id ?? .null,
                isNotification: idValue == nil))
        }
    }
}

/// A JSON-RPC error answer: the code of ``JSONRPCError``, a message, and `data` with the
/// problem's own code, HTTP status and field errors, so every surface reports a failure the
/// same way (DESIGN.md §5.1).
struct JSONRPCFailure: Error, Sendable {
    var error: JSONRPCError
    var detail: String
    /// The REST problem code (`validation_failed`, `not_found`, …), or nil for the
    /// protocol's own errors (parse, invalid request, method not found).
    var problemCode: String?
    var status: Int?
    var errors: [FieldProblem]
    var totalErrors: Int?
    var id: JSONRPCCall.ID
    /// A failed notification runs to no answer at all.
    var isNotification: Bool
    /// In an atomic batch, the call whose failure rolled this one back (its index in the batch).
    var failedCall: Int?

    init(
        _ error: JSONRPCError, detail: String, problemCode: String? = nil, status: Int? = nil, errors: [FieldProblem] = [],
        id: JSONRPCCall.ID, isNotification: Bool = false
    ) {
        self.error = error
        self.detail = detail
        self.problemCode = problemCode
        self.status = status
        self.errors = errors
        self.id = id
        self.isNotification = isNotification
    }

    /// The answer a service problem becomes.
    init(_ problem: Problem, id: JSONRPCCall.ID?) {
        self.init(
            JSONRPCError.forProblem(code: problem.code), detail: problem.detail ?? problem.title, problemCode: problem.code,
            status: Int(problem.status.code), errors: problem.errors, id: id ?? .null, isNotification: id == nil)
        totalErrors = problem.totalErrors
    }

    func write(to w: inout JSONWriter, requestID: String) {
        w.beginObject()
        w.key("jsonrpc"); w.value("2.0")
        w.key("error")
        w.beginObject()
        w.key("code"); w.value(Int64(error.code))
        w.key("message"); w.value(detail)
        w.key("data")
        w.beginObject()
        if let problemCode {
            w.key("code"); w.value(problemCode)
        }
        if let status {
            w.key("status"); w.value(Int64(status))
        }
        w.key("request_id"); w.value(requestID)
        w.fieldProblems(errors)
        if let totalErrors {
            w.key("truncated"); w.value(true)
            w.key("total_errors"); w.value(Int64(totalErrors))
        }
        if let failedCall {
            w.key("failed_call"); w.value(Int64(failedCall))
        }
        w.endObject()
        w.endObject()
        w.key("id"); id.write(to: &w)
        w.endObject()
    }
}
