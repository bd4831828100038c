/// The operations a generated resource can expose: the schema's `operations` list.
public enum ResourceOperation: String, Sendable, Hashable, CaseIterable {
    case list, get, create, update, delete, search
}

/// What each kind of operation can answer besides success: the problems the runtime really
/// sends on it. The generator documents these per operation; the contract tests drive the
/// live server into each of them.
public enum OperationContract {

    /// Every `/v1` operation: a missing or refused credential, a missing scope, the credential's
    /// rate limit, a server fault or an unavailable database.
    public static let everyOperation: [ProblemKind] = [
        ProblemCatalogue.unauthenticated, ProblemCatalogue.insufficientScope, ProblemCatalogue.rateLimited,
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
    public enum Kind: String, Sendable {
        /// JSON-RPC 2.0 envelopes.
        case jsonRPC
        /// GraphQL requests (`{query, operationName, variables, extensions}`) and results.
        case graphQL
        /// The GraphQL schema as SDL text.
        case graphQLSchema
    }

    public let kind: Kind
    public let method: HandWrittenOperation.Method
    /// Below `/v1`, e.g. `rpc`.
    public let path: String
    public let operationID: String
    public let summary: String
    public let description: String
    /// What the endpoint answers as an HTTP problem rather than inside its protocol. (A rate
    /// limit is answered in the protocol, with HTTP 429: `-32029`, or a GraphQL error whose
    /// `extensions.code` is `rate_limited`; the schema endpoint answers it as a problem.)
    public let problems: [ProblemKind]

    /// `POST /v1/rpc`: JSON-RPC 2.0 (DESIGN.md §5.1). Every answer is HTTP 200 except these.
    public static let jsonRPC = ProtocolEndpoint(
        kind: .jsonRPC, method: .post, path: "rpc", operationID: "callJSONRPC", summary: "Call JSON-RPC 2.0 methods",
        description: "One call or a batch of calls to `<resource>.list|get|create|update|delete|search` and `rpc.discover` (the OpenRPC document). `params` is the input object: the body of a create, `{\"id\", …patch}` for an update, `{\"id\"}` for get and delete, the query parameters for list and search. Every answer is HTTP 200, errors included (codes in the OpenRPC document), except a missing or refused credential (401) and a body over the limit or not JSON (413, 415). A lone notification, or a batch of them, is answered with 204. `Trellis-Atomic: true` runs a batch in one transaction: the first failure rolls back every call, and every entry reports it. Each method needs its own scope (`agents:read`, …), checked per call.",
        problems: OperationContract.sorted([
            ProblemCatalogue.unauthenticated, ProblemCatalogue.payloadTooLarge, ProblemCatalogue.unsupportedMediaType,
            ProblemCatalogue.internalError, ProblemCatalogue.serviceUnavailable,
        ]))

    static let graphQLProblems = OperationContract.sorted([
        ProblemCatalogue.unauthenticated, ProblemCatalogue.payloadTooLarge, ProblemCatalogue.unsupportedMediaType,
        ProblemCatalogue.malformedJSON, ProblemCatalogue.internalError, ProblemCatalogue.serviceUnavailable,
    ])

    /// `POST /v1/graphql` (DESIGN.md §5): queries and mutations over the same service calls.
    public static let graphQL = ProtocolEndpoint(
        kind: .graphQL, method: .post, path: "graphql", operationID: "postGraphQL", summary: "Run a GraphQL query or mutation",
        description: "`{query, operationName?, variables?, extensions?}`; the schema is `GET /v1/graphql/schema.graphql` (committed at `openapi/schema.graphql`). Every answer is HTTP 200 with `data` and `errors`, except a missing or refused credential (401) and a body over the limit, not JSON or malformed (413, 415, 400). Each field's error carries `extensions.code`, the REST problem code (`not_found`, `insufficient_scope`, `validation_failed` with `extensions.errors`, …). A document is parsed and validated once; Apollo's automatic persisted queries (`extensions.persistedQuery.sha256Hash`) are served. Limits: document size, depth and aliases, refused before any SQL runs.",
        problems: graphQLProblems)

    /// `GET /v1/graphql`: a query (never a mutation) from query parameters, for caching proxies.
    public static let graphQLGet = ProtocolEndpoint(
        kind: .graphQL, method: .get, path: "graphql", operationID: "getGraphQL", summary: "Run a GraphQL query from the URL",
        description: "`query`, `operationName`, `variables` (JSON) and `extensions` (JSON) as query parameters; with a persisted query's hash alone the URL stays short. Mutations must be POSTed. Subscriptions: this path with `Upgrade: websocket` and the `graphql-transport-ws` subprotocol (`Sec-WebSocket-Protocol`) becomes a WebSocket speaking that protocol (`connection_init` may carry `payload.authorization` instead of the header; `subscription { events(topics: [AGENTS]) { … } }`; docs/graphql.md).",
        problems: OperationContract.sorted([
            ProblemCatalogue.unauthenticated, ProblemCatalogue.internalError, ProblemCatalogue.serviceUnavailable,
        ]))

    /// `GET /v1/graphql/schema.graphql`: the SDL.
    public static let graphQLSchema = ProtocolEndpoint(
        kind: .graphQLSchema, method: .get, path: "graphql/schema.graphql", operationID: "getGraphQLSchema",
        summary: "The GraphQL schema (SDL)", description: "The schema `/v1/graphql` answers, as SDL text; any valid credential may read it.",
        problems: OperationContract.sorted([ProblemCatalogue.unauthenticated, ProblemCatalogue.rateLimited, ProblemCatalogue.internalError]))

    public static let all: [ProtocolEndpoint] = [jsonRPC, graphQL, graphQLGet, graphQLSchema]
}
