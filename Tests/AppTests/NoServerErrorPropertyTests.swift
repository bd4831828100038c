import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization
import Testing
@testable import TrellisRuntime

/// Issue 7 item 4, as an invariant over the whole router: nothing a client sends yields a
/// 5xx. Every route `router.routes` lists gets random, often hostile, requests (path ids,
/// cursors, filters, sort keys, query strings, headers, bodies) with a `*` key, so a new
/// route that answers 500 fails this test without anyone writing a test for it.
///
/// Fixed seed and bounded count, so a run takes a few seconds and a failure replays:
/// `TRELLIS_PROPERTY_SEED` and `TRELLIS_PROPERTY_REQUESTS_PER_ROUTE` override them.
@Suite("No 5xx from anything a client sends (property)")
struct NoServerErrorPropertyTests {
    static let seed: UInt64 = ProcessInfo.processInfo.environment["TRELLIS_PROPERTY_SEED"].flatMap { UInt64($0) } ?? 20_261_130
    static let requestsPerRoute = ProcessInfo.processInfo.environment["TRELLIS_PROPERTY_REQUESTS_PER_ROUTE"].flatMap { Int($0) } ?? 16

    /// What the router and services hold, captured when the test app is built.
    struct Captured: Sendable {
        var routes: [(method: HTTPRequest.Method, path: String)] = []
        var keys: CursorKeys?
    }

    /// A request that got a 5xx, with the answer.
    struct Failure: Sendable, CustomStringConvertible {
        var request: RandomRequest
        var status: HTTPResponse.Status
        var response: String
        var description: String { "\(status.code) for \(request)\n  answered: \(response.prefix(300))" }
    }

    @Test("random requests to every route in the router never get a 5xx")
    func everyRouteAnswersBelow500() async throws {
        let captured = Mutex(Captured())
        // Traced, so that the spans of every route are checked too (below).
        let receiver = try TracingTests.OTLPReceiver()
        try await receiver.start()
        defer { receiver.stop() }
        // With sessions in the real Redis, so that login and logout reach their handlers' every branch.
        try await ReadCacheTests.withConnectedRedis { redis in
            // And realtime, its streams cut short so that a GET /v1/events answers in time.
            try await withApp(
                sessions: SessionStore(redis: redis), realtime: RealtimeTests.realtime(redis, maxDuration: .milliseconds(100)),
                webhooks: WebhookTests.settings(allowPrivate: false), traceExport: receiver.export,
                configure: { router, services in
                captured.withLock { $0 = Captured(routes: router.routes.map { ($0.method, $0.path.description) }, keys: services.cursorKeys) }
            }) { client, _ in
                let (routes, keys) = captured.withLock { ($0.routes, $0.keys) }
                #expect(routes.count > 20, "the router lists \(routes.count) routes")
                #expect(routes.contains { $0.path.hasPrefix("/v1/") })
                var corpus = RequestCorpus(cursorKeys: try #require(keys), resources: TrellisApp.api.resources.map(\.descriptor))
                try await Self.seedObjects(client, into: &corpus)
                let started = ContinuousClock.now
                let (failures, statuses) = try await Self.fuzz(client, routes: routes, corpus: corpus)
                let sent = statuses.values.reduce(0, +)
                print("NoServerErrorPropertyTests: \(sent) requests to \(routes.count) routes in \(ContinuousClock.now - started), seed \(Self.seed); statuses "
                    + statuses.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))
                // The requests reach the handlers, not only the front door (401/404).
                #expect(statuses.filter { (200..<300).contains($0.key) }.values.reduce(0, +) > sent / 20)
                #expect(statuses[422, default: 0] > 0 && statuses[400, default: 0] > 0)
                for failure in failures.prefix(10) {
                    Issue.record("seed \(Self.seed): \(failure)")
                }
                #expect(failures.isEmpty, "\(failures.count) of \(sent) requests got a 5xx (seed \(Self.seed))")

                // Every request was one server span named by its method and a route template the
                // router lists (or `unmatched`): never a raw path, so never an id or a query; and
                // no span of any kind carries the credential the requests sent.
                var servers: [TracingTests.ReceivedSpan] = []
                let exported = try await eventually(timeout: .seconds(15), interval: .milliseconds(100)) {
                    servers = receiver.spans.withLockedValue { $0 }.filter { $0.kind == 2 }
                    return servers.count >= sent
                }
                #expect(exported, "\(servers.count) server spans for \(sent) requests")
                let names = Set(routes.map { "\($0.method.rawValue) \($0.path)" })
                let unnamed = servers.filter { span in !names.contains(span.name) && !span.name.hasSuffix(" unmatched") }
                #expect(unnamed.isEmpty, "spans not named by a route template: \(unnamed.prefix(5))")
                let leaking = receiver.spans.withLockedValue { $0 }.filter { span in
                    span.attributes.values.contains { $0.contains(client.bearer) } || span.name.contains(client.bearer)
                }
                #expect(leaking.isEmpty, "spans carrying the bearer token: \(leaking.prefix(3))")
            }
        }
    }

    @Test("the property finds a route that answers 500")
    func aRouteThatAnswers500IsCaught() async throws {
        struct Unhandled: Error {}
        let captured = Mutex(Captured())
        try await withApp(configure: { router, services in
            router.get("v1/fragile/:id") { _, context -> String in
                // Fine for a UUID, a 500 (an unhandled error) for anything else.
                guard UUID(uuidString: context.parameters.get("id") ?? "") != nil else { throw Unhandled() }
                return "ok"
            }
            captured.withLock { $0 = Captured(routes: router.routes.map { ($0.method, $0.path.description) }, keys: services.cursorKeys) }
        }) { client, _ in
            let (routes, keys) = captured.withLock { ($0.routes, $0.keys) }
            let fragile = routes.filter { $0.path.hasPrefix("/v1/fragile") }
            #expect(fragile.count == 1)
            let corpus = RequestCorpus(cursorKeys: try #require(keys), resources: [])
            let (failures, _) = try await Self.fuzz(client, routes: fragile, corpus: corpus)
            #expect(!failures.isEmpty)
            #expect(failures.allSatisfy { $0.status == .internalServerError })
        }
    }

    // MARK: The property

    /// Sends ``requestsPerRoute`` random requests to each route, in a fixed order; returns
    /// every 5xx and how many answers had each status. Ids and cursors from answers feed later requests.
    static func fuzz(
        _ client: APIClient, routes: [(method: HTTPRequest.Method, path: String)], corpus: RequestCorpus
    ) async throws -> ([Failure], [Int: Int]) {
        var generator = RandomRequests(rng: SeededGenerator(seed: seed), corpus: corpus)
        var failures: [Failure] = []
        var statuses: [Int: Int] = [:]
        let ordered = routes.sorted { ($0.path, $0.method.rawValue) < ($1.path, $1.method.rawValue) }
        for route in ordered {
            var statusesOfRoute: [Int: Int] = [:]
            let template = RouterPathTemplate(route.path)
            for attempt in 0..<requestsPerRoute {
                // A route that answered 405 three times rejects the method whatever it is sent.
                if attempt == 3, statusesOfRoute == [405: 3] { break }
                var request = generator.request(route.method, template)
                switch Int.random(in: 0..<20, using: &generator.rng) {
                case 0: break  // anonymous
                case 1: request.headers[.authorization] = "Bearer " + generator.text()
                default: request.headers[.authorization] = "Bearer \(client.bearer)"
                }
                let response = try await client.client.execute(
                    uri: request.uri, method: request.method, headers: request.headers, body: request.body.map { ByteBuffer(bytes: $0) })
                statuses[response.status.code, default: 0] += 1
                statusesOfRoute[response.status.code, default: 0] += 1
                if response.status.code >= 500 {
                    failures.append(Failure(request: request, status: response.status, response: response.text))
                }
                harvest(response, path: template.resourcePath, into: &generator)
            }
        }
        return (failures, statuses)
    }

    /// Keeps the ids of created objects and the cursors of listed pages for later requests.
    static func harvest(_ response: TestResponse, path: String?, into generator: inout RandomRequests) {
        guard response.status.code < 300, let object = try? response.object() else { return }
        if let cursor = object.string("next_cursor") { generator.corpus.cursors.append(cursor) }
        if let path, response.status == .created, let id = object.string("id") { generator.corpus.idsByPath[path, default: []].append(id) }
    }

    /// Creates a few objects of every resource (trying simple bodies, so that references
    /// resolve to objects made just before) and reads a first page of each listing, so that
    /// requests can name ids that exist and carry real cursors.
    static func seedObjects(_ client: APIClient, into corpus: inout RequestCorpus) async throws {
        for _ in 0..<3 {
            for resource in corpus.resources where resource.operations.contains(.create) {
                let reference = corpus.idsByPath.values.first?.first ?? UUID().uuidString
                let candidates = [
                    #"{"name":"seed \#(UUID())"}"#,
                    #"{"swarm_id":"\#(corpus.idsByPath["swarms"]?.first ?? reference)","role":"user","content":"seed text"}"#,
                ]
                for body in candidates {
                    let res = try await client.send(.post, "/v1/\(resource.path)", json: body)
                    if res.status == .created, let id = try res.object().string("id") {
                        corpus.idsByPath[resource.path, default: []].append(id)
                        if case let .object(object) = try JSONValue(parsing: body) { corpus.validBodies[resource.path, default: []].append(object) }
                        break
                    }
                }
            }
        }
        for resource in corpus.resources where resource.operations.contains(.list) {
            for uri in ["/v1/\(resource.path)?limit=1", "/v1/\(resource.path)?limit=1&sort=\(resource.sortKeys.last ?? "created_at")",
                        "/v1/\(resource.path)/search?q=seed&limit=1"] {
                if let cursor = try? await client.send(.get, uri).object().string("next_cursor") { corpus.cursors.append(cursor) }
            }
        }
    }
}
