import HTTPTypes
import Foundation
import Hummingbird
import PostgresNIO

/// The REST adapter for one generated resource (DESIGN.md §5): parses HTTP into service
/// calls and service results into HTTP. No business rule lives here.
struct ResourceRoutes<R: Resource>: Sendable {
    let services: TrellisServices
    let service = ResourceService<R>()
    let reads = CachedReads<R>()
    let searchBodies = PageBodyWriter()

    /// Stored once, as ``ResourceService`` stores it (why: there).
    private let d = R.descriptor

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        let collection = RouterPath(d.path)
        let item = RouterPath("\(d.path)/:id")
        let ops = d.operations
        var collectionMethods: [HTTPRequest.Method] = []
        var itemMethods: [HTTPRequest.Method] = []
        if ops.contains(.list) {
            v1.get(collection, use: deprecating(list))
            collectionMethods.append(.get)
        }
        if ops.contains(.create) {
            v1.post(collection, use: deprecating(create))
            collectionMethods.append(.post)
        }
        if ops.contains(.get) {
            v1.get(item, use: deprecating(get))
            itemMethods.append(.get)
        }
        if ops.contains(.update) {
            v1.patch(item, use: deprecating(update))
            itemMethods.append(.patch)
        }
        if ops.contains(.delete) {
            v1.delete(item, use: deprecating(delete))
            itemMethods.append(.delete)
        }
        if ops.contains(.search) {
            let search = RouterPath("\(d.path)/search")
            v1.get(search, use: deprecating(self.search))
            v1.rejectOtherMethods(on: search, allowed: [.get])
        }
        v1.rejectOtherMethods(on: collection, allowed: collectionMethods)
        v1.rejectOtherMethods(on: item, allowed: itemMethods)
    }

    /// `handler`, whose responses (problems included) carry the deprecation headers when the
    /// schema marks the resource `deprecated`; `handler` itself otherwise.
    private func deprecating(
        _ handler: @escaping @Sendable (Request, TrellisRequestContext) async throws -> Response
    ) -> @Sendable (Request, TrellisRequestContext) async throws -> Response {
        guard let deprecation = d.deprecation else { return handler }
        return { request, context in
            do {
                var response = try await handler(request, context)
                deprecation.apply(to: &response.headers)
                return response
            } catch {
                var problem = ProblemMiddleware.problem(for: error, logger: context.logger)
                deprecation.apply(to: &problem.headers)
                throw problem
            }
        }
    }

    // MARK: Handlers

    @Sendable func list(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: d.readScope)  // before anything the client sent is parsed
        let parameters = queryParameters(of: request)
        let query = try parseQuery(parameters, isSearch: false)
        let body = try await reads.list(query, as: identity, logger: context.logger, services: services)
        return cacheableResponse(request, body, headers: linkHeader(request, parameters, body.nextCursor))
    }

    @Sendable func search(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: d.readScope)
        let parameters = queryParameters(of: request)
        let query = try parseQuery(parameters, isSearch: true)
        let page = try await read(context, as: identity) { try await service.search(query, in: $0) }
        return JSONResponse.make(.ok, searchBodies.body(page), headers: linkHeader(request, parameters, page.nextCursor))
    }

    @Sendable func get(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: d.readScope)
        let id = try itemID(context)
        let body = try await reads.get(id, as: identity, logger: context.logger, services: services)
        return cacheableResponse(request, body, headers: [:])
    }

    @Sendable func create(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: d.writeScope)
        let idempotency = try IdempotentRequest(request.headers)
        let json = try await JSONBody.read(request, limit: services.maxBodySize, mediaTypes: ["application/json"])
        let input = try R.Create.validated(json)
        let outcome = try await idempotency.run(
            request, body: json, context: context, services: services, as: identity,
            stored: { object in .init(status: 201, location: createdResponse(object).headers[.location], body: objectBytes(object)) }
        ) { tx in
            try await service.create(input, in: tx)
        }
        switch outcome {
        case let .success(object): return createdResponse(object)
        case let .failure(replay): return replay.response
        }
    }

    private func createdResponse(_ object: R) -> Response {
        var response = objectResponse(.created, object)
        response.headers[.location] = "/v1/\(d.path)/\(object.id.lowercasedString)"
        return response
    }

    @Sendable func update(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: d.writeScope)  // before the body is read or validated
        let id = try itemID(context)
        let expected = try ETags.expectedVersion(request.headers[.ifMatch])
        let json = try await JSONBody.read(
            request, limit: services.maxBodySize, mediaTypes: ["application/json", "application/merge-patch+json"])
        let patch = try R.Patch.validated(json)
        let object = try await transaction(request, context, as: identity) {
            try await service.update(id, patch, expectedVersion: expected, in: $0)
        }
        return objectResponse(.ok, object)
    }

    @Sendable func delete(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: d.writeScope)
        let id = try itemID(context)
        let expected = try ETags.expectedVersion(request.headers[.ifMatch])
        try await transaction(request, context, as: identity) { try await service.delete(id, expectedVersion: expected, in: $0) }
        return Response(status: .noContent)
    }

    // MARK: Helpers

    /// Runs `body` in one tenant transaction for the caller (whose scope the handler checked).
    private func transaction<T: Sendable>(
        _ request: Request, _ context: TrellisRequestContext, as identity: Identity, _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        try await context.transaction(request, on: services, as: identity, body)
    }

    /// Runs a one-statement read for the caller (whose scope the handler checked).
    private func read<T: Sendable>(
        _ context: TrellisRequestContext, as identity: Identity, _ body: (TenantStatement) async throws -> T
    ) async throws -> T {
        try await context.read(on: services, as: identity, body)
    }

    /// A malformed id cannot name an object, so it is a 404 like any unknown id.
    private func itemID(_ context: TrellisRequestContext) throws -> UUID {
        guard let text = context.parameters.get("id"), let id = UUID(hyphenated: text) else {
            throw Problem.notFound("No \(d.name.lowercased()) with id \(context.parameters.get("id") ?? "")")
        }
        return id
    }

    private func parseQuery(_ parameters: [(String, String)], isSearch: Bool) throws -> ListQuery {
        switch ListQueryParser.parse(R.self, parameters: parameters, limits: services.pageLimits, keys: services.cursorKeys, isSearch: isSearch) {
        case let .valid(query): return query
        case let .invalid(problems): throw Problem.invalidQuery(problems)
        }
    }

    /// A `get` or `list` answer: `ETag` when it has one, `Cache-Control: private, no-cache` when
    /// the resource is cached (a client may keep it but must revalidate: another client's
    /// write may change it at any time), and `304` without a body when `If-None-Match` names it.
    private func cacheableResponse(_ request: Request, _ body: CachedBody, headers: HTTPFields) -> Response {
        var validators = HTTPFields()
        if d.cache != nil { validators[.cacheControl] = "private, no-cache" }
        if let etag = body.etag {
            validators[.eTag] = etag
            if let inm = request.headers[.ifNoneMatch], ETags.matches(inm, etag) {
                return Response(status: .notModified, headers: validators)
            }
        }
        var headers = headers
        headers.append(contentsOf: validators)
        return JSONResponse.make(.ok, body.json, headers: headers)
    }

    private func objectResponse(_ status: HTTPResponse.Status, _ object: R) -> Response {
        var headers = HTTPFields()
        headers[.eTag] = ETags.versionTag(object.version)
        return JSONResponse.make(status, objectBytes(object), headers: headers)
    }

    private func objectBytes(_ object: R) -> [UInt8] {
        CachedReads<R>.body(object).json
    }

    /// `Link: <…?cursor=…>; rel="next"`, keeping the client's other parameters.
    private func linkHeader(_ request: Request, _ parameters: [(String, String)], _ next: String?) -> HTTPFields {
        var headers = HTTPFields()
        guard let next else { return headers }
        let query = QueryString.encode(parameters.lazy.filter { $0.0 != "cursor" } + [("cursor", next)])
        headers[.link] = "<\(request.uri.path)?\(query)>; rel=\"next\""
        return headers
    }
}

extension RouterGroup<TrellisRequestContext> {
    /// 405 with `Allow` for the methods a path does not support.
    func rejectOtherMethods(on path: RouterPath, allowed: [HTTPRequest.Method]) {
        guard !allowed.isEmpty else { return }
        let problem = Problem.methodNotAllowed(allowed: allowed)
        for method in [HTTPRequest.Method.get, .post, .put, .patch, .delete] where !allowed.contains(method) {
            on(path, method: method) { _, _ -> Response in throw problem }
        }
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
    static let idempotentReplayed = Self("Idempotent-Replayed")!
}

/// Entity tags are the object's version: `"3"`.
enum ETags {
    /// `If-None-Match` against `etag`, by weak comparison (RFC 9110 §13.1.2): `W/` is ignored on both sides.
    static func matches(_ header: String, _ etag: String) -> Bool {
        let own = etag.hasPrefix("W/") ? etag.dropFirst(2) : Substring(etag)
        return header.split(separator: ",").contains { tag in
            let t = tag.trimmingCharacters(in: .whitespaces)
            return t == "*" || (t.hasPrefix("W/") ? t.dropFirst(2) : Substring(t)) == own
        }
    }

    /// An object's tag: its version, `"3"`.
    static func versionTag(_ version: Int64) -> String { "\"\(version)\"" }

    /// A page's tag: two XXH64 of its body (seeds 0 and 1), 128 bits in hex. The same body
    /// gets the same tag on every instance, a changed one a different tag. XXH64 does not
    /// resist a collision crafted on purpose, which would take writing the workspace's rows
    /// and would only make that workspace's own clients' caches stale.
    static func contentTag(_ body: [UInt8]) -> String {
        let (first, second) = body.withUnsafeBytes { (XXHash64.hash($0, seed: 0), XXHash64.hash($0, seed: 1)) }
        return String(unsafeUninitializedCapacity: 34) { out in
            out[0] = UInt8(ascii: "\"")
            ASCIIDigits.hex(first, digits: 16, into: out, at: 1)
            ASCIIDigits.hex(second, digits: 16, into: out, at: 17)
            out[33] = UInt8(ascii: "\"")
            return 34
        }
    }

    /// The version demanded by `If-Match`, nil when absent or `*`.
    static func expectedVersion(_ header: String?) throws -> Int64? {
        guard let header = header?.trimmingCharacters(in: .whitespaces), header != "*" else { return nil }
        var tag = Substring(header)
        if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
        guard tag.count >= 3, tag.first == "\"", tag.last == "\"", let version = Int64(tag.dropFirst().dropLast()) else {
            throw Problem.preconditionFailed("If-Match must be an ETag from this API, such as \"3\"")
        }
        return version
    }
}
