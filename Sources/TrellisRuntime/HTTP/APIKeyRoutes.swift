import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/api-keys` for holders of `keys:admin` (DESIGN.md §5): create (the secret is shown
/// once), list, get, revoke, rotate. A caller reaches only keys its own scopes cover, and
/// can only hand out scopes it holds itself (``APIKeys``).
struct APIKeyRoutes: Sendable {
    let services: TrellisServices

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("api-keys", use: create)
        v1.get("api-keys", use: list)
        v1.get("api-keys/:id", use: get)
        v1.post("api-keys/:id/revoke", use: revoke)
        v1.post("api-keys/:id/rotate", use: rotate)
    }

    @Sendable func create(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.keysAdmin)
        var body = try await KeyRequestBody.read(request, services: services, allowed: ["name", "scopes", "expires_at", "rate_limit"])
        let name = body.string("name", maxLength: 200)
        let scopes = body.scopes(catalog: services.scopes)
        let expiresAt = body.futureTimestamp("expires_at")
        let rateLimit = body.rateLimit()
        try body.finish()
        let created = try await transaction(request, context) { [services] tx in
            try await APIKeys.create(
                name: name, scopes: scopes!, expiresAt: expiresAt, rateLimit: rateLimit, ceiling: services.keyRateLimitCeiling, in: tx)
        }
        return created.response(.created)
    }

    @Sendable func list(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.keysAdmin)
        let (limit, after) = try Self.page(request, limits: services.pageLimits, keys: services.cursorKeys)
        let keys = try await transaction(request, context) { tx in
            try await APIKeys.list(limit: limit + 1, after: after, in: tx)
        }
        return Self.listResponse(Array(keys.prefix(limit)), hasMore: keys.count > limit, keys: services.cursorKeys, id: \.id)
    }

    @Sendable func get(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.keysAdmin)
        let id = try Self.keyID(context)
        return try await transaction(request, context) { try await APIKeys.get(id, in: $0) }.response(.ok)
    }

    @Sendable func revoke(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.keysAdmin)
        let id = try Self.keyID(context)
        let record = try await transaction(request, context) { try await APIKeys.revoke(id, in: $0) }
        services.authenticator.keyCache.evict(id)
        return record.response(.ok)
    }

    @Sendable func rotate(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        _ = try context.authorized(for: ScopeSet.keysAdmin)
        let id = try Self.keyID(context)
        var grace = 86_400
        if request.headers[.contentType] != nil {
            var body = try await KeyRequestBody.read(request, services: services, allowed: ["grace_period_seconds"])
            grace = body.integer("grace_period_seconds", in: 0...2_592_000) ?? grace
            try body.finish()
        }
        let created = try await transaction(request, context) { try await APIKeys.rotate(id, gracePeriod: grace, in: $0) }
        services.authenticator.keyCache.evict(id)
        return created.response(.created)
    }

    private func transaction<T: Sendable>(
        _ request: Request, _ context: TrellisRequestContext, _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        try await context.transaction(request, on: services, as: context.authorized(for: ScopeSet.keysAdmin), body)
    }

    /// The UUID in path parameter `name`; anything else names no key (404).
    static func keyID(_ context: TrellisRequestContext, parameter name: String = "id") throws -> UUID {
        try context.pathID(name, naming: "API key")
    }

    /// `limit` and `cursor` from the query string; nothing else.
    static func page(_ request: Request, limits: PageLimits, keys: CursorKeys) throws -> (Int, UUID?) {
        let page = try IDPage(queryParameters(of: request), limits: limits, keys: keys, pathPrefix: "/query/")
        return (page.limit, page.after)
    }

    static func listResponse<Item: JSONWritable>(_ items: [Item], hasMore: Bool, keys: CursorKeys, id: (Item) -> UUID) -> Response {
        IDPage.page(items, hasMore: hasMore, keys: keys, id: id).response(.ok)
    }
}

extension JSONWritable {
    func response(_ status: HTTPResponse.Status) -> Response {
        var w = JSONWriter()
        writeJSON(to: &w)
        return JSONResponse.make(status, w.bytes)
    }
}

/// A small JSON body for the platform endpoints, read field by field while collecting every
/// problem (the same 422 shape as generated validators).
struct KeyRequestBody {
    let object: JSONObject
    var problems: [FieldProblem] = []

    static func read(_ request: Request, services: TrellisServices, allowed: Set<String>) async throws -> KeyRequestBody {
        let json = try await JSONBody.read(request, limit: services.maxBodySize, mediaTypes: ["application/json"])
        guard case let .object(object) = json else {
            throw Problem.validationFailed([FieldProblem(path: "", code: .type, message: "must be a JSON object")])
        }
        var body = KeyRequestBody(object: object)
        for member in object where !allowed.contains(member.key) {
            body.problems.append(FieldProblem(path: "/" + member.key, code: .unknownField, message: "is not a field of this request"))
        }
        return body
    }

    mutating func string(_ key: String, maxLength: Int, required: Bool = false) -> String? {
        switch object[key] {
        case nil, .null?:
            if required { problems.append(FieldProblem(path: "/" + key, code: .required, message: "is required")) }
            return nil
        case let .string(s)?:
            if s.isEmpty || s.count > maxLength {
                problems.append(FieldProblem(path: "/" + key, code: s.isEmpty ? .tooShort : .tooLong, message: "must be 1 to \(maxLength) characters"))
            }
            return s
        default:
            problems.append(FieldProblem(path: "/" + key, code: .type, message: "must be a string"))
            return nil
        }
    }

    mutating func integer(_ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let value = object[key], value != .null else { return nil }
        guard case let .integer(n) = value, range.contains(Int(n)) else {
            problems.append(FieldProblem(path: "/" + key, code: .format, message: "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
            return nil
        }
        return Int(n)
    }

    /// `scopes`: required, a non-empty array of known scopes. Whether the caller may grant
    /// them is the service's decision (``APIKeys/create(name:scopes:expiresAt:rotatedFrom:in:)``).
    mutating func scopes(catalog: ScopeCatalog) -> ScopeSet? {
        guard case let .array(items)? = object["scopes"], !items.isEmpty else {
            problems.append(FieldProblem(path: "/scopes", code: .required, message: "is required: a non-empty array of scopes"))
            return nil
        }
        var names: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(s) = item else {
                problems.append(FieldProblem(path: "/scopes/\(i)", code: .type, message: "must be a string"))
                continue
            }
            names.append(s)
        }
        switch catalog.validate(names) {
        case let .failure(unknown):
            problems.append(FieldProblem(path: "/scopes", code: .enum, message: unknown.description))
            return nil
        case let .success(set):
            return set
        }
    }

    /// `rate_limit`: absent or null, or `{"per_minute": 1…60000000, "burst": 1…1000000}`.
    mutating func rateLimit() -> RateLimitPolicy? {
        guard let value = object["rate_limit"], value != .null else { return nil }
        guard case let .object(limit) = value else {
            problems.append(FieldProblem(path: "/rate_limit", code: .type, message: "must be an object {\"per_minute\", \"burst\"}"))
            return nil
        }
        for member in limit where member.key != "per_minute" && member.key != "burst" {
            problems.append(FieldProblem(path: "/rate_limit/" + member.key, code: .unknownField, message: "is not a field of a rate limit"))
        }
        func bounded(_ key: String, _ range: ClosedRange<Int64>) -> Int? {
            guard case let .integer(n)? = limit[key] else {
                problems.append(FieldProblem(
                    path: "/rate_limit/" + key, code: limit[key] == nil ? .required : .type,
                    message: "is required: an integer from \(range.lowerBound) to \(range.upperBound)"))
                return nil
            }
            guard range.contains(n) else {
                problems.append(FieldProblem(
                    path: "/rate_limit/" + key, code: n < range.lowerBound ? .tooSmall : .tooLarge,
                    message: "must be an integer from \(range.lowerBound) to \(range.upperBound)"))
                return nil
            }
            return Int(n)
        }
        let perMinute = bounded("per_minute", 1...60_000_000)
        let burst = bounded("burst", 1...1_000_000)
        guard let perMinute, let burst else { return nil }
        return RateLimitPolicy(perMinute: perMinute, burst: burst)
    }

    mutating func futureTimestamp(_ key: String) -> Date? {
        guard let value = object[key], value != .null else { return nil }
        guard case let .string(text) = value, let date = RFC3339.parse(text), date > Date() else {
            problems.append(FieldProblem(path: "/" + key, code: .format, message: "must be an RFC 3339 timestamp in the future"))
            return nil
        }
        return date
    }

    func finish() throws {
        if !problems.isEmpty { throw Problem.validationFailed(problems) }
    }
}
