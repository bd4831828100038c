import Foundation
import Hummingbird

/// `/v1/admin/errors`: the grouped 5xx responses and failed job attempts of every instance
/// (``ErrorEvents``), for platform-admin keys only. A thin adapter: `trellis errors` reads and
/// resolves the same rows through the same functions.
struct ErrorRoutes: Sendable {
    let services: TrellisServices
    /// The most errors one list answers.
    static let maxLimit = 100

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.get("admin/errors", use: list)
        v1.get("admin/errors/:fingerprint", use: get)
        v1.post("admin/errors/:fingerprint/resolve", use: resolve)
    }

    /// `?status=open|resolved|all` (open) and `?limit=1…100` (50): most recently seen first.
    @Sendable func list(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        var filter = ErrorEvents.Filter.open
        var limit = 50
        var problems: [FieldProblem] = []
        for (name, value) in queryParameters(of: request) {
            switch name {
            case "status":
                if let chosen = ErrorEvents.Filter(rawValue: value) { filter = chosen } else {
                    problems.append(FieldProblem(path: "/query/status", code: .enum, message: "must be one of open, resolved, all"))
                }
            case "limit":
                if let number = Int(value), (1...Self.maxLimit).contains(number) { limit = number } else {
                    let code: FieldProblem.Code = Int(value) == nil ? .type : (Int(value)! < 1 ? .tooSmall : .tooLarge)
                    problems.append(FieldProblem(path: "/query/limit", code: code, message: "must be a whole number from 1 to \(Self.maxLimit)"))
                }
            default:
                problems.append(FieldProblem(path: "/query/\(name.prefix(64))", code: .unknownField, message: "is not a parameter of this operation"))
            }
        }
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        if !problems.isEmpty { throw Problem.invalidQuery(problems) }
        let (errors, hasMore) = try await platform(request, context, as: admin) { tx in
            try await ErrorEvents.list(filter, limit: limit, on: tx.connection, logger: tx.logger)
        }
        var w = JSONWriter()
        w.beginObject()
        w.key("data")
        w.beginArray()
        for error in errors { error.writeJSON(to: &w) }
        w.endArray()
        w.key("next_cursor"); w.null()
        w.key("has_more"); w.value(hasMore)
        w.endObject()
        return JSONResponse.make(.ok, w.bytes)
    }

    @Sendable func get(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let fingerprint = try Self.fingerprint(context)
        let error = try await platform(request, context, as: admin) { tx in
            try await ErrorEvents.get(fingerprint, on: tx.connection, logger: tx.logger)
        }
        guard let error else { throw Self.notFound(fingerprint) }
        return error.response(.ok)
    }

    /// Marks the error resolved; its next occurrence re-opens it. Audited in the platform chain.
    @Sendable func resolve(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let admin = try context.authorized(for: ScopeSet.platformAdmin)
        let fingerprint = try Self.fingerprint(context)
        let error = try await platform(request, context, as: admin) { tx -> ErrorEventRecord? in
            guard let error = try await ErrorEvents.resolve(fingerprint, on: tx.connection, logger: tx.logger) else { return nil }
            try await AuditLog.record(AuditEntry(action: "error.resolved", resource: "errors", resourceID: fingerprint), in: tx)
            return error
        }
        guard let error else { throw Self.notFound(fingerprint) }
        return error.response(.ok)
    }

    static func fingerprint(_ context: TrellisRequestContext) throws -> String {
        let text = context.parameters.get("fingerprint") ?? ""
        guard ErrorEvents.isFingerprint(text) else { throw notFound(text) }
        return text
    }

    static func notFound(_ fingerprint: String) -> Problem {
        Problem.notFound("No error with fingerprint \(fingerprint.prefix(64))")
    }

    /// Runs `body` in the platform workspace's transaction, as the admin.
    private func platform<T: Sendable>(
        _ request: Request, _ context: TrellisRequestContext, as admin: Identity, _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        var identity = admin
        identity.workspaceID = Workspaces.platformID
        return try await context.transaction(request, on: services, as: identity, body)
    }
}
