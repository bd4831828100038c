import Foundation
import Hummingbird

/// `/v1/admin/…`: platform administration for keys holding the `admin` scope only.
struct AdminRoutes: Sendable {
    let services: TrellisServices

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("admin/workspaces", use: createWorkspace)
        v1.get("admin/workspaces", use: listWorkspaces)
        v1.post("admin/workspaces/:id/api-keys", use: createKey)
    }

    @Sendable func createWorkspace(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        var body = try await KeyRequestBody.read(request, services: services, allowed: ["name"])
        let name = body.string("name", maxLength: 200, required: true)
        try body.finish()
        let workspace = try await run(request, context, as: admin, in: UUID.v7()) { tx in
            try await Workspaces.create(name: name!, in: tx)
        }
        var response = workspace.response(.created)
        response.headers[.location] = "/v1/admin/workspaces/\(workspace.id.uuidString.lowercased())"
        return response
    }

    @Sendable func listWorkspaces(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let (limit, after) = try APIKeyRoutes.page(request, limits: services.pageLimits, keys: services.cursorKeys)
        let workspaces = try await run(request, context, as: admin, in: admin.workspaceID) { tx in
            try await Workspaces.list(limit: limit + 1, after: after, in: tx)
        }
        return APIKeyRoutes.listResponse(Array(workspaces.prefix(limit)), hasMore: workspaces.count > limit, keys: services.cursorKeys, id: \.id)
    }

    /// A key in any workspace, with any known scope: the platform admin's way to hand a
    /// tenant its first key.
    @Sendable func createKey(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        guard let text = context.parameters.get("id"), let workspace = UUID(uuidString: text) else {
            throw Problem.notFound("No workspace with id \(context.parameters.get("id") ?? "")")
        }
        var body = try await KeyRequestBody.read(request, services: services, allowed: ["name", "scopes", "expires_at"])
        let name = body.string("name", maxLength: 200)
        let scopes = body.scopes(catalog: services.scopes, grantor: ScopeSet([ScopeSet.all, ScopeSet.platformAdmin]))
        let expiresAt = body.futureTimestamp("expires_at")
        try body.finish()
        let created = try await run(request, context, as: admin, in: workspace) { tx in
            guard try await Workspaces.exists(workspace, in: tx) else {
                throw Problem.notFound("No workspace with id \(workspace.uuidString.lowercased())")
            }
            return try await APIKeys.create(name: name, scopes: scopes!, expiresAt: expiresAt, in: tx)
        }
        return created.response(.created)
    }

    /// The admin acting inside `workspace`'s transaction (its RLS setting and audit chain).
    private func run<T: Sendable>(
        _ request: Request, _ context: TrellisRequestContext, as admin: Identity, in workspace: UUID,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        var identity = admin
        identity.workspaceID = workspace
        return try await TenantTransaction.run(
            on: services.postgres, identity: identity, origin: context.origin(request), logger: context.logger, body)
    }
}
