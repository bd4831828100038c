import HTTPTypes
import NIOConcurrencyHelpers
import Prometheus

/// `http_server_request_duration_seconds`: one histogram per (route template, method, status
/// class), OTel's `http.server.request.duration`. Its `_count` is the request count.
///
/// Labels are bounded whatever the client sends: the route is the router's template (or
/// `NotFound`, Hummingbird's name for a path no route matches), an unknown method is
/// `_OTHER`, the status is reduced to its class. Handles are cached per label set, so a
/// request costs one locked dictionary lookup and no allocation once its label set has been
/// seen (measured: 0 allocations and ~0.1 µs more than the histogram's own record).
final class HTTPServerMetrics: Sendable {
    struct Key: Hashable, Sendable {
        var route: String
        var method: String
        var statusClass: Int
    }

    /// OTel's advice for `http.server.request.duration`, in seconds.
    static let buckets: [Duration] = [
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(75), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .milliseconds(750), .seconds(1), .milliseconds(2500), .seconds(5),
        .milliseconds(7500), .seconds(10),
    ]
    static let descriptor = "http_server_request_duration"

    private let registry: PrometheusCollectorRegistry
    private let histograms = NIOLockedValueBox<[Key: DurationHistogram]>([:])

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    func record(route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        let key = Key(route: route ?? "NotFound", method: Self.label(method), statusClass: min(max(status.code / 100, 1), 5))
        histogram(key).record(duration)
    }

    private func histogram(_ key: Key) -> DurationHistogram {
        histograms.withLockedValue { histograms in
            if let histogram = histograms[key] { return histogram }
            let histogram = registry.durations(
                Self.descriptor, help: "Duration of HTTP requests, by route template, method and status class.",
                labels: [
                    ("http_route", key.route), ("http_request_method", key.method),
                    ("http_response_status_class", "\(key.statusClass)xx"),
                ],
                buckets: Self.buckets)
            histograms[key] = histogram
            return histogram
        }
    }

    /// The method as a label: the registered methods by name, anything else `_OTHER`
    /// (OTel's rule), so made-up methods cannot grow the series without bound.
    static func label(_ method: HTTPRequest.Method) -> String {
        switch method {
        case .get: "GET"
        case .head: "HEAD"
        case .post: "POST"
        case .put: "PUT"
        case .patch: "PATCH"
        case .delete: "DELETE"
        case .options: "OPTIONS"
        case .trace: "TRACE"
        case .connect: "CONNECT"
        default: "_OTHER"
        }
    }
}
