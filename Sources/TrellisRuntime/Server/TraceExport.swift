import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Where a traced server sends its spans: an OpenTelemetry collector, over OTLP/HTTP
/// (swift-otel), read from the standard `OTEL_*` variables. Unset `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (and `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): no tracing, and no tracing middleware at all.
public struct TraceExport: Sendable {
    /// The full URL spans are posted to (`…/v1/traces`).
    public var endpoint: String
    /// `http/protobuf` (the default) or `http/json`.
    public var json = false
    /// `OTEL_SERVICE_NAME`, default `trellis`.
    public var serviceName = "trellis"
    /// `OTEL_BSP_SCHEDULE_DELAY` (milliseconds, 10–60000, default 5000): how often finished
    /// spans are sent. At most 2048 wait (`OTEL_BSP_MAX_QUEUE_SIZE`); past that new ones are dropped.
    public var scheduleDelay: Duration = .seconds(5)
    /// `OTEL_EXPORTER_OTLP_TIMEOUT` (milliseconds, 100–60000, default 10000): the limit on one export.
    public var timeout: Duration = .seconds(10)

    public init(endpoint: String) {
        self.endpoint = endpoint
    }

    /// Nil when neither endpoint variable is set; a problem per malformed variable.
    static func fromEnvironment(_ env: [String: String], problems: inout [String]) -> TraceExport? {
        // The spec's rule: the per-signal variable is the URL as is; the shared one is a base
        // to which `/v1/traces` is appended.
        var endpoint: String
        var name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
        if let specific = env[name], !specific.isEmpty {
            endpoint = specific
        } else if let base = env["OTEL_EXPORTER_OTLP_ENDPOINT"], !base.isEmpty {
            name = "OTEL_EXPORTER_OTLP_ENDPOINT"
            endpoint = base.hasSuffix("/") ? base + "v1/traces" : base + "/v1/traces"
        } else {
            return nil
        }
        if !(endpoint.hasPrefix("http://") || endpoint.hasPrefix("https://")) {
            problems.append("\(name) must be an http:// or https:// URL of an OTLP/HTTP collector, got '\(endpoint)'")
        }
        var export = TraceExport(endpoint: endpoint)
        switch env["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"] ?? env["OTEL_EXPORTER_OTLP_PROTOCOL"] ?? "http/protobuf" {
        case "http/protobuf": export.json = false
        case "http/json": export.json = true
        case let other:
            problems.append("OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json (this build has no gRPC exporter), got '\(other)'")
        }
        if let service = env["OTEL_SERVICE_NAME"], !service.isEmpty { export.serviceName = service }
        func milliseconds(_ name: String, in range: ClosedRange<Int>) -> Duration? {
            guard let text = env[name] else { return nil }
            guard let value = Int(text), range.contains(value) else {
                problems.append("\(name) must be a number of milliseconds from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
                return nil
            }
            return .milliseconds(value)
        }
        if let delay = milliseconds("OTEL_BSP_SCHEDULE_DELAY", in: 10...60_000) { export.scheduleDelay = delay }
        if let timeout = milliseconds("OTEL_EXPORTER_OTLP_TIMEOUT", in: 100...60_000) { export.timeout = timeout }
        return export
    }

    /// The tracer, and the service that exports its spans (run it for as long as the tracer
    /// is used; its shutdown sends what is left). Other `OTEL_*` variables the process has
    /// (`OTEL_TRACES_SAMPLER`, `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_RESOURCE_ATTRIBUTES`, …) apply.
    public func makeTracer(logger: Logger) throws -> (tracer: any Tracer, service: any Service) {
        var configuration = OTel.Configuration.default
        configuration.serviceName = serviceName
        configuration.diagnosticLogger = .custom(logger)
        configuration.diagnosticLogLevel = .warning
        configuration.metrics.enabled = false
        configuration.logs.enabled = false
        configuration.traces.otlpExporter.endpoint = endpoint
        configuration.traces.otlpExporter.protocol = json ? .httpJSON : .httpProtobuf
        configuration.traces.otlpExporter.timeout = timeout
        configuration.traces.batchSpanProcessor.scheduleDelay = scheduleDelay
        let backend = try OTel.makeTracingBackend(configuration: configuration)
        // The tracer holds the exporter, whose deinit shuts its HTTP client down with
        // `syncShutdown`, a precondition failure on an event loop thread; with NIO's loops as
        // the global executor (`trellis serve`'s default) that is where the last reference
        // goes, and the process died with SIGILL at every shutdown. So the tracer is kept for
        // the life of the process (one per server; its service has sent what was left by then).
        _ = Unmanaged.passRetained(backend.factory as AnyObject)
        return (backend.factory, backend.service)
    }
}
