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
            "\(request.method.rawValue) unmatched", kind: .server, tracer: tracer, continuing: Self.traceHeaders(request.headers),
            using: DictionaryExtractor())
        defer { root.end() }
        var context = context
        if let traceID = root.traceID { context.logger[metadataKey: "trace_id"] = .string(traceID) }
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
        // Hummingbird names a path no route matched `NotFound`; the span keeps `unmatched`.
        let route = context.endpointPath.flatMap { $0 == "NotFound" ? nil : $0 }
        if let route { span.operationName = "\(method.rawValue) \(route)" }
        span.updateAttributes { attributes in
            attributes["http.route"] = route
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

extension RequestTracingMiddleware {
    /// The request's W3C trace context when its `traceparent` is well formed (version `00`:
    /// `00-<32 hex>-<16 hex>-<2 hex>`, ids not all zero), with its `tracestate` (at most 512
    /// bytes, the spec's limit); empty otherwise, and the request starts a trace of its own.
    /// Only these two headers reach the tracer: its propagator logs the whole carrier when it
    /// cannot parse one, and a request's carrier would hold its credential.
    static func traceHeaders(_ headers: HTTPFields) -> [String: String] {
        guard let parent = headers[.traceparent], Traceparent.isWellFormed(parent) else { return [:] }
        var carrier = ["traceparent": parent]
        if let state = headers[.tracestate], state.utf8.count <= 512 { carrier["tracestate"] = state }
        return carrier
    }
}

extension HTTPField.Name {
    static let traceparent = Self("traceparent")!
    static let tracestate = Self("tracestate")!
}
