import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOConcurrencyHelpers
import Testing
import TrellisContract
import TrellisRedis
import TrellisTestSupport
@testable import TrellisRuntime

/// Rate limits (issue 10): GCRA per credential and bucket, decided in Redis (shared by every
/// instance) or, when Redis is unreachable, in process with the same limits.
@Suite("Rate limits on every /v1 route")
struct RateLimitTests {
    static let quiet: Logger = {
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        return logger
    }()

    static func redisConfiguration() throws -> RedisConfiguration {
        try RedisTestEnvironment.configuration()
    }

    /// The generated API with `api.yaml`'s default limit replaced: swarms (no `rate_limit` of
    /// their own) then get `burst` at once and one a minute after, slow enough to count exactly.
    static func api(burst: Int) -> APIDefinition {
        var api = TrellisApp.api
        api.rateLimit = RateLimitPolicy(perMinute: 1, burst: burst)
        return api
    }

    static func header(_ response: TestResponse, _ name: String) -> String? {
        response.headers[HTTPField.Name(name)!]
    }

    @Test func theBurstIsExactThenA429WithRetryAfterAndTheHeadersCountDown() async throws {
        try await withRedisClient(configuration: Self.redisConfiguration(), logger: Self.quiet) { redis in
            try await withApp(api: Self.api(burst: 5), rateLimiter: RateLimiter(redis: redis, logger: Self.quiet)) { client, _ in
                for expected in (0..<5).reversed() {
                    let response = try await client.send(.get, "/v1/swarms")
                    #expect(response.status == .ok)
                    #expect(Self.header(response, "RateLimit-Limit") == "5")
                    #expect(Self.header(response, "RateLimit-Remaining") == String(expected))
                }
                let refused = try await client.send(.get, "/v1/swarms")
                #expect(refused.status == .tooManyRequests)
                #expect(try refused.object().string("code") == "rate_limited")
                #expect(refused.headers[.contentType] == "application/problem+json")
                let retryAfter = try #require(Self.header(refused, "Retry-After").flatMap(Int.init))
                // One request a minute: the next is due a minute after the first, less the time the five took.
                #expect((30...60).contains(retryAfter), "one request a minute: \(retryAfter)")
                #expect(Self.header(refused, "RateLimit-Remaining") == "0")
                // Agents have their own `rate_limit` (600 a minute, 60 at once): a bucket of their own.
                let agents = try await client.send(.get, "/v1/agents")
                #expect(agents.status == .ok)
                #expect(Self.header(agents, "RateLimit-Limit") == "60")
                #expect(Self.header(agents, "RateLimit-Remaining") == "59")
                let ready = try await client.send(.get, "/health/ready", as: .anonymous).object()
                #expect(ready.string("status") == "ok")
                #expect(ready["checks"]?.object?["redis"]?.object?.string("status") == "ok")
            }
        }
    }

    @Test func everyRouteTheRouterListsAnswersWithTheRateLimitHeaders() async throws {
        let routes = NIOLockedValueBox<[String]>([])
        try await withRedisClient(configuration: Self.redisConfiguration(), logger: Self.quiet) { redis in
            try await withApp(
                rateLimiter: RateLimiter(redis: redis, logger: Self.quiet),
                realtime: RealtimeTests.realtime(redis, maxDuration: .milliseconds(100)),
                webhooks: WebhookTests.settings(allowPrivate: false),
                configure: { router, _ in routes.withLockedValue { $0 = router.routes.map(\.description) } }
            ) { client, _ in
                let listed = routes.withLockedValue { $0 }.filter { $0.split(separator: " ").last?.hasPrefix("/v1/") == true }
                #expect(listed.count >= 30, "the router lists only \(listed.count) /v1 routes")
                for route in listed {
                    let parts = route.split(separator: " ")
                    let path = String(parts[1])
                        .replacingOccurrences(of: "{id}", with: UUID().uuidString.lowercased())
                        .replacingOccurrences(of: "{key_id}", with: UUID().uuidString.lowercased())
                    let method = HTTPRequest.Method(String(parts[0]))!
                    let body: String? = [.post, .patch, .put].contains(method) ? "{}" : nil
                    let response = try await client.send(method, path, json: body)
                    #expect(response.status.code < 500, "\(route): \(response.status)")
                    for name in ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"] {
                        #expect(Self.header(response, name) != nil, "\(route) (\(response.status.code)) has no \(name)")
                    }
                }
            }
        }
    }

    @Test func redisStoppedMidTestTheLimitsHoldInProcessAndTheAPIStillAnswers() async throws {
        try await withPrivateRedisServer { server in
            try await withRedisClient(configuration: try RedisConfiguration(url: server.url), logger: Self.quiet) { redis in
                let limiter = RateLimiter(redis: redis, logger: Self.quiet)
                try await withApp(api: Self.api(burst: 3), rateLimiter: limiter) { client, _ in
                    #expect(try await client.send(.get, "/v1/swarms").status == .ok)
                    #expect(limiter.redisDecisions == 1 && limiter.fallbackDecisions == 0)

                    await server.stop()
                    // Redis is gone: the same limit, decided in process (a fresh budget of 3), and 2xx.
                    for expected in (0..<3).reversed() {
                        let response = try await client.send(.get, "/v1/swarms")
                        #expect(response.status == .ok)
                        #expect(Self.header(response, "RateLimit-Remaining") == String(expected))
                    }
                    #expect(try await client.send(.get, "/v1/swarms").status == .tooManyRequests)
                    #expect(limiter.fallbackDecisions == 4 && limiter.isDegraded)
                    #expect(try await client.send(.get, "/health/ready", as: .anonymous).object().string("status") == "degraded")

                    // Back: decisions return to Redis once the pool has reconnected.
                    try await server.start()
                    try await eventually("decisions to return to Redis", within: .seconds(10)) {
                        _ = try await client.send(.get, "/v1/agents")
                        return !limiter.isDegraded
                    }
                    #expect(try await client.send(.get, "/health/ready", as: .anonymous).object().string("status") == "ok")
                }
            }
        }
    }

    @Test func anonymousCallsSpendTheirAddressBudgetAndTheir401sCarryTheHeaders() async throws {
        // In process, so no other test's anonymous calls (same "unknown" address under the router) count.
        try await withApp(api: Self.api(burst: 3), rateLimiter: RateLimiter(redis: nil, logger: Self.quiet)) { client, _ in
            for expected in (0..<3).reversed() {
                let response = try await client.send(.get, "/v1/agents", as: .anonymous)
                #expect(response.status == .unauthorized)
                #expect(Self.header(response, "RateLimit-Limit") == "3")
                #expect(Self.header(response, "RateLimit-Remaining") == String(expected))
            }
            let refused = try await client.send(.get, "/v1/agents", as: .anonymous)
            #expect(refused.status == .tooManyRequests)
            #expect(Self.header(refused, "Retry-After") != nil)
            // A caller with a valid key is not that budget.
            #expect(try await client.send(.get, "/v1/agents").status == .ok)
        }
    }

    @Test func aFloodOfRefusedKeysFromOneAddressIsThrottledBeforeAnyLookup() async throws {
        try await withApp(rateLimiter: RateLimiter(redis: nil, logger: Self.quiet)) { client, _ in
            let policy = ClientRateLimitMiddleware.failurePolicy
            let start = ContinuousClock.now
            var unauthorized = 0
            var refusal: TestResponse?
            for _ in 0..<(policy.burst + 30) {
                let response = try await client.send(.get, "/v1/agents", as: .bearer("trk_00000000000000000000000000000000_forged"))
                if response.status == .tooManyRequests {
                    refusal = response
                    break
                }
                #expect(response.status == .unauthorized)
                #expect(Self.header(response, "RateLimit-Remaining") != nil)
                unauthorized += 1
            }
            // The burst, plus the one refused key the budget earns back every 60/per_minute s meanwhile.
            let elapsed = Double((ContinuousClock.now - start).components.seconds)
            let earned = Int(elapsed * Double(policy.perMinute) / 60) + 1
            #expect((policy.burst...(policy.burst + earned)).contains(unauthorized), "\(unauthorized) refused keys before a 429")
            let refused = try #require(refusal, "a flood of refused keys was never throttled")
            #expect(try refused.object().string("code") == "rate_limited")
            let retryAfter = try #require(Self.header(refused, "Retry-After").flatMap(Int.init))
            #expect((1...3).contains(retryAfter), "one refused key every 3 s: \(retryAfter)")
            // The address is blocked before any credential is looked up, a valid one included.
            #expect(try await client.send(.get, "/v1/agents").status == .tooManyRequests)
        }
    }

    @Test func jsonRPCAndGraphQLAnswerARefusalInTheirOwnProtocol() async throws {
        try await withApp(api: Self.api(burst: 1), rateLimiter: RateLimiter(redis: nil, logger: Self.quiet)) { client, _ in
            let call = #"{"jsonrpc":"2.0","method":"agents.list","params":{},"id":7}"#
            #expect(try await client.send(.post, "/v1/rpc", json: call).status == .ok)
            let rpc = try await client.send(.post, "/v1/rpc", json: call)
            #expect(rpc.status == .tooManyRequests)
            #expect(Self.header(rpc, "Retry-After") != nil && Self.header(rpc, "RateLimit-Remaining") == "0")
            let envelope = try rpc.object()
            #expect(envelope.string("jsonrpc") == "2.0")
            #expect(envelope["id"] == .null)
            #expect(envelope["error"]?.object?["code"] == .integer(-32029))
            #expect(envelope["error"]?.object?["data"]?.object?.string("code") == "rate_limited")

            let query = #"{"query":"{ agents(first: 1) { edges { node { id } } } }"}"#
            #expect(try await client.send(.post, "/v1/graphql", json: query).status == .ok)
            let graphQL = try await client.send(.post, "/v1/graphql", json: query)
            #expect(graphQL.status == .tooManyRequests)
            #expect(Self.header(graphQL, "Retry-After") != nil)
            let error = try graphQL.object().array("errors").first?.object
            #expect(error?["extensions"]?.object?.string("code") == "rate_limited")
            #expect(try graphQL.object()["data"] == nil)
        }
    }

    @Test func twoInstancesShareOneBudget() async throws {
        let configuration = try Self.redisConfiguration()
        let workspace = try await TestDatabase.shared.makeWorkspace()
        try await withRedisClient(configuration: configuration, logger: Self.quiet) { first in
            try await withRedisClient(configuration: configuration, logger: Self.quiet) { second in
                let key = try await makeKey(workspace: workspace, scopes: ["*"]).token.text
                // Two routers, each with its own Redis client and limiter: two instances.
                try await withApp(workspace: workspace, api: Self.api(burst: 6), rateLimiter: RateLimiter(redis: first, logger: Self.quiet)) { a, _ async throws in
                    try await withApp(workspace: workspace, api: Self.api(burst: 6), rateLimiter: RateLimiter(redis: second, logger: Self.quiet)) { b, _ async throws in
                        for _ in 0..<3 {
                            #expect(try await a.send(.get, "/v1/swarms", as: .bearer(key)).status == .ok)
                            #expect(try await b.send(.get, "/v1/swarms", as: .bearer(key)).status == .ok)
                        }
                        #expect(try await a.send(.get, "/v1/swarms", as: .bearer(key)).status == .tooManyRequests)
                        #expect(try await b.send(.get, "/v1/swarms", as: .bearer(key)).status == .tooManyRequests)
                    }
                }
            }
        }
    }

    @Test func withRedisUnreachableTheSameLimitsHoldInProcessAndTheAPIStillAnswers() async throws {
        // A port nothing listens on: every decision falls back to the in-process limiter.
        let unreachable = RedisConfiguration(host: "127.0.0.1", port: try freeLocalPort())
        try await withRedisClient(configuration: unreachable, logger: Self.quiet) { redis in
            let limiter = RateLimiter(redis: redis, logger: Self.quiet)
            try await withApp(api: Self.api(burst: 3), rateLimiter: limiter) { client, _ in
                for expected in (0..<3).reversed() {
                    let response = try await client.send(.get, "/v1/swarms")
                    #expect(response.status == .ok)
                    #expect(Self.header(response, "RateLimit-Remaining") == String(expected))
                }
                #expect(try await client.send(.get, "/v1/swarms").status == .tooManyRequests)
                #expect(limiter.fallbackDecisions >= 4)
                #expect(limiter.isDegraded)
                // Still serving: ready, but degraded, with Redis named as the part that is down.
                let ready = try await client.send(.get, "/health/ready", as: .anonymous)
                #expect(ready.status == .ok)
                let body = try ready.object()
                #expect(body.string("status") == "degraded")
                #expect(body["checks"]?.object?["redis"]?.object?.string("status") == "down")
                #expect(body["checks"]?.object?["postgres"]?.object?.string("status") == "ok")
            }
        }
    }
}

/// A key's own rate limit (issue 10, item 2): set at creation, used in every bucket instead
/// of the schema's, kept by rotation, and never above what the creating credential holds.
@Suite("A key's own rate limit")
struct KeyRateLimitTests {
    static let quiet = RateLimitTests.quiet

    /// `[per_minute, burst]` of a key object's `rate_limit`; empty when it is null or missing.
    static func limit(_ key: JSONObject) -> [Int64] {
        guard let limit = key["rate_limit"]?.object, case let .integer(perMinute)? = limit["per_minute"],
            case let .integer(burst)? = limit["burst"]
        else { return [] }
        return [perMinute, burst]
    }

    static func create(_ client: APIClient, _ body: String, as credential: APIClient.Credential = .defaultKey) async throws -> TestResponse {
        try await client.send(.post, "/v1/api-keys", json: body, as: credential)
    }

    @Test func aKeysOwnLimitReplacesTheSchemasInEveryBucketAndRotationKeepsIt() async throws {
        try await withApp(scopes: ["*"], rateLimiter: RateLimiter(redis: nil, logger: Self.quiet)) { client, _ in
            let created = try await Self.create(
                client, #"{"scopes":["agents:read","swarms:read","keys:admin"],"rate_limit":{"per_minute":1,"burst":2}}"#)
            #expect(created.status == .created)
            let object = try created.object()
            #expect(Self.limit(object) == [1, 2])
            let key = try #require(object.string("key"))
            // agents has its own rate_limit (burst 60) in the schema; this key gets 2 there too,
            // and 2 more in another bucket.
            for bucket in ["/v1/agents", "/v1/swarms"] {
                for remaining in ["1", "0"] {
                    let response = try await client.send(.get, bucket, as: .bearer(key))
                    #expect(response.status == .ok)
                    #expect(RateLimitTests.header(response, "RateLimit-Limit") == "2")
                    #expect(RateLimitTests.header(response, "RateLimit-Remaining") == remaining)
                }
                #expect(try await client.send(.get, bucket, as: .bearer(key)).status == .tooManyRequests)
            }
            // The default key of this test has no limit of its own: the schema's burst.
            #expect(RateLimitTests.header(try await client.send(.get, "/v1/agents"), "RateLimit-Limit") == "60")

            let id = try #require(object.string("id"))
            let rotated = try await client.send(.post, "/v1/api-keys/\(id)/rotate")
            #expect(rotated.status == .created)
            #expect(Self.limit(try rotated.object()) == [1, 2])
            #expect(Self.limit(try await client.send(.get, "/v1/api-keys/\(id)").object()) == [1, 2])
        }
    }

    @Test func aTenantCannotGiveAKeyMoreThanItHoldsAndAPlatformAdminCan() async throws {
        try await withApp(scopes: ["*"]) { client, workspace in
            // api.yaml: 1200/min burst 100; agents: 600/min burst 60; the lowest of each is the ceiling.
            let tooMuch = try await Self.create(client, #"{"scopes":["agents:read"],"rate_limit":{"per_minute":601,"burst":60}}"#)
            #expect(tooMuch.status == .unprocessableContent)
            #expect(try tooMuch.object().array("errors").first?.object?.string("path") == "/rate_limit")
            #expect(try await Self.create(client, #"{"scopes":["agents:read"],"rate_limit":{"per_minute":600,"burst":61}}"#).status
                == .unprocessableContent)
            let atCeiling = try await Self.create(client, #"{"scopes":["keys:admin","agents:read"],"rate_limit":{"per_minute":600,"burst":60}}"#)
            #expect(atCeiling.status == .created)
            // A key with its own limit hands out at most that.
            let limited = try #require(try atCeiling.object().string("key"))
            let lower = try await Self.create(
                client, #"{"scopes":["agents:read"],"rate_limit":{"per_minute":10,"burst":5}}"#, as: .bearer(limited))
            #expect(lower.status == .created)
            let limitedKey = try await Self.create(
                client, #"{"scopes":["keys:admin"],"rate_limit":{"per_minute":10,"burst":5}}"#, as: .bearer(limited))
            let second = try #require(try limitedKey.object().string("key"))
            #expect(try await Self.create(
                client, #"{"scopes":["agents:read"],"rate_limit":{"per_minute":11,"burst":5}}"#, as: .bearer(second)).status == .unprocessableContent)

            // Malformed limits are 422s naming the field.
            for body in [
                #"{"scopes":["agents:read"],"rate_limit":5}"#,
                #"{"scopes":["agents:read"],"rate_limit":{"per_minute":0,"burst":1}}"#,
                #"{"scopes":["agents:read"],"rate_limit":{"per_minute":1}}"#,
                #"{"scopes":["agents:read"],"rate_limit":{"per_minute":1,"burst":1,"window":3}}"#,
            ] {
                let response = try await Self.create(client, body)
                #expect(response.status == .unprocessableContent, "\(body)")
                #expect(try response.object().array("errors").allSatisfy { $0.object?.string("path")?.hasPrefix("/rate_limit") == true })
            }

            // A platform admin may set any limit on a tenant's key.
            let admin = try await makeKey(workspace: workspace, scopes: ["admin"]).token.text
            let generous = try await client.send(
                .post, "/v1/admin/workspaces/\(workspace.uuidString.lowercased())/api-keys",
                json: #"{"scopes":["agents:read"],"rate_limit":{"per_minute":100000,"burst":5000}}"#, as: .bearer(admin))
            #expect(generous.status == .created)
            #expect(Self.limit(try generous.object()) == [100000, 5000])
        }
    }
}
