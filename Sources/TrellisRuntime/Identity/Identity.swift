import Foundation

/// Who is calling, for which workspace, with which scopes: the result of authentication,
/// carried by the request context and by every ``TenantTransaction``.
public struct Identity: Sendable, Hashable {
    public enum CredentialKind: String, Sendable, Hashable {
        case apiKey = "api_key"
        case jwt
        /// The `trellis` CLI acting with the owner role.
        case cli
        /// A person logged in with a session (`trs_…`); the credential id is the user's id.
        case user
        /// A job running on a worker; the credential id is the job's id, and its scopes are
        /// those of the credential that enqueued it.
        case job
    }

    public var workspaceID: UUID
    public var kind: CredentialKind
    /// The API key's id, the JWT's `sub` or the logged-in user's id; never a secret.
    public var credentialID: String
    public var scopes: ScopeSet
    /// The credential's own rate limit (an API key's `rate_limit`), replacing the schema's and
    /// `api.yaml`'s for every bucket; nil: those apply.
    public var rateLimit: RateLimitPolicy?

    public init(workspaceID: UUID, kind: CredentialKind, credentialID: String, scopes: ScopeSet, rateLimit: RateLimitPolicy? = nil) {
        self.workspaceID = workspaceID
        self.kind = kind
        self.credentialID = credentialID
        self.scopes = scopes
        self.rateLimit = rateLimit
    }

    /// `api_key:<id>`, `jwt:<sub>`, `cli:<user>`, `user:<id>`, `job:<id>`: the actor in logs, audit entries and
    /// the `trellis.actor` database setting.
    public var actor: String { "\(kind.rawValue):\(credentialID)" }
}

/// Where a request came from, recorded with every audit entry.
public struct RequestOrigin: Sendable, Hashable {
    public var requestID: String
    public var ip: String?
    public var userAgent: String?

    public init(requestID: String, ip: String?, userAgent: String?) {
        self.requestID = requestID
        self.ip = ip
        self.userAgent = userAgent
    }
}
