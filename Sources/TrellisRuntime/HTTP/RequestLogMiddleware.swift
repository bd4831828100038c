import Hummingbird
import Logging

/// One log line per request: route template, method, status and duration, with the request
/// id and caller of its ``RequestLogScope``.
public struct RequestLogMiddleware: RouterMiddleware {
    public typealias Context = TrellisRequestContext

    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // The caller's scope ended with the authentication middleware, inside this one: the
        // line names them through the same scope, bound again for it.
        RequestLogScope.$current.withValue(RequestLogScope(requestID: context.requestID, identity: context.identity)) {
            // The metadata is an autoclosure: built only when the level is enabled.
            context.logger.info("request", metadata: Self.metadata(request, context, response, since: start))
        }
        return response
    }

    static func metadata(
        _ request: Request, _ context: Context, _ response: Response, since start: ContinuousClock.Instant
    ) -> Logger.Metadata {
        let elapsed = ContinuousClock.now - start
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return [
            "method": .string(request.method.rawValue),
            "route": .string(context.endpointPath ?? "unmatched"),
            "status": .stringConvertible(Int(response.status.code)),
            "duration_ms": .stringConvertible((millis * 100).rounded() / 100),
        ]
    }
}
