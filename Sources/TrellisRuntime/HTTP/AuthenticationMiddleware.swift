import HTTPTypes
import Hummingbird
import Logging
import TrellisContract

/// Every `/v1` request must carry `Authorization: Bearer <API key or JWT>`. Anonymous calls
/// and refused credentials are 401 with `WWW-Authenticate: Bearer`; refusals are audited.
struct AuthenticationMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let authenticator: Authenticator
    /// Refusals by reason: the ``AuthenticationFailure/Reason`` raw values, plus
    /// `missing_credential` and `unsupported_scheme` for a missing or non-Bearer header.
    let failures: LabelledCounters?

    init(authenticator: Authenticator, failures: LabelledCounters? = nil) {
        self.authenticator = authenticator
        self.failures = failures
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization] else {
            // graphql-transport-ws carries its credential in its first message (browsers cannot
            // set headers on a WebSocket): its one route authenticates it there, or refuses.
            if context.webSocket?.authenticatesInBand == true, request.uri.path == GraphQLTransportWS.path {
                return try await next(request, context)
            }
            failures?.increment(AuthenticationFailure.Reason.missingCredential.rawValue)
            throw Problem.unauthenticated("This API needs a bearer credential: Authorization: Bearer <API key or JWT>", challenge: "Bearer")
        }
        guard let token = Self.bearerToken(header) else {
            failures?.increment("unsupported_scheme")
            throw Problem.unauthenticated("The Authorization header must use the Bearer scheme", challenge: "Bearer")
        }
        let identity: Identity
        do {
            identity = try await authenticator.authenticate(bearer: token, logger: context.logger)
            context.identity = identity
        } catch let failure as AuthenticationFailure {
            failures?.increment(failure.reason.rawValue)
            await authenticator.recordFailure(failure, origin: context.origin(request), logger: context.logger)
            throw Problem.unauthenticated(
                "The credential was refused: \(failure.detail)",
                challenge: "Bearer error=\"invalid_token\", error_description=\"\(failure.reason.rawValue)\"")
        }
        // Every line logged from here on names the caller's workspace and credential.
        return try await RequestLogScope.$current.withValue(RequestLogScope(requestID: context.requestID, identity: identity)) {
            try await next(request, context)
        }
    }
}

extension AuthenticationMiddleware {
    /// The credential of an `Authorization: Bearer <credential>` value (the scheme in any case);
    /// nil for another scheme or none.
    static func bearerToken(_ header: String) -> Substring? {
        // Byte by byte: counting, slicing and lowercasing by `Character` cost more than the
        // rest of authenticating a cached key.
        let utf8 = header.utf8
        var index = utf8.startIndex
        for expected in "bearer ".utf8 {
            guard index < utf8.endIndex else { return nil }
            let byte = utf8[index]
            // ASCII letters in either case; the space exactly.
            guard expected == UInt8(ascii: " ") ? byte == expected : byte | 0x20 == expected else { return nil }
            utf8.formIndex(after: &index)
        }
        guard index < utf8.endIndex else { return nil }
        while index < utf8.endIndex, utf8[index] == UInt8(ascii: " ") { utf8.formIndex(after: &index) }
        return Substring(utf8[index...])
    }
}

extension Request {
    /// The bearer credential this request carries (which ``AuthenticationMiddleware`` accepted
    /// on an authenticated route); empty when none.
    var bearerToken: Substring {
        headers[.authorization].flatMap(AuthenticationMiddleware.bearerToken) ?? ""
    }
}

extension TrellisRequestContext {
    /// Request id, client IP and user agent, for audit entries.
    func origin(_ request: Request) -> RequestOrigin {
        RequestOrigin(requestID: requestID, ip: clientIP, userAgent: request.headers[.userAgent].map { String($0.prefix(500)) })
    }

    /// The caller, who must hold `scope`: 403 `insufficient_scope` naming it otherwise.
    func authorized(for scope: String) throws -> Identity {
        guard let identity else {
            throw Problem.unauthenticated("This API needs a bearer credential", challenge: "Bearer")
        }
        guard identity.scopes.allows(scope) else {
            throw Problem.insufficientScope("This operation needs the '\(scope)' scope, which this credential does not have", scope: scope)
        }
        return identity
    }

    /// Runs `body` in one tenant transaction for `identity` (the caller, or the platform
    /// admin acting in a tenant's workspace), recording this request as the origin. The
    /// workspace's place in the ``WorkspaceGate`` is taken before a connection is leased.
    /// Once the transaction is over, and before the caller can answer, the read cache's
    /// generations of every table it wrote move (``ReadCache/invalidate(workspace:writes:)``),
    /// and the event relay is woken if it left events in the outbox.
    func transaction<T: Sendable>(
        _ request: Request, on services: TrellisServices, as identity: Identity, readOnlySnapshot: Bool = false,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        try await services.transaction(as: identity, origin: origin(request), logger: logger, readOnlySnapshot: readOnlySnapshot, body)
    }
}

extension TrellisServices {
    /// Runs `body` in one tenant transaction for `identity`, the way every request and every
    /// job writes: the workspace's place in the ``WorkspaceGate`` is taken before a connection
    /// is leased; once the transaction is over, and before the caller can answer, the read
    /// cache's generations of every table it wrote move (``ReadCache/invalidate(workspace:writes:)``),
    /// and the event relay is woken if it left events in the outbox.
    public func transaction<T: Sendable>(
        as identity: Identity, origin: RequestOrigin, logger: Logger, readOnlySnapshot: Bool = false,
        _ body: (TenantTransaction) async throws -> T
    ) async throws -> T {
        let writes = (readCache == nil && realtime == nil) || readOnlySnapshot
            ? nil : WriteLog(recordsEvents: realtime != nil)
        do {
            let value = try await workspaceGate.run(identity.workspaceID, timeout: timeouts.poolLease) {
                try await TenantTransaction.run(
                    on: postgres, identity: identity, origin: origin, logger: logger,
                    leaseTimeout: timeouts.poolLease, metrics: metrics.pool, statements: preparedShapes,
                    readOnlySnapshot: readOnlySnapshot, writes: writes, body)
            }
            if let writes, let readCache { await readCache.invalidate(workspace: identity.workspaceID, writes: writes) }
            if let writes, writes.events > 0 { realtime?.relay.kick() }
            return value
        } catch {
            // A failed COMMIT may still have committed: what was written counts.
            if let writes, let readCache { await readCache.invalidate(workspace: identity.workspaceID, writes: writes) }
            throw error
        }
    }
}

extension TrellisRequestContext {
    /// Runs a one-statement read for `identity` (whose scope the caller checked) as one
    /// self-scoping statement (``TenantStatement``): one round trip, the same row-level
    /// security as a transaction. The workspace's place in the ``WorkspaceGate`` comes first.
    func read<T: Sendable>(
        on services: TrellisServices, as identity: Identity, _ body: (TenantStatement) async throws -> T
    ) async throws -> T {
        try await services.read(as: identity, logger: logger, body)
    }
}

extension TrellisServices {
    /// ``TrellisRequestContext/read(on:as:_:)`` for work that outlives its request's context
    /// (a cache refresh).
    func read<T: Sendable>(as identity: Identity, logger: Logger, _ body: (TenantStatement) async throws -> T) async throws -> T {
        try await workspaceGate.run(identity.workspaceID, timeout: timeouts.poolLease) {
            try await body(TenantStatement(
                client: postgres, identity: identity, logger: logger, leaseTimeout: timeouts.poolLease,
                metrics: metrics.pool, statements: preparedShapes, pipeline: pipeline, pipelineMetrics: metrics.pipeline))
        }
    }
}

extension Problem {
    /// 403 `insufficient_scope`, with the RFC 6750 challenge naming the missing `scope`.
    static func insufficientScope(_ detail: String, scope: String) -> Problem {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = "Bearer error=\"insufficient_scope\", scope=\"\(scope)\""
        return Problem(ProblemCatalogue.insufficientScope, detail: detail, headers: headers)
    }

    static func unauthenticated(_ detail: String, challenge: String) -> Problem {
        var headers = HTTPFields()
        headers[.wwwAuthenticate] = challenge
        return Problem(ProblemCatalogue.unauthenticated, detail: detail, headers: headers)
    }
}
