import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOFoundationCompat
import PostgresNIO
import Tracing
import ServiceLifecycle

/// Writes what the ``ErrorTracker`` gathered to `error_events` every ``interval`` (one
/// statement per flush, one row per fingerprint), once more at shutdown, and forwards each
/// group to a Sentry-compatible endpoint when `TRELLIS_SENTRY_DSN` is set. A failed write puts
/// the groups back for the next flush; nothing here is on a request's path.
public struct ErrorTrackerService: Service {
    let tracker: ErrorTracker
    let postgres: PostgresClient
    let sentry: SentryForwarder?
    let metrics: OperationsMetrics?
    let logger: Logger
    public var interval: Duration = .seconds(1)
    /// The longest wait for a pooled connection (`TRELLIS_PG_LEASE_TIMEOUT` in a server).
    public var leaseTimeout: Duration = .seconds(5)

    public init(tracker: ErrorTracker, postgres: PostgresClient, sentry: SentryForwarder?, metrics: OperationsMetrics?, logger: Logger) {
        self.tracker = tracker
        self.postgres = postgres
        self.sentry = sentry
        self.metrics = metrics
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
            await flush()
        }
        await flush()
        try? await sentry?.shutdown()
    }

    /// Writes (and forwards) everything recorded since the last flush.
    public func flush() async {
        let groups = tracker.drain()
        guard !groups.isEmpty else { return }
        do {
            try await postgres.withConnection(leaseTimeout: leaseTimeout) { connection in
                try await ErrorEvents.write(groups, on: connection, logger: logger)
            }
        } catch {
            tracker.restore(groups)
            logger.warning("could not record error events; kept for the next try", metadata: ["error": "\(String(reflecting: error))"])
        }
        if let sentry {
            for group in groups {
                let sent = await sentry.send(group)
                metrics?.sentryForwards.increment(sent ? "sent" : "failed")
            }
        }
    }
}

/// Sends error groups to a Sentry-compatible endpoint with the envelope protocol
/// (`POST {base}/api/{project}/envelope/`, `X-Sentry-Auth` with the DSN's public key). An event
/// holds the error's type, code, route template or job type, frame, fingerprint, occurrence
/// count and sample request and trace ids: nothing a client sent, nothing of a row, no address.
public struct SentryForwarder: Sendable {
    public struct DSN: Sendable, Hashable {
        public var envelopeURL: String
        public var publicKey: String
        public var projectID: String

        /// `https://<public key>@<host>[:port][/<path>]/<project id>`; nil for anything else.
        public init?(_ text: String) {
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), let host = url.host,
                let key = url.user, !key.isEmpty, url.password == nil
            else { return nil }
            let parts = url.path.split(separator: "/")
            guard let project = parts.last, project.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }) else { return nil }
            let prefix = parts.dropLast().map { "/" + $0 }.joined()
            let port = url.port.map { ":\($0)" } ?? ""
            envelopeURL = "\(scheme)://\(host)\(port)\(prefix)/api/\(project)/envelope/"
            publicKey = key
            projectID = String(project)
        }
    }

    let dsn: DSN
    let client: HTTPClient
    let logger: Logger
    let timeout: TimeAmount = .seconds(5)

    /// Each forward is a trace of its own (a client span) when set.
    let tracer: (any Tracer)?

    public init(dsn: DSN, logger: Logger, tracer: (any Tracer)? = nil) {
        self.dsn = dsn
        self.tracer = tracer
        var configuration = HTTPClient.Configuration(redirectConfiguration: .disallow, decompression: .disabled)
        configuration.connectionPool.retryConnectionEstablishment = false
        client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        self.logger = logger
    }

    func shutdown() async throws {
        try await client.shutdown()
    }

    /// Sends one group as one event; whether the endpoint took it (2xx).
    func send(_ group: ErrorTracker.Group) async -> Bool {
        var request = HTTPClientRequest(url: dsn.envelopeURL)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-sentry-envelope")
        request.headers.add(
            name: "X-Sentry-Auth", value: "Sentry sentry_version=7, sentry_client=trellis/1.0, sentry_key=\(dsn.publicKey)")
        request.body = .bytes(ByteBuffer(bytes: Self.envelope(group)))
        do {
            let response = try await OutboundHTTP.execute(request, on: client, timeout: timeout, tracer: tracer)
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(response.status.code) else {
                logger.warning("the error tracker refused an event", metadata: ["status": "\(response.status.code)"])
                return false
            }
            return true
        } catch {
            logger.warning("could not forward an error event", metadata: ["error": "\(DependencyProber.describe(error))"])
            return false
        }
    }

    /// The envelope: its header, one `event` item header and the event.
    static func envelope(_ group: ErrorTracker.Group) -> [UInt8] {
        let eventID = UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        var event = JSONWriter(capacity: 1024)
        event.beginObject()
        event.key("event_id"); event.value(eventID)
        event.key("timestamp"); event.value(group.last.at)
        event.key("platform"); event.value("other")
        event.key("level"); event.value("error")
        event.key("logger"); event.value("trellis")
        event.key("transaction"); event.value(group.first.location)
        event.key("fingerprint"); event.beginArray(); event.value(group.fingerprint); event.endArray()
        event.key("exception")
        event.beginObject()
        event.key("values")
        event.beginArray()
        event.beginObject()
        event.key("type"); event.value(group.first.signature.type)
        event.key("value"); event.value(group.first.signature.detail)
        event.key("module"); event.value(group.first.signature.frame)
        event.endObject()
        event.endArray()
        event.endObject()
        event.key("tags")
        event.beginObject()
        event.key("kind"); event.value(group.first.kind.rawValue)
        event.key("location"); event.value(group.first.location)
        event.endObject()
        event.key("extra")
        event.beginObject()
        event.key("occurrences"); event.value(Int64(group.count))
        event.key("request_id"); if let id = group.last.requestID { event.value(id) } else { event.null() }
        event.key("trace_id"); if let id = group.last.traceID { event.value(id) } else { event.null() }
        event.endObject()
        event.endObject()
        let body = event.bytes
        var header = JSONWriter(capacity: 128)
        header.beginObject()
        header.key("event_id"); header.value(eventID)
        header.key("sent_at"); header.value(Date())
        header.endObject()
        var item = JSONWriter(capacity: 96)
        item.beginObject()
        item.key("type"); item.value("event")
        item.key("content_type"); item.value("application/json")
        item.key("length"); item.value(Int64(body.count))
        item.endObject()
        return header.bytes + [0x0A] + item.bytes + [0x0A] + body + [0x0A]
    }
}
