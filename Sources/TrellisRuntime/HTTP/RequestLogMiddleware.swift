import Hummingbird
import Logging

/// One log line per request: route template, method, status and duration.
public struct RequestLogMiddleware: RouterMiddleware {
    public typealias Context = TrellisRequestContext

    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        // The metadata is an autoclosure: built only when the level is enabled.
        context.logger.info("request", metadata: Self.metadata(request, context, response, since: start))
        return response
    }

    static func metadata(
        _ request: Request, _ context: Context, _ response: Response, since start: ContinuousClock.Instant
    ) -> Logger.Metadata {
        let elapsed = ContinuousClock.now - start
        let millis = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": .string(request.method.rawValue),
            "route": .string(context.endpointPath ?? "unmatched"),
            "status": .stringConvertible(Int(response.status.code)),
            "duration_ms": .stringConvertible((millis * 100).rounded() / 100),
        ]
        if let identity = context.identity {
            metadata["workspace"] = .string(identity.workspaceID.lowercasedString)
            metadata["credential_id"] = .string(identity.actor)
        }
        return metadata
    }
}
