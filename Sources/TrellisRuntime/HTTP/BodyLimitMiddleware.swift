import Hummingbird

/// Gives every request the API's body limit as its `maxUploadSize`, so a hand-written route
/// that collects a body with Hummingbird's own helpers is bounded like a generated one.
struct BodyLimitMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let limit: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        context.maxUploadSize = limit
        return try await next(request, context)
    }
}
