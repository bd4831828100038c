import HTTPTypes
import Hummingbird

/// Which browser origins may call the API (`api.yaml` `cors`, overridden by
/// `TRELLIS_CORS_ORIGINS`): none by default. Bearer credentials travel in `Authorization`, so
/// browsers need no cookies; `allowCredentials` is for deployments that want them and is
/// refused together with `*` (the Fetch standard forbids that pair).
public struct CORSPolicy: Sendable, Hashable {
    /// Exact origins (`https://app.example.com`) or `*` for any.
    public var allowedOrigins: [String]
    public var allowCredentials: Bool
    /// Seconds a browser may cache a preflight answer.
    public var maxAge: Int

    public init(allowedOrigins: [String], allowCredentials: Bool = false, maxAge: Int = 600) {
        self.allowedOrigins = allowedOrigins
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
    }

    public static let disabled = CORSPolicy(allowedOrigins: [])

    public var isEnabled: Bool { !allowedOrigins.isEmpty }

    /// The `Access-Control-Allow-Origin` value for a request from `origin`; nil when refused.
    func allowOrigin(for origin: String) -> String? {
        if allowedOrigins.contains(origin) { return origin }
        return allowedOrigins.contains("*") && !allowCredentials ? "*" : nil
    }

    /// Methods the API has on some route; a preflight is answered for any path.
    static let allowedMethods = "GET, POST, PATCH, DELETE, OPTIONS"
    /// Request headers a client of the API sends.
    static let allowedHeaders = "Authorization, Content-Type, Idempotency-Key, If-Match, If-None-Match, X-Request-ID"
    /// Response headers a script may read besides the CORS-safelisted ones.
    static let exposedHeaders = "X-Request-ID, ETag, Location, Link, Idempotent-Replayed, Retry-After, WWW-Authenticate, Allow, Deprecation, Sunset, RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset"
}

/// Answers CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) on
/// every path with 204, and adds `Access-Control-Allow-Origin` to responses for allowed
/// origins. Every response says `Vary: Origin`, since the answer depends on it. It sits
/// outside ``ProblemMiddleware`` so problems carry the headers too (a script can read them).
struct CORSMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let policy: CORSPolicy

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let origin = request.headers[.origin] else {
            var response = try await next(request, context)
            Self.addVary(&response.headers)
            return response
        }
        let allowed = policy.allowOrigin(for: origin)
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            var headers = HTTPFields()
            Self.addVary(&headers)
            if let allowed {
                headers[.accessControlAllowOrigin] = allowed
                headers[.accessControlAllowMethods] = CORSPolicy.allowedMethods
                headers[.accessControlAllowHeaders] = CORSPolicy.allowedHeaders
                headers[.accessControlMaxAge] = String(policy.maxAge)
                if policy.allowCredentials { headers[.accessControlAllowCredentials] = "true" }
            }
            return Response(status: .noContent, headers: headers)
        }
        var response = try await next(request, context)
        Self.addVary(&response.headers)
        if let allowed {
            response.headers[.accessControlAllowOrigin] = allowed
            response.headers[.accessControlExposeHeaders] = CORSPolicy.exposedHeaders
            if policy.allowCredentials { response.headers[.accessControlAllowCredentials] = "true" }
        }
        return response
    }

    static func addVary(_ headers: inout HTTPFields) {
        if let vary = headers[.vary] {
            if !vary.lowercased().contains("origin") { headers[.vary] = vary + ", Origin" }
        } else {
            headers[.vary] = "Origin"
        }
    }
}
