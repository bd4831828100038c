import HTTPTypes
import Hummingbird
import Tracing
import TrellisTracing

/// Opens each request's trace when the server traces (`OTEL_EXPORTER_OTLP_ENDPOINT`; the
/// router has no such middleware otherwise, so tracing off costs nothing here): a server span
/// named `METHOD /route/{template}`, continuing the caller's W3C `traceparent` when it sends
/// one. The span carries the route template, the status and, once authenticated, the
/// workspace and credential ids; never the raw path, the query or a header's value. The trace
/// id goes into every log line of the request (`trace_id`) and into 5xx problem bodies.
struct RequestTracingMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let tracer: any Tracer

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let root = TraceRoot(
            "\(request.method.rawValue) unmatched", kind: .server, tracer: tracer, continuing: request.headers,
            using: HTTPFieldsExtractor())
        defer { root.end() }
        var context = context
        context.logger[metadataKey: "trace_id"] = .string(root.traceID)
        root.span.attributes["http.request.method"] = request.method.rawValue
        do {
            let response = try await root.run { try await next(request, context) }
            finish(root.span, context: context, method: request.method, status: response.status)
            return response
        } catch {
            finish(root.span, context: context, method: request.method, status: (error as? any HTTPResponseError)?.status ?? .internalServerError)
            throw error
        }
    }

    private func finish(_ span: any Span, context: Context, method: HTTPRequest.Method, status: HTTPResponse.Status) {
        if let route = context.endpointPath {
            span.operationName = "\(method.rawValue) \(route)"
        }
        span.updateAttributes { attributes in
            attributes["http.route"] = context.endpointPath
            attributes["http.response.status_code"] = Int(status.code)
            attributes["trellis.request_id"] = context.requestID
            if let identity = context.identity {
                attributes["trellis.workspace_id"] = identity.workspaceID.lowercasedString
                attributes["trellis.credential_id"] = identity.actor
            }
        }
        if status.code >= 500 { span.setStatus(SpanStatus(code: .error)) }
    }
}

/// Reads trace headers (`traceparent`, `tracestate`) from a request.
struct HTTPFieldsExtractor: Extractor {
    func extract(key: String, from carrier: HTTPFields) -> String? {
        HTTPField.Name(key).flatMap { carrier[$0] }
    }
}
