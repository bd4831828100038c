/// The JSON-RPC 2.0 error codes of the API (DESIGN.md §5.1), and which problem each
/// ``ProblemKind`` becomes on `POST /v1/rpc`: one table, read by the runtime that answers
/// calls and by the generator that writes the OpenRPC document.
public struct JSONRPCError: Sendable, Hashable {
    public var code: Int
    public var message: String

    public init(code: Int, message: String) {
        self.code = code
        self.message = message
    }

    public static let parseError = JSONRPCError(code: -32700, message: "Parse error")
    public static let invalidRequest = JSONRPCError(code: -32600, message: "Invalid request")
    public static let methodNotFound = JSONRPCError(code: -32601, message: "Method not found")
    public static let invalidParams = JSONRPCError(code: -32602, message: "Invalid params")
    public static let unauthenticated = JSONRPCError(code: -32001, message: "Unauthenticated")
    public static let forbidden = JSONRPCError(code: -32003, message: "Forbidden")
    public static let notFound = JSONRPCError(code: -32004, message: "Not found")
    public static let conflict = JSONRPCError(code: -32009, message: "Conflict")
    public static let rateLimited = JSONRPCError(code: -32029, message: "Rate limited")
    public static let internalError = JSONRPCError(code: -32603, message: "Internal error")

    /// Every code, in the order the documents list them.
    public static let all: [JSONRPCError] = [
        parseError, invalidRequest, methodNotFound, invalidParams, unauthenticated, forbidden, notFound, conflict,
        rateLimited, internalError,
    ]

    /// The error a problem of this code becomes; its `data.code` keeps the problem's own code,
    /// so a client tells a `unique_violation` from a `precondition_failed` as on REST.
    /// Problems without a closer code (a 503, a 500) are `-32603`, with `data.status` saying
    /// which: a 503's call may be retried.
    public static func forProblem(code: String) -> JSONRPCError {
        switch code {
        case ProblemCatalogue.validationFailed.code, ProblemCatalogue.invalidQuery.code, ProblemCatalogue.malformedJSON.code:
            invalidParams
        case ProblemCatalogue.unauthenticated.code: unauthenticated
        case ProblemCatalogue.insufficientScope.code: forbidden
        case ProblemCatalogue.notFound.code: notFound
        case ProblemCatalogue.uniqueViolation.code, ProblemCatalogue.stillReferenced.code, ProblemCatalogue.keyInactive.code,
            ProblemCatalogue.preconditionFailed.code, ProblemCatalogue.idempotencyKeyReused.code:
            conflict
        case "rate_limited": rateLimited
        default: internalError
        }
    }
}
