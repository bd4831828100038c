import App
import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
import TrellisTestSupport
@testable import TrellisRuntime

/// `/health/ready` with api.yaml `dependencies` (issue 12, item 7): each is probed in the
/// background against a real local server and reported with its status, latency and HTTP
/// status; a down or slow dependency degrades readiness without failing it; and no request to
/// `/health/ready` ever reaches a dependency (probes happen on the prober's schedule alone).
@Suite("dependency health (issue 12)", .serialized)
struct DependencyHealthTests {
    /// A local service answering `/up` 200, `/broken` 503, `/slow` 200 after 1.5 s, counting requests.
    final class Peer: Sendable {
        let port: Int
        let requests = NIOLockedValueBox(0)
        private let task = NIOLockedValueBox<Task<Void, any Error>?>(nil)

        init(port: Int) { self.port = port }

        func start() async throws {
            let router = Router()
            router.get("up") { [requests] _, _ in
                requests.withLockedValue { $0 += 1 }
                return Response(status: .ok)
            }
            router.get("broken") { [requests] _, _ in
                requests.withLockedValue { $0 += 1 }
                return Response(status: .serviceUnavailable)
            }
            router.get("slow") { [requests] _, _ in
                requests.withLockedValue { $0 += 1 }
                try await Task.sleep(for: .milliseconds(1500))
                return Response(status: .ok)
            }
            let server = try await startLocalHTTPServer(router, port: port)
            task.withLockedValue { $0 = server }
        }

        func stop() { task.withLockedValue { $0?.cancel() } }
    }

    @Test func eachDependencyIsReportedAsItsProbeFoundItAndReadinessIsDegradedNotDown() async throws {
        let peer = Peer(port: try freeLocalPort())
        try await peer.start()
        defer { peer.stop() }
        let closed = try freeLocalPort()
        var api = TrellisApp.api
        let base = "http://127.0.0.1:\(peer.port)"
        api.dependencies = [
            HealthDependency(name: "ai_provider", url: base + "/up", interval: .milliseconds(200), timeout: .seconds(1)),
            HealthDependency(name: "billing", url: base + "/broken", interval: .milliseconds(200), timeout: .seconds(1)),
            // Slow: more than half its timeout (degraded), with a second to spare before the
            // timeout on a loaded machine (700 ms of 1 s was once "down" under a full test run).
            HealthDependency(name: "search", url: base + "/slow", interval: .milliseconds(200), timeout: .milliseconds(2500)),
            HealthDependency(name: "mailer", url: "http://127.0.0.1:\(closed)/health?token=secret", interval: .milliseconds(200), timeout: .seconds(1)),
        ]
        try await withApp(api: api) { client, _ in
            var body = JSONObject()
            let probed = try await eventually(timeout: .seconds(15), interval: .milliseconds(100)) {
                body = try await client.send(.get, "/health/ready", as: .anonymous).object()
                guard let dependencies = body["checks"]?.object?["dependencies"]?.object else { return false }
                return ["ai_provider", "billing", "search", "mailer"].allSatisfy { dependencies[$0]?.object?.string("status") != "unknown" }
            }
            #expect(probed, "\(body)")
            let dependencies = try #require(body["checks"]?.object?["dependencies"]?.object)
            let up = try #require(dependencies["ai_provider"]?.object)
            #expect(up.string("status") == "ok")
            #expect(up["http_status"] == .integer(200))
            #expect(up["latency_ms"] != nil && up.string("checked_at") != nil)
            let broken = try #require(dependencies["billing"]?.object)
            #expect(broken.string("status") == "down" && broken.string("error") == "answered 503")
            #expect(dependencies["search"]?.object?.string("status") == "degraded", "1.5 s of a 2.5 s timeout")
            let mailer = try #require(dependencies["mailer"]?.object)
            #expect(mailer.string("status") == "down" && mailer.string("error") == "connection refused", "\(mailer)")
            // Postgres is up: degraded, never down, and still 200.
            #expect(body.string("status") == "degraded")
            #expect(body["checks"]?.object?["postgres"]?.object?.string("status") == "ok")
            // The page never shows a dependency's URL (it may hold a token).
            let text = try await client.send(.get, "/health/ready", as: .anonymous)
            #expect(text.status == .ok)
            #expect(!text.text.contains("token") && !text.text.contains("127.0.0.1"))

            // Requests to /health/ready do not probe: a burst of 50 adds no request beyond the
            // prober's schedule (3 endpoints every ~200 ms, each over about 1 s).
            let before = peer.requests.withLockedValue { $0 }
            let started = ContinuousClock.now
            for _ in 0..<50 { _ = try await client.send(.get, "/health/ready", as: .anonymous) }
            let elapsed = Double((ContinuousClock.now - started) / .milliseconds(1)) / 1000
            let added = peer.requests.withLockedValue { $0 } - before
            #expect(Double(added) <= 3 * (elapsed / 0.2 + 2), "\(added) requests in \(elapsed) s")

            // The metric the alerts and dashboard read.
            let metrics = try PrometheusScrape(try await client.send(.get, "/metrics", as: .anonymous).text)
            #expect(metrics["trellis_dependency_up", ["dependency": "ai_provider"]] == 1)
            #expect(metrics["trellis_dependency_up", ["dependency": "billing"]] == 0)
        }
    }

    @Test func withoutDependenciesTheReportHasNoDependencySection() async throws {
        try await withApp { client, _ in
            let body = try await client.send(.get, "/health/ready", as: .anonymous).object()
            #expect(body["checks"]?.object?["dependencies"] == nil)
        }
    }
}
