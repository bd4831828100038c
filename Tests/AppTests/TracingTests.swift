import App
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import Testing
import TrellisJobs
import TrellisTestSupport
import TrellisTracing
@testable import TrellisRuntime

/// Traces (issue 12, item 1) against a real OTLP/HTTP receiver on this machine: a request is
/// one trace whose server span continues the caller's `traceparent`, with the service call
/// and every statement below it (SQL text, never a bound value); a job run is a trace whose
/// webhook call hands its `traceparent` on; the trace id is in the request's log metadata and
/// in 5xx problem bodies; and with tracing off nothing of it appears.
@Suite("tracing (issue 12)", .serialized)
struct TracingTests {
    /// One span as the receiver decoded it from OTLP/JSON.
    struct ReceivedSpan: Sendable, CustomStringConvertible {
        var traceID: String
        var spanID: String
        var parentSpanID: String
        var name: String
        var kind: Int
        var attributes: [String: String]

        var description: String { "\(name) [\(spanID) <- \(parentSpanID)] \(attributes)" }
    }

    /// A collector stand-in: a local HTTP server taking OTLP/HTTP JSON on `/v1/traces`.
    final class OTLPReceiver: Sendable {
        let port: Int
        let spans = NIOLockedValueBox<[ReceivedSpan]>([])
        private let task = NIOLockedValueBox<Task<Void, any Error>?>(nil)

        init() throws {
            port = try freeLocalPort()
        }

        var export: TraceExport {
            var export = TraceExport(endpoint: "http://127.0.0.1:\(port)/v1/traces")
            export.json = true
            export.scheduleDelay = .milliseconds(50)
            return export
        }

        func start() async throws {
            let router = Router()
            router.post("v1/traces") { [spans] request, _ -> Response in
                let body = try await request.body.collect(upTo: 16 << 20)
                let decoded = try Self.decode(Data(buffer: body))
                spans.withLockedValue { $0 += decoded }
                return Response(
                    status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
            }
            let server = try await startLocalHTTPServer(router, port: port)
            task.withLockedValue { $0 = server }
        }

        func stop() {
            task.withLockedValue { $0?.cancel() }
        }

        /// The spans of `traceID`, once `done` holds for them (within 10 s).
        func trace(_ traceID: String, until done: @escaping ([ReceivedSpan]) -> Bool) async throws -> [ReceivedSpan] {
            var last: [ReceivedSpan] = []
            let held = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
                last = self.spans.withLockedValue { $0 }.filter { $0.traceID == traceID }
                return done(last)
            }
            #expect(held, "the trace did not arrive whole: \(last)")
            return last
        }

        /// OTLP/JSON's `ExportTraceServiceRequest`: ids are hex by the OTLP spec, base64 in a
        /// plain protobuf JSON mapping; both are read.
        static func decode(_ data: Data) throws -> [ReceivedSpan] {
            let root = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
            var spans: [ReceivedSpan] = []
            for resource in root["resourceSpans"] as? [[String: Any]] ?? [] {
                for scope in resource["scopeSpans"] as? [[String: Any]] ?? [] {
                    for span in scope["spans"] as? [[String: Any]] ?? [] {
                        var attributes: [String: String] = [:]
                        for attribute in span["attributes"] as? [[String: Any]] ?? [] {
                            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else { continue }
                            attributes[key] = value.values.first.map { "\($0)" } ?? ""
                        }
                        spans.append(ReceivedSpan(
                            traceID: hex(span["traceId"]), spanID: hex(span["spanId"]), parentSpanID: hex(span["parentSpanId"]),
                            name: span["name"] as? String ?? "", kind: (span["kind"] as? Int) ?? 0, attributes: attributes))
                    }
                }
            }
            return spans
        }

        static func hex(_ value: Any?) -> String {
            guard let text = value as? String, !text.isEmpty else { return "" }
            if text.utf8.count % 2 == 0, text.allSatisfy(\.isHexDigit), text.utf8.count == 32 || text.utf8.count == 16 {
                return text.lowercased()
            }
            guard let bytes = Data(base64Encoded: text) else { return text }
            return bytes.map { String(format: "%02x", $0) }.joined()
        }
    }

    static func randomHex(bytes: Int) -> String {
        (0..<bytes).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    /// `GET /<prefix>/boom` throws (a 500); `GET /<prefix>/logger` answers its logger's `trace_id`.
    static func routes(_ prefix: String) -> @Sendable (Router<TrellisRequestContext>, TrellisServices) -> Void {
        { router, _ in
            router.get("\(prefix)/boom") { _, _ -> Response in throw CancellationError() }
            router.get("\(prefix)/explode") { _, _ -> Response in throw ErrorTrackingTests.ExplodingHandlerError() }
            router.get("\(prefix)/logger") { _, context -> String in
                context.logger[metadataKey: "trace_id"].map { "\($0)" } ?? "none"
            }
        }
    }

    @Test func aRequestIsOneTraceUnderTheCallersSpanWithItsServiceCallAndStatementsBelowIt() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        try await ReadCacheTests.withConnectedRedis { redis in
        let cache = ReadCache(redis: redis, resources: TrellisApp.api.resources.map(\.descriptor), logger: silentLogger)
        try await withApp(readCache: cache, traceExport: receiver.export) { api, workspace in
            let secretName = "Ada-" + UUID().uuidString
            let created = try await api.send(.post, "/v1/agents", json: #"{"name":"\#(secretName)","role":"pilot"}"#)
            #expect(created.status == .created)
            let id = try #require(try created.object().string("id"))

            let traceID = Self.randomHex(bytes: 16)
            let callerSpan = Self.randomHex(bytes: 8)
            let read = try await api.send(.get, "/v1/agents/\(id)", headers: [HTTPField.Name("traceparent")!: "00-\(traceID)-\(callerSpan)-01"])
            #expect(read.status == .ok)

            let spans = try await receiver.trace(traceID) { spans in
                spans.contains { $0.name == "GET /v1/agents/{id}" } && spans.contains { $0.name == "agents.get" }
                    && spans.contains { $0.attributes["db.system.name"] == "postgresql" } && spans.contains { $0.attributes["db.system.name"] == "redis" }
            }
            let server = try #require(spans.first { $0.name == "GET /v1/agents/{id}" }, "\(spans)")
            #expect(server.parentSpanID == callerSpan, "the server span continues the caller's trace")
            #expect(server.kind == 2, "SPAN_KIND_SERVER")
            #expect(server.attributes["http.route"] == "/v1/agents/{id}")
            #expect(server.attributes["http.response.status_code"] == "200")
            #expect(server.attributes["trellis.workspace_id"] == workspace.lowercasedString)
            #expect(server.attributes["trellis.credential_id"]?.hasPrefix("api_key:") == true, "\(server)")
            #expect(!server.attributes.values.contains { $0.contains(id.lowercased()) }, "no raw path: \(server)")

            let service = try #require(spans.first { $0.name == "agents.get" })
            #expect(service.parentSpanID == server.spanID)
            let statements = spans.filter { $0.attributes["db.system.name"] == "postgresql" }
            // The read under the service call; the credential's lookup under the request itself.
            #expect(statements.contains { $0.parentSpanID == service.spanID && $0.attributes["db.query.text"]?.contains("FROM \"agents\"") == true }, "\(statements)")
            #expect(statements.allSatisfy { [service.spanID, server.spanID].contains($0.parentSpanID) }, "\(statements)")
            for statement in statements {
                let text = try #require(statement.attributes["db.query.text"])
                #expect(text.contains("$1"), "the statement's text with its placeholders: \(text)")
                #expect(!text.lowercased().contains(id.lowercased()) && !text.contains(secretName), "no bound value: \(text)")
                #expect(statement.kind == 3, "SPAN_KIND_CLIENT")
            }

            // The write was its own trace: the service call, BEGIN, the insert, the audit entry, COMMIT.
            var all: [ReceivedSpan] = []
            let sent = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
                all = receiver.spans.withLockedValue { $0 }
                return all.contains { $0.name == "POST /v1/agents" }
            }
            #expect(sent)
            let create = try #require(all.first { $0.name == "POST /v1/agents" }, "\(all.map(\.name))")
            #expect(create.parentSpanID.isEmpty, "a new trace: \(create)")
            let createSpans = try await receiver.trace(create.traceID) { spans in
                Set(spans.compactMap { $0.attributes["db.operation.name"] }).isSuperset(of: ["BEGIN", "INSERT", "COMMIT"])
            }
            let createCall = try #require(createSpans.first { $0.name == "agents.create" })
            #expect(createCall.parentSpanID == create.spanID)
            #expect(createSpans.allSatisfy { !($0.attributes["db.query.text"] ?? "").contains(secretName) })

            // A hand-written service call (API keys) is a service span too, whatever the surface.
            let keysTrace = Self.randomHex(bytes: 16)
            let keys = try await api.send(.get, "/v1/api-keys", headers: [HTTPField.Name("traceparent")!: "00-\(keysTrace)-\(Self.randomHex(bytes: 8))-01"])
            #expect(keys.status == .ok)
            let keySpans = try await receiver.trace(keysTrace) { $0.contains { $0.name == "api_keys.list" } && $0.contains { $0.kind == 2 } }
            let keysServer = try #require(keySpans.first { $0.kind == 2 })
            #expect(keySpans.first { $0.name == "api_keys.list" }?.parentSpanID == keysServer.spanID, "\(keySpans)")

            // The cache's Redis commands are client spans named by the command, with no key or value.
            let redisSpans = spans.filter { $0.attributes["db.system.name"] == "redis" }
            #expect(!redisSpans.isEmpty && redisSpans.allSatisfy { span in
                let attributes = "\(span.attributes)"
                return span.kind == 3 && !attributes.contains(id.lowercased()) && !attributes.contains(workspace.lowercasedString)
            }, "\(redisSpans)")
            #expect(redisSpans.allSatisfy { span in span.name.allSatisfy { $0.isUppercase || $0 == "_" } }, "\(redisSpans.map(\.name))")
        }
        }
    }

    @Test func theTraceIDIsInTheRequestsLogMetadataAndInA5xxBodyButNotIn4xxBodies() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let prefix = "trace-" + UUID().uuidString.prefix(8).lowercased()
        let tracked = NIOLockedValueBox<ErrorTracker?>(nil)
        let routes = Self.routes(prefix)
        try await withApp(traceExport: receiver.export, configure: { router, services in
            routes(router, services)
            tracked.withLockedValue { $0 = services.errors }
        }) { api, _ in
            let traceID = Self.randomHex(bytes: 16)
            let parent: HTTPFields = [HTTPField.Name("traceparent")!: "00-\(traceID)-\(Self.randomHex(bytes: 8))-01"]
            let logged = try await api.send(.get, "/\(prefix)/logger", headers: parent)
            #expect(logged.text == traceID)

            let failed = try await api.send(.get, "/\(prefix)/explode", headers: parent)
            #expect(failed.status == .internalServerError)
            #expect(try failed.object().string("trace_id") == traceID, "\(failed.text)")
            let event = try #require(tracked.withLockedValue { $0 }?.drain().first { $0.last.location == "/\(prefix)/explode" })
            #expect(event.last.traceID == traceID, "the error event's sample trace id")
            let unavailable = try await api.send(.get, "/\(prefix)/boom")
            #expect(unavailable.status == .serviceUnavailable)
            let fresh = try #require(try unavailable.object().string("trace_id"), "a 5xx of a request without traceparent has its new trace's id")
            #expect(fresh.utf8.count == 32 && fresh != traceID)

            let notFound = try await api.send(.get, "/v1/agents/\(UUID())", headers: parent)
            #expect(notFound.status == .notFound)
            #expect(try notFound.object()["trace_id"] == nil, "only a 5xx carries the trace id")

            // The 500's server span is marked as an error, under its route template; a failed
            // service call (the 404's get) carries the error's type and never its message.
            let spans = try await receiver.trace(traceID) { spans in
                spans.contains { $0.name == "GET /\(prefix)/explode" } && spans.contains { $0.name == "agents.get" }
            }
            let explode = try #require(spans.first { $0.name == "GET /\(prefix)/explode" })
            #expect(explode.attributes["http.response.status_code"] == "500")
            let failedGet = try #require(spans.first { $0.name == "agents.get" })
            #expect(failedGet.attributes["error.type"] == "TrellisRuntime.Problem", "\(failedGet)")
            #expect(!spans.contains { $0.attributes.keys.contains { $0.hasPrefix("exception.") } }, "no error message leaves the process")
        }
    }

    @Test func aMalformedTraceparentStartsATraceOfItsOwnAndOnlyTraceHeadersReachTheTracer() async throws {
        let good = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
        #expect(Traceparent.isWellFormed(good))
        for bad in [
            "", "00", good.uppercased(), "01" + good.dropFirst(2), "ff" + good.dropFirst(2), good + "-extra", good.replacingOccurrences(of: "-01", with: "-0g"),
            "00-00000000000000000000000000000000-b7ad6b7169203331-01", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01", String(repeating: "0", count: 10_000),
        ] {
            #expect(!Traceparent.isWellFormed(bad), "\(bad.prefix(60))")
        }
        let headers: HTTPFields = [
            .authorization: "Bearer trk_secret", HTTPField.Name("traceparent")!: good, HTTPField.Name("tracestate")!: "vendor=1",
            .cookie: "session=secret",
        ]
        #expect(RequestTracingMiddleware.traceHeaders(headers) == ["traceparent": good, "tracestate": "vendor=1"])
        var malformed = headers
        malformed[HTTPField.Name("traceparent")!] = "00-not-a-trace-01"
        #expect(RequestTracingMiddleware.traceHeaders(malformed).isEmpty)

        let receiver = try OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        try await withApp(traceExport: receiver.export) { api, _ in
            let given = Self.randomHex(bytes: 16)
            let response = try await api.send(.get, "/v1/agents?limit=1", headers: [HTTPField.Name("traceparent")!: "00-\(given)-0000000000000000-01"])
            #expect(response.status == .ok)
            var mine: [ReceivedSpan] = []
            let arrived = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
                mine = receiver.spans.withLockedValue { $0 }.filter { $0.name == "GET /v1/agents" }
                return !mine.isEmpty
            }
            #expect(arrived)
            #expect(mine.allSatisfy { $0.traceID != given && $0.parentSpanID.isEmpty }, "\(mine)")
        }
    }

    @Test func withTracingOffTraceHeadersChangeNothingAndNoBodyCarriesATraceID() async throws {
        let prefix = "untraced-" + UUID().uuidString.prefix(8).lowercased()
        try await withApp(configure: Self.routes(prefix)) { api, _ in
            let parent: HTTPFields = [HTTPField.Name("traceparent")!: "00-\(Self.randomHex(bytes: 16))-\(Self.randomHex(bytes: 8))-01"]
            #expect(try await api.send(.get, "/\(prefix)/logger", headers: parent).text == "none")
            let failed = try await api.send(.get, "/\(prefix)/explode", headers: parent)
            #expect(failed.status == .internalServerError)
            #expect(try failed.object()["trace_id"] == nil)
        }
    }

    @Test func aDependencyProbeIsAClientSpanOfItsOwnThatHandsItsTraceparentOn() async throws {
        let receiver = try OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let seen = NIOLockedValueBox<[String]>([])
        let router = Router()
        router.get("probe") { [seen] request, _ -> Response in
            if let parent = request.headers[HTTPField.Name("traceparent")!] { seen.withLockedValue { $0.append(parent) } }
            return Response(status: .ok)
        }
        let peerPort = try freeLocalPort()
        let peer = try await startLocalHTTPServer(router, port: peerPort)
        defer { peer.cancel() }
        var api = TrellisApp.api
        api.dependencies = [
            HealthDependency(name: "ai_provider", url: "http://127.0.0.1:\(peerPort)/probe?token=secret-token", interval: .milliseconds(200), timeout: .seconds(1)),
        ]
        try await withApp(api: api, traceExport: receiver.export) { _, _ in
            var parent = ""
            let probed = try await eventually(timeout: .seconds(10), interval: .milliseconds(50)) {
                parent = seen.withLockedValue { $0.first } ?? ""
                return !parent.isEmpty
            }
            #expect(probed, "the probe sent no traceparent")
            let parts = parent.split(separator: "-").map(String.init)
            try #require(parts.count == 4)
            let spans = try await receiver.trace(parts[1]) { $0.contains { $0.spanID == parts[2] } }
            let probe = try #require(spans.first { $0.spanID == parts[2] })
            #expect(probe.name == "GET" && probe.kind == 3 && probe.parentSpanID.isEmpty, "\(probe)")
            #expect(probe.attributes["server.address"] == "127.0.0.1" && probe.attributes["http.response.status_code"] == "200")
            #expect(!"\(probe.attributes)".contains("secret-token"), "no path or query: \(probe)")
        }
    }
}

/// In the webhooks suite, which runs its tests one at a time: every worker on the webhooks
/// queue in these tests shares one database, and a worker with another suite's webhook key
/// would take a delivery it cannot open.
extension WebhookTests {
    @Test func aJobRunIsATraceAndItsWebhookCallHandsTraceparentToTheReceiver() async throws {
        let receiver = try TracingTests.OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        let hooks = WebhookTests.Receiver(port: try freeLocalPort())
        try await hooks.start()
        defer { hooks.stop() }
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(
                realtime: RealtimeTests.realtime(redis, pollInterval: .milliseconds(200)), webhooks: WebhookTests.settings(),
                traceExport: receiver.export, alongside: { [JobQueueTests.worker($0, queue: WebhookSettings.queue)] }
            ) { api, _ in
                _ = try await WebhookTests.createEndpoint(api, url: hooks.url)
                #expect(try await api.send(.post, "/v1/agents", json: #"{"name":"Traced"}"#).status == .created)
                var delivered: WebhookTests.Receiver.Received?
                let arrived = try await eventually(timeout: .seconds(30), interval: .milliseconds(100)) {
                    delivered = hooks.received.withLockedValue { $0.first }
                    return delivered != nil
                }
                #expect(arrived)
                let traceparent = try #require(delivered?.headers[HTTPField.Name("traceparent")!], "\(String(describing: delivered?.headers))")
                let parts = traceparent.split(separator: "-").map(String.init)
                #expect(parts.count == 4 && parts[1].utf8.count == 32 && parts[2].utf8.count == 16, "\(traceparent)")

                let spans = try await receiver.trace(parts[1]) { spans in
                    spans.contains { $0.spanID == parts[2] } && spans.contains { $0.name == "job webhooks.deliver" }
                }
                let run = try #require(spans.first { $0.name == "job webhooks.deliver" }, "\(spans)")
                #expect(run.kind == 5, "SPAN_KIND_CONSUMER")
                #expect(run.attributes["trellis.job.type"] == "webhooks.deliver" && run.attributes["trellis.job.outcome"] == "completed", "\(run)")
                let call = try #require(spans.first { $0.spanID == parts[2] })
                #expect(call.name == "POST" && call.kind == 3 && call.parentSpanID == run.spanID, "\(call)")
                #expect(call.attributes["http.response.status_code"] == "200" && call.attributes["server.address"] == "127.0.0.1")
                #expect(spans.contains { $0.attributes["db.system.name"] == "postgresql" && $0.parentSpanID == run.spanID }, "the job's statements")
            }
        }
    }
}
