import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import Tracing
import TrellisTracing

/// Every outbound HTTP call Trellis makes (webhook deliveries, dependency probes, error
/// forwarding) goes through ``execute(_:on:timeout:logger:tracer:)``, so that each is a client
/// span that hands its `traceparent` to the peer: a child of the current trace (a delivery,
/// inside its job attempt's trace) or, for background work given a `tracer`, the root of a
/// trace of its own. With neither, the call alone.
public enum OutboundHTTP {
    /// Sends `request`; the span ends when the answer's head is in, with its status. The span
    /// names the method and the host only: a URL's path or query may hold a tenant's token.
    public static func execute(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: TimeAmount, logger: Logger? = nil, tracer: (any Tracer)? = nil
    ) async throws -> HTTPClientResponse {
        if InstrumentationContext.current?.trellisTracer == nil, let tracer {
            let root = TraceRoot(request.method.rawValue, kind: .client, tracer: tracer)
            defer { root.end() }
            root.span.updateAttributes { describe(request, in: &$0) }
            return try await root.run { try await send(request, on: client, timeout: timeout, logger: logger, span: root.span) }
        }
        return try await Traced.withSpan(request.method.rawValue, kind: .client, attributes: { describe(request, in: &$0) }) { span in
            try await send(request, on: client, timeout: timeout, logger: logger, span: span)
        }
    }

    private static func send(
        _ request: HTTPClientRequest, on client: HTTPClient, timeout: TimeAmount, logger: Logger?, span: (any Span)?
    ) async throws -> HTTPClientResponse {
        var request = request
        Traced.inject(into: &request.headers, using: HTTPHeadersInjector())
        let response =
            if let logger { try await client.execute(request, timeout: timeout, logger: logger) } else {
                try await client.execute(request, timeout: timeout)
            }
        span?.attributes["http.response.status_code"] = Int(response.status.code)
        if response.status.code >= 500 { span?.setStatus(SpanStatus(code: .error)) }
        return response
    }

    private static func describe(_ request: HTTPClientRequest, in attributes: inout SpanAttributes) {
        attributes["http.request.method"] = request.method.rawValue
        attributes["server.address"] = URLComponents(string: request.url)?.host
    }
}

/// Writes trace headers (`traceparent`, `tracestate`) into an outbound request.
struct HTTPHeadersInjector: Injector {
    func inject(_ value: String, forKey key: String, into headers: inout HTTPHeaders) {
        headers.replaceOrAdd(name: key, value: value)
    }
}
