import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TrellisRuntime

/// Runs `webhooks.deliver` jobs: sends one delivery's event to its endpoint, signed
/// (``WebhookSignature``), and records the attempt. A 2xx answer within the timeout is a
/// success; anything else fails the attempt, which the queue retries with the webhook backoff
/// (about 24 hours in all). While the endpoint's circuit is open the job waits without
/// spending attempts; once the cool-down has passed, one delivery probes the endpoint and its
/// outcome closes or reopens the circuit.
struct WebhookDeliverer: JobHandler {
    let settings: WebhookSettings
    let client: HTTPClient

    /// An HTTP client that follows no redirect (a redirect could lead to an address the policy
    /// refuses), does not retry a failed connection, and gives up after the webhook timeout.
    static func makeClient(_ settings: WebhookSettings) -> HTTPClient {
        let timeout = TimeAmount.seconds(settings.timeout.components.seconds)
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow, timeout: .init(connect: timeout, read: timeout), decompression: .disabled)
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 16
        // A refused connection fails the attempt at once (the job's backoff retries it), rather
        // than holding the worker's slot for the whole timeout while the pool retries.
        configuration.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    func run(_ payload: WebhookDeliveryPayload, context: JobContext) async throws -> JSONValue? {
        guard let target = try await context.transaction({ try await WebhookDeliveries.target(payload.deliveryID, in: $0) }) else {
            return Self.skipped("the delivery or its endpoint was deleted")
        }
        if target.state == "succeeded" { return Self.skipped("already delivered") }
        guard target.enabled else {
            try await context.transaction { try await WebhookDeliveries.abandon(target, reason: "the endpoint is disabled", in: $0) }
            return Self.skipped("the endpoint is disabled")
        }
        if let openFor = target.openFor {
            let cooldown = Double(settings.circuitCooldown.components.seconds)
            if openFor < cooldown {
                throw JobSnooze(.milliseconds(Int64((cooldown - openFor) * 1000) + Int64.random(in: 0...1000)))
            }
            let probe = try await context.transaction {
                try await WebhookDeliveries.takeProbe(endpoint: target.endpointID, stale: settings.timeout * 3, in: $0)
            }
            // Another delivery is probing: wait for its outcome.
            if !probe { throw JobSnooze(.seconds(min(max(cooldown / 4, 1), 30))) }
        }
        let started = ContinuousClock.now
        var status: Int?
        var failure: String?
        if let refused = await WebhookAddressPolicy(allowPrivate: settings.allowPrivateAddresses).problem(with: target.url) {
            failure = "the endpoint URL \(refused)"
        } else {
            do {
                status = try await send(target, context: context)
                if let status, !(200..<300).contains(status) { failure = "the endpoint answered \(status)" }
            } catch {
                failure = Self.describe(error)
            }
        }
        let elapsed = ContinuousClock.now - started
        let milliseconds = Int(elapsed.milliseconds)
        let final = context.attempt >= context.maxAttempts
        try await context.transaction {
            try await WebhookDeliveries.record(
                target, attempt: context.attempt, status: status, latencyMilliseconds: milliseconds, error: failure, final: final,
                threshold: settings.circuitFailures, in: $0)
        }
        if let failure { throw JobFailure(failure, retryAfter: .milliseconds(Int64(settings.backoff.delay(afterAttempt: context.attempt) * 1000))) }
        let result: JSONObject = JSONObject(["status": .integer(Int64(status ?? 0)), "latency_ms": .integer(Int64(milliseconds))])
        return .object(result)
    }

    static func skipped(_ why: String) -> JSONValue {
        .object(JSONObject(["skipped": .string(why)]))
    }

    /// POSTs the event; returns the answer's status.
    private func send(_ target: WebhookDeliveries.Target, context: JobContext) async throws -> Int {
        let secret = try settings.secrets.open(target.sealedSecret, endpoint: target.endpointID)
        let body = Array(target.payload.utf8)
        var request = HTTPClientRequest(url: target.url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Trellis-Webhooks/1")
        request.headers.add(name: "Trellis-Event-Id", value: target.eventID.lowercasedString)
        request.headers.add(name: "Trellis-Delivery-Id", value: target.deliveryID.lowercasedString)
        request.headers.add(
            name: WebhookSignature.header, value: WebhookSignature.value(secret: secret, timestamp: Int(Date().timeIntervalSince1970), body: body))
        request.body = .bytes(ByteBuffer(bytes: body))
        // A client span in the job attempt's trace; the receiver gets its `traceparent`.
        let response = try await OutboundHTTP.execute(
            request, on: client, timeout: .seconds(settings.timeout.components.seconds), logger: context.logger)
        // Read (and drop) at most a little of the answer, so the connection can be reused.
        var read = 0
        for try await chunk in response.body {
            read += chunk.readableBytes
            if read > 64 * 1024 { break }
        }
        return Int(response.status.code)
    }

    /// The failure in words for the delivery log (no secrets: the URL is the tenant's own).
    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError {
            switch error {
            case .deadlineExceeded, .readTimeout, .connectTimeout: return "timed out"
            case .remoteConnectionClosed: return "the endpoint closed the connection"
            default: return "the request failed: \(error)"
            }
        }
        return "could not connect: \(String(describing: error).prefix(200))"
    }
}

/// The deliverer and its HTTP client, which the worker shuts down when it stops.
struct WebhookSender: Sendable {
    let deliverer: WebhookDeliverer

    init(settings: WebhookSettings) {
        deliverer = WebhookDeliverer(settings: settings, client: WebhookDeliverer.makeClient(settings))
    }

    func shutdown() async {
        try? await deliverer.client.shutdown()
    }
}

