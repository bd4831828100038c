import Tracing

/// Spans around Trellis's own work: service calls, SQL statements, Redis commands, outbound
/// HTTP calls. A span is started only inside a trace — a request or a job run that a
/// ``TraceRoot`` opened because tracing is on — so that with tracing off, or in background
/// work outside any request or job, each call costs one task-local read and nothing else.
///
/// The tracer travels with the trace in the task's `InstrumentationContext` (a task-local,
/// inherited by child tasks), not in a process-global: two servers in one process (the
/// tests) each trace to their own exporter, and code deep in a call (a statement in a
/// transaction) needs no tracer passed down to it.
public enum Traced {
    /// Runs `body` in a child span named `name` of the current trace, with `attributes` set on
    /// it; a throw marks the span failed with the error's type only. The span ends when `body`
    /// returns. Outside a trace, runs `body` alone.
    @inlinable
    public static func span<T>(
        _ name: @autoclosure () -> String, kind: SpanKind = .internal, attributes: (inout SpanAttributes) -> Void = { _ in },
        _ body: () async throws -> T
    ) async rethrows -> T {
        guard let context = InstrumentationContext.current, let tracer = context.trellisTracer else { return try await body() }
        return try await child(name(), of: context, tracer: tracer, kind: kind, attributes: attributes) { _ in try await body() }
    }

    /// Runs `body` as the service call `<service>.<operation>` (`agents.get`, `api_keys.rotate`):
    /// the span the statements of one operation hang under, whichever surface called it.
    @inlinable
    public static func call<T>(_ service: String, _ operation: String, _ body: () async throws -> T) async rethrows -> T {
        try await span("\(service).\(operation)", attributes: {
            $0["trellis.service"] = service
            $0["trellis.operation"] = operation
        }, body)
    }

    /// ``span(_:kind:attributes:_:)`` for a body that adds to its span once it knows more
    /// (an outbound call's answer): `body` gets the span, nil outside a trace.
    public static func withSpan<T>(
        _ name: @autoclosure () -> String, kind: SpanKind = .internal, attributes: (inout SpanAttributes) -> Void = { _ in },
        _ body: ((any Span)?) async throws -> T
    ) async rethrows -> T {
        guard let context = InstrumentationContext.current, let tracer = context.trellisTracer else { return try await body(nil) }
        return try await child(name(), of: context, tracer: tracer, kind: kind, attributes: attributes, body)
    }

    /// The current trace's id (32 lowercase hex digits), nil outside a trace.
    public static var traceID: String? { InstrumentationContext.current?.trellisTraceID }

    /// Writes the current trace's context (W3C `traceparent`, and whatever else the tracer
    /// propagates) into `carrier`, for an outbound call; does nothing outside a trace.
    public static func inject<Carrier, Inject: Injector>(into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let context = InstrumentationContext.current, let tracer = context.trellisTracer else { return }
        tracer.inject(context, into: &carrier, using: injector)
    }

    @usableFromInline
    static func child<T>(
        _ name: String, of parent: InstrumentationContext, tracer: any Tracer, kind: SpanKind, attributes: (inout SpanAttributes) -> Void,
        _ body: ((any Span)?) async throws -> T
    ) async rethrows -> T {
        let span = tracer.startSpan(name, context: parent, ofKind: kind)
        span.updateAttributes(attributes)
        defer { span.end() }
        do {
            return try await InstrumentationContext.$current.withValue(span.context) { try await body(span) }
        } catch {
            recordFailure(error, on: span)
            throw error
        }
    }

    /// Marks `span` failed with the error's type (`error.type`) and nothing else: an error's
    /// message can quote a value a client sent or a row held, and spans leave the process.
    public static func recordFailure(_ error: any Error, on span: any Span) {
        span.attributes["error.type"] = String(reflecting: type(of: error))
        span.setStatus(SpanStatus(code: .error))
    }
}

/// Opens a trace: a request's server span, a job run's consumer span. Everything traced
/// while its body runs (``Traced/span(_:kind:attributes:_:)``) is a descendant of its span,
/// unless the tracer's sampler dropped the trace: then nothing below the root is made (and
/// outbound calls carry no `traceparent`), while the trace id still goes to logs and 5xx bodies.
public struct TraceRoot: Sendable {
    /// The span the body runs in; end it with ``end()`` once its attributes are final.
    public let span: any Span
    /// The trace's id, 32 lowercase hex digits: for log lines and problem bodies. Nil when
    /// the tracer made no trace of it (a sampler set to `always_off` hands out no context).
    public let traceID: String?
    let context: InstrumentationContext

    /// Starts the root span `name`, continuing the trace `carrier` names (an incoming W3C
    /// `traceparent`) when it names one, else starting a new trace.
    public init<Carrier, Extract: Extractor>(
        _ name: String, kind: SpanKind, tracer: any Tracer, continuing carrier: Carrier, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        var parent = InstrumentationContext.topLevel
        tracer.extract(carrier, into: &parent, using: extractor)
        parent.trellisTracer = tracer
        let span = tracer.startSpan(name, context: parent, ofKind: kind)
        var context = span.context
        var headers: [String: String] = [:]
        tracer.inject(context, into: &headers, using: DictionaryInjector())
        traceID = headers["traceparent"].flatMap(Traceparent.traceID(of:))
        context.trellisTraceID = traceID
        // A trace the sampler dropped gets no child spans: they would be made and thrown away.
        if !span.isRecording { context.trellisTracer = nil }
        self.span = span
        self.context = context
    }

    /// Starts a root span of a new trace.
    public init(_ name: String, kind: SpanKind, tracer: any Tracer) {
        self.init(name, kind: kind, tracer: tracer, continuing: [:], using: DictionaryExtractor())
    }

    /// Runs `body` inside the trace: its spans are children of ``span``. Marks the span failed
    /// on a throw (``Traced/recordFailure(_:on:)``); does not end it.
    public func run<T>(_ body: () async throws -> T) async rethrows -> T {
        do {
            return try await InstrumentationContext.$current.withValue(context) { try await body() }
        } catch {
            Traced.recordFailure(error, on: span)
            throw error
        }
    }

    public func end() { span.end() }
}

/// The W3C `traceparent` header, version `00`: `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`,
/// lowercase, neither id all zeros.
public enum Traceparent {
    /// Whether `value` is a `traceparent` a tracer may be handed (anything else is ignored,
    /// and the request starts a trace of its own).
    public static func isWellFormed(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"),
            bytes[2] == UInt8(ascii: "-"), bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-")
        else { return false }
        let fields = [bytes[3..<35], bytes[36..<52], bytes[53..<55]]
        return fields.allSatisfy { $0.allSatisfy(isLowercaseHex) } && fields[0].contains { $0 != UInt8(ascii: "0") }
            && fields[1].contains { $0 != UInt8(ascii: "0") }
    }

    /// The trace id of a `traceparent` the tracer wrote.
    static func traceID(of value: String) -> String? {
        let parts = value.split(separator: "-")
        guard parts.count >= 4, parts[1].utf8.count == 32 else { return nil }
        return String(parts[1])
    }

    private static func isLowercaseHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }
}

extension InstrumentationContext {
    /// The tracer of the trace this task is in; nil outside a trace.
    public internal(set) var trellisTracer: (any Tracer)? {
        get { self[TracerKey.self] }
        set { self[TracerKey.self] = newValue }
    }

    /// The id of the trace this task is in, as ``TraceRoot`` found it; nil outside a trace.
    public internal(set) var trellisTraceID: String? {
        get { self[TraceIDKey.self] }
        set { self[TraceIDKey.self] = newValue }
    }
}

private enum TracerKey: InstrumentationContextKey {
    typealias Value = any Tracer
    static var nameOverride: String? { "trellis-tracer" }
}

private enum TraceIDKey: InstrumentationContextKey {
    typealias Value = String
    static var nameOverride: String? { "trellis-trace-id" }
}

/// Header names to values, as an incoming request's or an outgoing call's trace headers.
public struct DictionaryInjector: Injector {
    public init() {}
    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key] = value
    }
}

public struct DictionaryExtractor: Extractor {
    public init() {}
    public func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}
