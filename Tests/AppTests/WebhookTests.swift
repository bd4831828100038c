import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import NIOConcurrencyHelpers
import PostgresNIO
import Testing
import TrellisJobs
import TrellisRedis
import TrellisTestSupport
@testable import TrellisRuntime

/// Webhooks (issue 11 item 5) end to end: an endpoint made through the API, an agent created,
/// the relay fanning the event out, a `webhooks.deliver` job sending it to a real local HTTP
/// receiver, and what the delivery log and the endpoint's circuit show afterwards.
@Suite("Webhooks (issue 11)", .serialized)
struct WebhookTests {
    /// A local HTTP server that records what it receives and answers `status`.
    final class Receiver: Sendable {
        struct Received: Sendable {
            var headers: HTTPFields
            var body: String
        }

        let port: Int
        let received = NIOLockedValueBox<[Received]>([])
        let status = NIOLockedValueBox<HTTPResponse.Status>(.ok)
        private let task = NIOLockedValueBox<Task<Void, any Error>?>(nil)

        init(port: Int) {
            self.port = port
        }

        var url: String { "http://127.0.0.1:\(port)/hooks/trellis" }

        /// Starts listening; returns once it accepts connections.
        func start() async throws {
            let router = Router()
            router.post("hooks/trellis") { [received, status] request, _ -> Response in
                let body = try await request.body.collect(upTo: 1 << 20)
                received.withLockedValue { $0.append(Received(headers: request.headers, body: String(buffer: body))) }
                return Response(status: status.withLockedValue { $0 })
            }
            let server = try await startLocalHTTPServer(router, port: port)
            task.withLockedValue { $0 = server }
        }

        func stop() {
            task.withLockedValue { $0?.cancel() }
        }
    }

    static func settings(failures: Int = 5, cooldown: Duration = .seconds(60), allowPrivate: Bool = true) -> WebhookSettings {
        var settings = WebhookSettings(secrets: WebhookSecretBox(key: SymmetricKey(size: .bits256)))
        settings.allowPrivateAddresses = allowPrivate
        settings.timeout = .seconds(5)
        settings.backoff = JobBackoff(base: 1, cap: 1)
        settings.circuitFailures = failures
        settings.circuitCooldown = cooldown
        return settings
    }

    /// An app with realtime (the outbox relay fans events out) and a worker on the webhooks queue.
    static func withWebhookApp<T: Sendable>(
        _ settings: WebhookSettings, _ body: @escaping @Sendable (APIClient, UUID) async throws -> T
    ) async throws -> T {
        try await ReadCacheTests.withConnectedRedis { redis in
            try await withApp(
                realtime: RealtimeTests.realtime(redis, pollInterval: .milliseconds(200)), webhooks: settings,
                alongside: { [JobQueueTests.worker($0, queue: WebhookSettings.queue)] }, body)
        }
    }

    static func createEndpoint(_ api: APIClient, url: String, events: [String] = ["agent.created"]) async throws -> JSONObject {
        let events = events.map { "\"\($0)\"" }.joined(separator: ",")
        let response = try await api.send(.post, "/v1/webhook-endpoints", json: #"{"url":"\#(url)","events":[\#(events)]}"#)
        #expect(response.status == .created, "\(response.text)")
        return try response.object()
    }

    /// The endpoint's deliveries (newest first).
    static func deliveries(_ api: APIClient, _ endpoint: String) async throws -> [JSONObject] {
        try await api.send(.get, "/v1/webhook-endpoints/\(endpoint)/deliveries").object().array("data").compactMap(\.object)
    }

    static func waitForDelivery(
        _ api: APIClient, _ endpoint: String, within limit: Duration = .seconds(30), _ done: @escaping (JSONObject) -> Bool
    ) async throws -> JSONObject {
        var last: JSONObject?
        let held = try await eventually(timeout: limit, interval: .milliseconds(100)) {
            last = try await deliveries(api, endpoint).first
            return last.map(done) ?? false
        }
        #expect(held, "not within \(limit): \(String(describing: last))")
        return try #require(last)
    }

    static func attempts(_ delivery: JSONObject) -> Int64 {
        if case let .integer(n)? = delivery["attempts"] { return n }
        return 0
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined()
    }

    @Test func aDeliveryCarriesTheEventSignedWithTheEndpointsSecret() async throws {
        let receiver = Receiver(port: try freeLocalPort())
        try await receiver.start()
        defer { receiver.stop() }
        try await Self.withWebhookApp(Self.settings()) { api, workspace in
            let endpoint = try await Self.createEndpoint(api, url: receiver.url)
            let secret = try #require(endpoint.string("secret"))
            #expect(secret.hasPrefix("whsec_"))
            let id = try #require(endpoint.string("id"))
            // The secret is shown once: never again.
            let fetched = try await api.send(.get, "/v1/webhook-endpoints/\(id)").object()
            #expect(fetched["secret"] == nil && fetched.string("url") == receiver.url)
            let agent = try await api.send(.post, "/v1/agents", json: #"{"name":"Hooked"}"#).object()
            let delivery = try await Self.waitForDelivery(api, id) { $0.string("state") == "succeeded" }
            let requests = receiver.received.withLockedValue { $0 }
            #expect(requests.count == 1)
            let request = try #require(requests.first)
            // The body is the event; the signature is HMAC-SHA256 of "t.body" under the secret.
            let event = try #require(try JSONValue(parsing: Array(request.body.utf8)).object)
            #expect(event.string("type") == "agent.created" && event["data"]?.object?.string("id") == agent.string("id"))
            #expect(event.string("workspace_id") == workspace.lowercasedString)
            let signature = try #require(request.headers[HTTPField.Name("Trellis-Signature")!])
            let parts = Dictionary(uniqueKeysWithValues: signature.split(separator: ",").map {
                let pair = $0.split(separator: "=", maxSplits: 1)
                return (String(pair[0]), String(pair[1]))
            })
            let timestamp = try #require(parts["t"].flatMap { Int($0) })
            #expect(abs(Double(timestamp) - Date().timeIntervalSince1970) < 120)
            let expected = HMAC<SHA256>.authenticationCode(
                for: Array("\(timestamp).\(request.body)".utf8), using: SymmetricKey(data: Array(secret.utf8)))
            #expect(parts["v1"] == Self.hex(expected))
            // A wrong secret does not verify (the check above can fail).
            let forged = HMAC<SHA256>.authenticationCode(
                for: Array("\(timestamp).\(request.body)".utf8), using: SymmetricKey(data: Array("whsec_other".utf8)))
            #expect(parts["v1"] != Self.hex(forged))
            #expect(request.headers[HTTPField.Name("Trellis-Event-Id")!] == event.string("event_id"))
            #expect(request.headers[HTTPField.Name("Trellis-Delivery-Id")!] == delivery.string("id"))
            // The delivery log: one attempt, 200, with its latency.
            let log = delivery.array("log").compactMap(\.object)
            #expect(log.count == 1 && log.first?["status"] == .integer(200) && log.first?["error"] == .null)
            #expect(delivery.string("event_type") == "agent.created" && delivery["attempts"] == .integer(1))
            // An event type the endpoint did not subscribe to makes no delivery.
            _ = try await api.send(.patch, "/v1/agents/\(try #require(agent.string("id")))", json: #"{"name":"Renamed"}"#)
            try await Task.sleep(for: .seconds(2))
            #expect(try await Self.deliveries(api, id).count == 1)
            #expect(receiver.received.withLockedValue { $0.count } == 1)
            // Redelivery sends the same event again, with a fresh job; another workspace cannot.
            let deliveryID = try #require(delivery.string("id"))
            try await withApp(webhooks: Self.settings()) { other, _ in
                let refused = try await other.send(.post, "/v1/webhook-deliveries/\(deliveryID)/redeliver")
                #expect(refused.status == .notFound)
                #expect(try await other.send(.get, "/v1/webhook-deliveries/\(deliveryID)").status == .notFound)
            }
            let again = try await api.send(.post, "/v1/webhook-deliveries/\(deliveryID)/redeliver")
            #expect(again.status == .accepted, "\(again.text)")
            let redelivered = try await Self.waitForDelivery(api, id) { $0.string("state") == "succeeded" && Self.attempts($0) == 2 }
            #expect(redelivered.string("job_id") != delivery.string("job_id"))
            let bodies = receiver.received.withLockedValue { $0.map(\.body) }
            #expect(bodies.count == 2 && bodies[0] == bodies[1])
            // Retention: a delivery finished longer ago than the retention goes; a pending one stays.
            let delivered = try #require(UUID(uuidString: deliveryID))
            let kept = try await withInspector { inspector in
                _ = try await inspector.query(
                    "UPDATE webhook_deliveries SET updated_at = now() - interval '2 days' WHERE id = \(delivered)").collect()
                _ = try await inspector.query("SELECT trellis_webhooks_prune(86400, 1000)").collect()
                return try await inspector.query("SELECT count(*) FROM webhook_deliveries WHERE id = \(delivered)")
                    .collect().first!.decode(Int.self)
            }
            #expect(kept == 0)
        }
    }

    @Test func anEndpointReceivesOnlyEventsTheCredentialsThatMadeOrChangedItMayRead() async throws {
        let receiver = Receiver(port: try freeLocalPort())
        try await receiver.start()
        defer { receiver.stop() }
        try await Self.withWebhookApp(Self.settings()) { api, workspace in
            // A key that manages webhooks and reads swarms, not agents, subscribes to everything.
            let narrow = try await makeKey(workspace: workspace, scopes: ["webhooks:read", "webhooks:write", "swarms:read"]).token.text
            let made = try await api.send(
                .post, "/v1/webhook-endpoints", json: #"{"url":"\#(receiver.url)","events":["*"]}"#, as: .bearer(narrow))
            #expect(made.status == .created, "\(made.text)")
            let endpoint = try made.object()
            #expect(endpoint.array("scopes") == [.string("swarms:read"), .string("webhooks:read"), .string("webhooks:write")])
            let id = try #require(endpoint.string("id"))
            _ = try await api.send(.post, "/v1/agents", json: #"{"name":"Secret agent"}"#)
            let swarm = try await api.send(.post, "/v1/swarms", json: #"{"name":"Visible swarm"}"#)
            #expect(swarm.status == .created, "\(swarm.text)")
            let delivered = try await Self.waitForDelivery(api, id) { $0.string("state") == "succeeded" }
            #expect(delivered.string("event_type") == "swarm.created")
            try await Task.sleep(for: .seconds(1))
            let types = try await Self.deliveries(api, id).compactMap { $0.string("event_type") }
            #expect(types == ["swarm.created"], "\(types)")
            #expect(!receiver.received.withLockedValue { $0.map(\.body).joined() }.contains("Secret agent"))
            // A `*` credential's endpoint, changed by the narrow key, narrows to the narrow key's scopes.
            let wide = try #require(try await Self.createEndpoint(api, url: receiver.url, events: ["*"]).string("id"))
            let changed = try await api.send(
                .patch, "/v1/webhook-endpoints/\(wide)", json: #"{"description":"moved"}"#, as: .bearer(narrow)).object()
            #expect(changed.array("scopes") == [.string("swarms:read"), .string("webhooks:read"), .string("webhooks:write")])
        }
    }

    @Test func aReceiverThatIsDownGetsRetriesThenTheDelivery() async throws {
        // Nothing listens on the port yet.
        let receiver = Receiver(port: try freeLocalPort())
        defer { receiver.stop() }
        try await Self.withWebhookApp(Self.settings()) { api, _ in
            let id = try #require(try await Self.createEndpoint(api, url: receiver.url, events: ["agent.*"]).string("id"))
            _ = try await api.send(.post, "/v1/agents", json: #"{"name":"Patient"}"#)
            let failing = try await Self.waitForDelivery(api, id) { Self.attempts($0) >= 2 }
            #expect(failing.string("state") == "pending")
            let errors = failing.array("log").compactMap { $0.object?.string("error") }
            #expect(errors.count >= 2 && errors.allSatisfy { !$0.isEmpty }, "\(errors)")
            try await receiver.start()
            let delivered = try await Self.waitForDelivery(api, id) { $0.string("state") == "succeeded" }
            let log = delivered.array("log").compactMap(\.object)
            #expect(log.count >= 3 && log.last?["status"] == .integer(200))
            #expect(log.dropLast().allSatisfy { $0["status"] == .null && $0.string("error") != nil })
            #expect(receiver.received.withLockedValue { $0.count } == 1)
        }
    }

    @Test func theCircuitOpensAfterStraightFailuresWaitsWithoutSpendingAttemptsAndAProbeClosesIt() async throws {
        let receiver = Receiver(port: try freeLocalPort())
        try await receiver.start()
        defer { receiver.stop() }
        receiver.status.withLockedValue { $0 = .internalServerError }
        try await Self.withWebhookApp(Self.settings(failures: 3, cooldown: .seconds(4))) { api, _ in
            let id = try #require(try await Self.createEndpoint(api, url: receiver.url).string("id"))
            _ = try await api.send(.post, "/v1/agents", json: #"{"name":"Flaky"}"#)
            let failed = try await Self.waitForDelivery(api, id) { Self.attempts($0) >= 3 }
            #expect(failed.array("log").compactMap { $0.object?["status"] } .allSatisfy { $0 == .integer(500) })
            let open = try await api.send(.get, "/v1/webhook-endpoints/\(id)").object()["circuit"]?.object
            #expect(open?.string("state") == "open" && open?["failure_streak"] == .integer(3), "\(String(describing: open))")
            // While open: no call, no attempt spent.
            let calls = receiver.received.withLockedValue { $0.count }
            try await Task.sleep(for: .seconds(2))
            #expect(receiver.received.withLockedValue { $0.count } == calls)
            #expect(try await Self.deliveries(api, id).first?["attempts"] == .integer(3))
            // The endpoint recovers; after the cool-down one probe goes through and closes the circuit.
            receiver.status.withLockedValue { $0 = .noContent }
            let delivered = try await Self.waitForDelivery(api, id) { $0.string("state") == "succeeded" }
            #expect(delivered["attempts"] == .integer(4))
            let closed = try await api.send(.get, "/v1/webhook-endpoints/\(id)").object()["circuit"]?.object
            #expect(closed?.string("state") == "closed" && closed?["failure_streak"] == .integer(0))
            #expect(receiver.received.withLockedValue { $0.count } == 4)
        }
    }

    @Test func urlsToPrivateOrLoopbackAddressesAreRefusedUnlessAllowed() async throws {
        try await withApp(webhooks: Self.settings(allowPrivate: false)) { api, _ in
            for url in [
                "http://127.0.0.1:8080/x", "http://localhost/x", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data",
                "http://[::1]/x", "http://[::ffff:127.0.0.1]/x", "http://192.168.0.10/", "http://0.0.0.0/",
            ] {
                let response = try await api.send(.post, "/v1/webhook-endpoints", json: #"{"url":"\#(url)","events":["*"]}"#)
                #expect(response.status == .unprocessableContent, "\(url): \(response.text)")
                #expect(try problemErrors(response).contains { $0.hasPrefix("/url ") }, "\(url): \(response.text)")
            }
            for (body, field) in [
                (#"{"url":"ftp://93.184.216.34/x","events":["*"]}"#, "/url"),
                (#"{"url":"https://user:pw@93.184.216.34/x","events":["*"]}"#, "/url"),
                (#"{"url":"https://93.184.216.34/x","events":["agent"]}"#, "/events/0"),
                (#"{"url":"https://93.184.216.34/x","events":[]}"#, "/events"),
                (#"{"url":"https://93.184.216.34/x"}"#, "/events"),
                (#"{"url":"https://93.184.216.34/x","events":["*"],"secret":"mine"}"#, "/secret"),
            ] {
                let response = try await api.send(.post, "/v1/webhook-endpoints", json: body)
                #expect(response.status == .unprocessableContent, "\(body): \(response.text)")
                #expect(try problemErrors(response).contains { $0.hasPrefix(field + " ") }, "\(body): \(response.text)")
            }
            let created = try await api.send(.post, "/v1/webhook-endpoints", json: #"{"url":"https://93.184.216.34/hooks","events":["agent.*","*"]}"#)
            #expect(created.status == .created, "\(created.text)")
            // Changing the URL goes through the same check.
            let id = try #require(try created.object().string("id"))
            let moved = try await api.send(.patch, "/v1/webhook-endpoints/\(id)", json: #"{"url":"http://127.0.0.1/x"}"#)
            #expect(moved.status == .unprocessableContent)
        }
        #expect(WebhookAddressPolicy.isPublic("93.184.216.34") && WebhookAddressPolicy.isPublic("2606:2800:220:1:248:1893:25c8:1946"))
        for address in ["127.0.0.1", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "::1", "::",
                        "fe80::1", "fc00::1", "::ffff:10.0.0.1", "2002:7f00:1::1", "224.0.0.1", "255.255.255.255"] {
            #expect(!WebhookAddressPolicy.isPublic(address), "\(address)")
        }
    }

    @Test func anotherWorkspaceCannotSeeOrChangeAnEndpointOrItsDeliveries() async throws {
        let settings = Self.settings()
        let (endpoint, owner) = try await withApp(webhooks: settings) { api, workspace in
            (try #require(try await Self.createEndpoint(api, url: "http://127.0.0.1:9/x").string("id")), workspace)
        }
        try await withApp(webhooks: settings) { other, workspace in
            #expect(workspace != owner)
            #expect(try await other.send(.get, "/v1/webhook-endpoints/\(endpoint)").status == .notFound)
            #expect(try await other.send(.patch, "/v1/webhook-endpoints/\(endpoint)", json: #"{"enabled":false}"#).status == .notFound)
            #expect(try await other.send(.delete, "/v1/webhook-endpoints/\(endpoint)").status == .notFound)
            #expect(try await other.send(.get, "/v1/webhook-endpoints/\(endpoint)/deliveries").status == .notFound)
            let list = try await other.send(.get, "/v1/webhook-endpoints").object().array("data")
            #expect(list.isEmpty)
        }
        // Read-only keys read and do not write.
        try await withApp(workspace: owner, scopes: ["webhooks:read"], webhooks: settings) { reader, _ in
            let read = try await reader.send(.get, "/v1/webhook-endpoints/\(endpoint)")
            let deleted = try await reader.send(.delete, "/v1/webhook-endpoints/\(endpoint)")
            #expect(read.status == .ok && deleted.status == .forbidden)
        }
        // The sealed secret opens only for its own endpoint, and only with the key.
        let sealed = try await withInspector { inspector in
            try await inspector.query("SELECT secret_sealed FROM webhook_endpoints WHERE id = \(UUID(uuidString: endpoint)!)")
                .collect().first!.decode(Data.self)
        }
        #expect(!String(decoding: sealed, as: UTF8.self).contains("whsec_"))
        let endpointID = try #require(UUID(uuidString: endpoint))
        #expect(throws: (any Error).self) { try settings.secrets.open(Array(sealed), endpoint: UUID()) }
        let otherKey = Self.settings()
        #expect(throws: (any Error).self) { try otherKey.secrets.open(Array(sealed), endpoint: endpointID) }
        #expect(try settings.secrets.open(Array(sealed), endpoint: endpointID).hasPrefix("whsec_"))
    }

    @Test func withoutAWebhookKeyTheRoutesSaySoWithA503() async throws {
        try await withApp { api, _ in
            let response = try await api.send(.get, "/v1/webhook-endpoints")
            #expect(response.status == .serviceUnavailable)
            #expect(response.text.contains("TRELLIS_WEBHOOK_KEY"))
        }
    }
}
