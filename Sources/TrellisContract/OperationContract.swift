/// The operations a generated resource can expose: the schema's `operations` list.
public enum ResourceOperation: String, Sendable, Hashable, CaseIterable {
    case list, get, create, update, delete, search
}

/// What each kind of operation can answer besides success: the problems the runtime really
/// sends on it. The generator documents these per operation; the contract tests drive the
/// live server into each of them.
public enum OperationContract {

    /// Every `/v1` operation: a missing or refused credential, a missing scope, a server fault
    /// or an unavailable database.
    public static let everyOperation: [ProblemKind] = [
        ProblemCatalogue.unauthenticated, ProblemCatalogue.insufficientScope,
        ProblemCatalogue.internalError, ProblemCatalogue.serviceUnavailable,
    ]

    /// Operations that read a JSON body: its media type, size and syntax, then its fields.
    public static let jsonBody: [ProblemKind] = [
        ProblemCatalogue.malformedJSON, ProblemCatalogue.payloadTooLarge,
        ProblemCatalogue.unsupportedMediaType, ProblemCatalogue.validationFailed,
    ]

    /// The problems of a generated resource operation, by status then code. A create or
    /// update can be a `unique_violation` only on a resource with a unique field, and a delete
    /// `still_referenced` only when another table references it without cascading or
    /// setting null (`restrict`, `no_action`): the schema decides, and so the defaults say
    /// "can happen" for callers that do not know.
    public static func problems(
        for operation: ResourceOperation, hasUniqueFields: Bool = true, isReferencedWithoutCascade: Bool = true
    ) -> [ProblemKind] {
        let unique = hasUniqueFields ? [ProblemCatalogue.uniqueViolation] : []
        let specific: [ProblemKind]
        switch operation {
        case .list, .search:
            specific = [ProblemCatalogue.invalidQuery]
        case .get:
            specific = [ProblemCatalogue.notFound]
        case .create:
            specific = jsonBody + [ProblemCatalogue.invalidIdempotencyKey, ProblemCatalogue.idempotencyKeyReused] + unique
        case .update:
            specific = jsonBody + [ProblemCatalogue.notFound, ProblemCatalogue.preconditionFailed] + unique
        case .delete:
            specific = [ProblemCatalogue.notFound, ProblemCatalogue.preconditionFailed]
                + (isReferencedWithoutCascade ? [ProblemCatalogue.stillReferenced] : [])
        }
        return sorted(everyOperation + specific)
    }

    /// By status, then code, without repeats.
    public static func sorted(_ kinds: [ProblemKind]) -> [ProblemKind] {
        Array(Set(kinds)).sorted { ($0.status, $0.code) < ($1.status, $1.code) }
    }
}

/// A `/v1` endpoint that speaks another protocol over the same service calls (JSON-RPC
/// today, GraphQL next): one route, its methods' own scopes checked per call. The runtime
/// registers these routes; the generator documents them from this list.
public struct ProtocolEndpoint: Sendable, Hashable {
    public let method: HandWrittenOperation.Method
    /// Below `/v1`, e.g. `rpc`.
    public let path: String
    public let operationID: String
    public let summary: String
    public let description: String
    /// What the endpoint answers as an HTTP problem rather than inside its protocol.
    public let problems: [ProblemKind]

    /// `POST /v1/rpc`: JSON-RPC 2.0 (DESIGN.md §5.1). Every answer is HTTP 200 except these.
    public static let jsonRPC = ProtocolEndpoint(
        method: .post, path: "rpc", operationID: "callJSONRPC", summary: "Call JSON-RPC 2.0 methods",
        description: "One call or a batch of calls to `<resource>.list|get|create|update|delete|search` and `rpc.discover` (the OpenRPC document). `params` is the input object: the body of a create, `{\"id\", …patch}` for an update, `{\"id\"}` for get and delete, the query parameters for list and search. Every answer is HTTP 200, errors included (codes in the OpenRPC document), except a missing or refused credential (401) and a body over the limit or not JSON (413, 415). A lone notification, or a batch of them, is answered with 204. `Trellis-Atomic: true` runs a batch in one transaction: the first failure rolls back every call, and every entry reports it. Each method needs its own scope (`agents:read`, …), checked per call.",
        problems: OperationContract.sorted([
            ProblemCatalogue.unauthenticated, ProblemCatalogue.payloadTooLarge, ProblemCatalogue.unsupportedMediaType,
            ProblemCatalogue.internalError, ProblemCatalogue.serviceUnavailable,
        ]))

    public static let all: [ProtocolEndpoint] = [jsonRPC]
}
