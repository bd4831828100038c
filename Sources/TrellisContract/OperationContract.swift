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
