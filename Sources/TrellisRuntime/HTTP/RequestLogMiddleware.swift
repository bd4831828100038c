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
        guard context.logger.logLevel <= .info else { return response }
        // The caller's scope ended with the authentication middleware, inside this one: the
        // line names them through the same scope.
        let scope = RequestLogScope(requestID: context.requestID, identity: context.identity)
        let method = request.method.rawValue, route = context.endpointPath ?? "unmatched", status = Int(response.status.code)
        let duration = Self.milliseconds(since: start)
        if let handler = context.logger.handler as? JSONLogHandler,
           handler.logRequest(method: method, route: route, status: status, durationMilliseconds: duration, scope: scope) {
            return response
        }
        RequestLogScope.$current.withValue(scope) {
            context.logger.info("request", metadata: [
                "method": .string(method), "route": .string(route), "status": .stringConvertible(status),
                "duration_ms": .stringConvertible(duration),
            ])
        }
        return response
    }

    /// Milliseconds since `start`, to two decimals.
    static func milliseconds(since start: ContinuousClock.Instant) -> Double {
        let elapsed = ContinuousClock.now - start
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return (millis * 100).rounded() / 100
    }
}
