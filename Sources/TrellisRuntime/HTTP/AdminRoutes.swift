import Foundation
import Hummingbird

/// `/v1/admin/…`: platform administration for keys holding the `admin` scope only.
///
/// Platform-admin keys live in the platform workspace (``Workspaces/platformID``), which no
/// tenant credential can see; tenant keys are made and revoked here inside the tenant's
/// workspace, so the change is audited in that workspace's chain.
struct AdminRoutes: Sendable {
    let services: TrellisServices

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("admin/workspaces", use: createWorkspace)
        v1.get("admin/workspaces", use: listWorkspaces)
        v1.post("admin/workspaces/:id/api-keys", use: createTenantKey)
        v1.post("admin/workspaces/:id/api-keys/:key_id/revoke", use: revokeTenantKey)
        v1.post("admin/api-keys", use: createAdminKey)
        v1.get("admin/api-keys", use: listAdminKeys)
        v1.post("admin/api-keys/:key_id/revoke", use: revokeAdminKey)
        v1.post("admin/users", use: createUser)
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
        response.headers[.location] = "/v1/admin/workspaces/\(workspace.id.lowercasedString)"
        return response
    }

    @Sendable func listWorkspaces(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        try await listPage(request, context, id: \.id) { limit, after, tx in
            try await Workspaces.list(limit: limit, after: after, in: tx)
        }
    }

    /// A key in a tenant workspace, with any known workspace scope: the platform admin's
    /// way to hand a tenant its first key.
    @Sendable func createTenantKey(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let workspace = try tenantWorkspace(context)
        var body = try await KeyRequestBody.read(request, services: services, allowed: ["name", "scopes", "expires_at", "rate_limit"])
        let name = body.string("name", maxLength: 200)
        let scopes = body.scopes(catalog: services.scopes)
        let expiresAt = body.futureTimestamp("expires_at")
        let rateLimit = body.rateLimit()
        try body.finish()
        let created = try await run(request, context, as: admin, in: workspace) { tx in
            try await Self.requireWorkspace(workspace, in: tx)
            return try await APIKeys.create(name: name, scopes: scopes!, expiresAt: expiresAt, rateLimit: rateLimit, in: tx)
        }
        return created.response(.created)
    }

    /// Revokes a tenant's key (a leaked one, say), audited in the tenant's workspace.
    @Sendable func revokeTenantKey(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let workspace = try tenantWorkspace(context)
        let id = try APIKeyRoutes.keyID(context, parameter: "key_id")
        let record = try await run(request, context, as: admin, in: workspace) { tx in
            try await Self.requireWorkspace(workspace, in: tx)
            return try await APIKeys.revoke(id, in: tx)
        }
        services.authenticator.keyCache.evict(id)
        return record.response(.ok)
    }

    /// A new platform-admin key (scopes exactly `admin`); its secret is shown once.
    @Sendable func createAdminKey(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        var name: String?
        var expiresAt: Date?
        if request.headers[.contentType] != nil {
            var body = try await KeyRequestBody.read(request, services: services, allowed: ["name", "expires_at"])
            name = body.string("name", maxLength: 200)
            expiresAt = body.futureTimestamp("expires_at")
            try body.finish()
        }
        let created = try await run(request, context, as: admin, in: Workspaces.platformID) { [name, expiresAt] tx in
            try await APIKeys.create(name: name, scopes: ScopeSet([ScopeSet.platformAdmin]), expiresAt: expiresAt, in: tx)
        }
        return created.response(.created)
    }

    @Sendable func listAdminKeys(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        try await listPage(request, context, id: \.id) { limit, after, tx in
            try await APIKeys.list(limit: limit, after: after, in: tx)
        }
    }

    @Sendable func revokeAdminKey(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let id = try APIKeyRoutes.keyID(context, parameter: "key_id")
        let record = try await run(request, context, as: admin, in: Workspaces.platformID) { try await APIKeys.revoke(id, in: $0) }
        services.authenticator.keyCache.evict(id)
        return record.response(.ok)
    }

    /// A user who logs in with email and password (`POST /v1/auth/login`), in a tenant
    /// workspace, holding tenant scopes. The password is hashed before any connection is
    /// leased; only the hash is stored.
    @Sendable func createUser(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        var body = try await KeyRequestBody.read(request, services: services, allowed: ["workspace_id", "email", "password", "name", "scopes"])
        let workspaceText = body.string("workspace_id", maxLength: 36, required: true)
        let email = body.string("email", maxLength: 254, required: true)
        let password = body.string("password", maxLength: PasswordHasher.maxPasswordBytes, required: true)
        let name = body.string("name", maxLength: 200)
        let scopes = body.scopes(catalog: services.scopes)
        var problems: [FieldProblem] = []
        let workspace = workspaceText.flatMap { UUID(hyphenated: $0) }
        if workspaceText != nil, workspace == nil || workspace == Workspaces.platformID {
            problems.append(FieldProblem(path: "/workspace_id", code: .format, message: "must be the id of a tenant workspace"))
        }
        if let email, let problem = Users.emailProblem(email) {
            problems.append(FieldProblem(path: "/email", code: .format, message: problem))
        }
        if let password, let problem = Users.passwordProblem(password) {
            problems.append(FieldProblem(path: "/password", code: .tooShort, message: problem))
        }
        if let scopes, scopes.scopes.contains(ScopeSet.platformAdmin) {
            problems.append(FieldProblem(path: "/scopes", code: .enum, message: "'admin' belongs to platform-admin keys; a user holds workspace scopes"))
        }
        try body.finish()
        if !problems.isEmpty { throw Problem.validationFailed(problems) }
        let passwordHash: String
        do {
            passwordHash = try await services.login.hasher.hash(password!)
        } catch is PasswordHasher.Busy {
            throw Problem.serviceUnavailable("Too many passwords are being hashed at once; try again shortly")
        }
        let user = try await run(request, context, as: admin, in: workspace!) { tx in
            try await Self.requireWorkspace(workspace!, in: tx)
            return try await Users.create(email: email!, name: name, passwordHash: passwordHash, scopes: scopes!, in: tx)
        }
        return user.response(.created)
    }

    /// One page of a platform list (workspaces, platform-admin keys), fetched in the platform
    /// workspace: `fetch` gets one more than the page size, to tell whether more follow.
    private func listPage<Item: JSONWritable & Sendable>(
        _ request: Request, _ context: TrellisRequestContext, id: (Item) -> UUID,
        _ fetch: (_ limit: Int, _ after: UUID?, TenantTransaction) async throws -> [Item]
    ) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let (limit, after) = try APIKeyRoutes.page(request, limits: services.pageLimits, keys: services.cursorKeys)
        let items = try await run(request, context, as: admin, in: Workspaces.platformID) { try await fetch(limit + 1, after, $0) }
        return APIKeyRoutes.listResponse(Array(items.prefix(limit)), hasMore: items.count > limit, keys: services.cursorKeys, id: id)
    }

    /// The `:id` path parameter as a tenant workspace id; the platform workspace is none.
    private func tenantWorkspace(_ context: TrellisRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let workspace = UUID(hyphenated: text), workspace != Workspaces.platformID else {
            throw Problem.notFound("No workspace with id \(context.parameters.get("id")?.prefix(64) ?? "")")
        }
        return workspace
    }

    private static func requireWorkspace(_ workspace: UUID, in tx: TenantTransaction) async throws {
        guard try await Workspaces.exists(workspace, in: tx) else {
            throw Problem.notFound("No workspace with id \(workspace.lowercasedString)")
        }
    }

    /// The admin acting inside `workspace`'s transaction (its RLS setting and audit chain).
    private func run<T: Sendable>(
        _ request: Request, _ context: TrellisRequestContext, as admin: Identity, in workspace: UUID,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        var identity = admin
        identity.workspaceID = workspace
        return try await context.transaction(request, on: services, as: identity, body)
    }
}
