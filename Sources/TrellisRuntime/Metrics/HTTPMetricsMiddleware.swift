import Hummingbird

/// Times every request and records it in ``HTTPServerMetrics`` under its route template
/// (`context.endpointPath`, never the raw path), method and status class.
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let metrics: HTTPServerMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        do {
            let response = try await next(request, context)
            metrics.record(
                route: context.endpointPath, method: request.method, status: response.status, duration: ContinuousClock.now - start)
            return response
        } catch {
            // Only what escapes the problem boundary lands here (it answers everything else).
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            metrics.record(route: context.endpointPath, method: request.method, status: status, duration: ContinuousClock.now - start)
            throw error
        }
    }
}
