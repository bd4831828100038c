import Foundation
import Hummingbird
import Logging

/// Who is calling and for which workspace. Until authentication lands (issue 3) the
/// server runs single-workspace: every request acts for the configured workspace.
public struct Identity: Sendable, Hashable {
    public var workspaceID: UUID
    /// Credential or user id, for logs and audit.
    public var actor: String

    public init(workspaceID: UUID, actor: String) {
        self.workspaceID = workspaceID
        self.actor = actor
    }
}

/// Per-request state shared by every Trellis route: the request id and the caller.
public struct TrellisRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Echoed from a sane `X-Request-ID`, otherwise generated.
    public var requestID: String
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = ""
        identity = nil
    }

    /// Bodies are read by ``JSONBody`` with the API's own limit.
    public var maxUploadSize: Int { .max }
}
