import HTTPTypes
import Foundation
import Hummingbird
import Logging
import PostgresNIO

/// The shared services every handler uses. Built once at start-up.
public struct TrellisServices: Sendable {
    public let postgres: PostgresClient
    public let maxBodySize: Int
    public let pageLimits: PageLimits
    /// Single-workspace mode until authentication lands: every request acts for this workspace.
    public let defaultWorkspace: UUID?

    public init(postgres: PostgresClient, maxBodySize: Int, pageLimits: PageLimits, defaultWorkspace: UUID?) {
        self.postgres = postgres
        self.maxBodySize = maxBodySize
        self.pageLimits = pageLimits
        self.defaultWorkspace = defaultWorkspace
    }

    func identity(for context: TrellisRequestContext) throws -> Identity {
        if let identity = context.identity { return identity }
        guard let workspace = defaultWorkspace else {
            var headers = HTTPFields()
            headers[.wwwAuthenticate] = "Bearer"
            throw Problem(
                status: .unauthorized, code: "unauthenticated", title: "Unauthenticated",
                detail: "No workspace is configured for this server (set TRELLIS_WORKSPACE_ID)", headers: headers)
        }
        return Identity(workspaceID: workspace, actor: "anonymous")
    }
}
