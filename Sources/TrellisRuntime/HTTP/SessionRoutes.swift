import Foundation
import HTTPTypes
import Hummingbird
import TrellisContract

/// `/v1/auth/…`: sessions for people (``LoginService``). `login` is the one `/v1` route that
/// takes no credential (it is registered outside ``AuthenticationMiddleware``); it has its
/// own per-address and per-account budgets, whose headers every answer carries. `logout`
/// and `session` need the credential they are about.
struct SessionRoutes: Sendable {
    let services: TrellisServices

    /// `POST auth/login`, on a group without authentication.
    func registerLogin(on group: RouterGroup<TrellisRequestContext>) {
        group.post("auth/login", use: login)
    }

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("auth/logout", use: logout)
        v1.get("auth/session", use: current)
    }

    @Sendable func login(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let address = services.clientAddress.resolve(peer: context.clientIP, forwardedFor: request.headers[.xForwardedFor])
        let decision = await services.login.admit(address: address)
        do {
            guard decision.allowed else {
                throw Problem.rateLimited(retryAfter: decision.retryAfterSeconds ?? 1, limit: services.login.limits.perAddress)
            }
            var body = try await KeyRequestBody.read(request, services: services, allowed: ["email", "password", "scopes"])
            let email = body.string("email", maxLength: 254, required: true)
            let password = body.string("password", maxLength: PasswordHasher.maxPasswordBytes, required: true)
            let scopes = body.object["scopes"] == nil ? nil : body.scopes(catalog: services.scopes)
            try body.finish()
            let outcome = try await services.login.login(
                LoginService.Attempt(email: email!, password: password!, scopes: scopes), services: services,
                origin: context.origin(request), logger: context.logger)
            var w = JSONWriter()
            w.beginObject()
            w.key("token"); w.value(outcome.token.text)
            outcome.session.writeMembers(to: &w)
            w.endObject()
            var response = JSONResponse.make(.ok, w.bytes)
            response.headers[.cacheControl] = "no-store"
            RateLimitMiddleware.apply(decision, to: &response.headers)
            return response
        } catch var problem as Problem {
            RateLimitMiddleware.apply(decision, to: &problem.headers)
            throw problem
        }
    }

    /// Ends the caller's session on every instance at once: 204. Only a session can log out;
    /// an API key is revoked instead (`POST /v1/api-keys/{id}/revoke`).
    @Sendable func logout(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let token = try sessionToken(request, context: context)
        try await services.login.logout(token, services: services, origin: context.origin(request), logger: context.logger)
        return Response(status: .noContent)
    }

    /// The caller's credential: its kind, id, workspace and scopes, and for a session its
    /// user and expiry.
    @Sendable func current(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        guard let identity = context.identity else {
            throw Problem.unauthenticated("This API needs a bearer credential", challenge: "Bearer")
        }
        var w = JSONWriter()
        w.beginObject()
        w.key("object"); w.value("credential")
        w.key("actor"); w.value(identity.actor)
        w.key("workspace_id"); w.value(identity.workspaceID)
        w.key("scopes"); w.beginArray(); for s in identity.scopes.sorted { w.value(s) }; w.endArray()
        w.key("session")
        if identity.kind == .user, let sessions = services.login.sessions {
            let session = try await sessions.describe(try sessionToken(request, context: context))
            w.beginObject()
            session.writeMembers(to: &w)
            w.endObject()
        } else {
            w.null()
        }
        w.endObject()
        return JSONResponse.make(.ok, w.bytes)
    }

    /// The session token the request authenticated with; 422 for any other credential.
    private func sessionToken(_ request: Request, context: TrellisRequestContext) throws -> SessionToken {
        guard context.identity?.kind == .user, let session = SessionToken(parsing: request.bearerToken) else {
            throw Problem.validationFailed([FieldProblem(
                path: "/headers/authorization", code: .format,
                message: "must be a session (trs_…): only a session logs out; revoke an API key with POST /v1/api-keys/{id}/revoke")])
        }
        return session
    }
}

extension Session {
    /// `object`, `id`, `user_id`, `workspace_id`, `scopes`, `created_at`, `expires_at`,
    /// `idle_timeout_seconds`, into an open object.
    func writeMembers(to w: inout JSONWriter) {
        w.key("object"); w.value("session")
        w.key("id"); w.value(id)
        w.key("user_id"); w.value(userID)
        w.key("workspace_id"); w.value(workspaceID)
        w.key("scopes"); w.beginArray(); for s in scopes.sorted { w.value(s) }; w.endArray()
        w.key("created_at"); w.value(createdAt)
        w.key("expires_at"); w.value(expiresAt)
        w.key("idle_timeout_seconds"); w.value(Int64(idleTimeout))
    }
}
