import App
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PostgresNIO
import Testing
import TrellisPostgres
import TrellisTestSupport
@testable import TrellisRuntime

@Suite("GET /metrics")
struct MetricsEndpointTests {
    static let duration = "http_server_request_duration_seconds"

    /// The request histogram's `_count` for one label set.
    static func requests(_ scrape: PrometheusScrape, _ route: String, _ method: String, _ statusClass: String) -> Double? {
        scrape[
            duration + "_count",
            ["http_route": route, "http_request_method": method, "http_response_status_class": statusClass],
        ]
    }

    /// The server as `trellis serve` builds it (``TrellisServer/makeApplication``), with Redis:
    /// its cached reads, rate-limit decisions and Redis commands show up on `/metrics`.
    @Test func theServerExportsCacheRateLimitAndRedisSeries() async throws {
        let workspace = try await TestDatabase.shared.makeWorkspace()
        let key = try await makeKey(workspace: workspace, scopes: ["*"]).token.text
        let configuration = try ServerConfiguration.fromEnvironment([
            "DATABASE_URL": TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"),
            "REDIS_URL": try TestEnvironment.url("TRELLIS_TEST_REDIS_URL"),
            "TRELLIS_PG_POOL_SIZE": "2",
        ])
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let app = try await TrellisServer.makeApplication(api: TrellisApp.api, configuration: configuration, logger: logger)
        try await app.test(.router) { client in
            let headers: HTTPFields = [.authorization: "Bearer \(key)", .contentType: "application/json"]
            // Until the server's Redis pool is up, reads go to Postgres: wait for a hit.
            let created = try await client.execute(
                uri: "/v1/agents", method: .post, headers: headers, body: ByteBuffer(string: #"{"name":"metered"}"#))
            let id = try #require(try created.object().string("id"))
            var scrape = try PrometheusScrape("")
            try await eventually("a cached read", within: .seconds(20)) {
                #expect(try await client.execute(uri: "/v1/agents/\(id)", method: .get, headers: headers).status == .ok)
                scrape = try PrometheusScrape(try await client.execute(uri: "/metrics", method: .get).text)
                return (scrape["trellis_cache_reads_total", ["outcome": "hit"]] ?? 0) >= 1
            }
            #expect((scrape["trellis_cache_reads_total", ["outcome": "miss"]] ?? 0) >= 1)
            #expect((scrape["trellis_rate_limit_decisions_total", ["outcome": "allowed"]] ?? 0) >= 3)
            #expect((scrape["db_client_operation_duration_seconds_count", ["db_system_name": "redis"]] ?? 0) >= 3)
            #expect(scrape["trellis_redis_reconnects_total"] == 0)
        }
    }

    /// Each request lands under its route template (never its raw path), method and status
    /// class, in the histogram's count, buckets and sum.
    @Test func requestsAreCountedByRouteTemplateMethodAndStatusClass() async throws {
        try await withApp { client, _ in
            let created = try await client.send(.post, "/v1/tools", json: #"{"name":"metered"}"#)
            #expect(created.status == .created)
            let id = try #require(try created.object().string("id"))
            #expect(try await client.send(.get, "/v1/tools/\(id)").status == .ok)
            #expect(try await client.send(.get, "/v1/tools/\(id)").status == .ok)
            #expect(try await client.send(.get, "/v1/tools/\(UUID())").status == .notFound)
            #expect(try await client.send(.get, "/no/such/\(UUID())").status == .notFound)
            #expect(try await client.send(HTTPRequest.Method("BREW")!, "/v1/tools").status.code >= 400)

            let page = try await client.send(.get, "/metrics", as: .anonymous)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            let scrape = try PrometheusScrape(page.text)
            #expect(Self.requests(scrape, "/v1/tools", "POST", "2xx") == 1, "\(scrape)")
            #expect(Self.requests(scrape, "/v1/tools/{id}", "GET", "2xx") == 2)
            #expect(Self.requests(scrape, "/v1/tools/{id}", "GET", "4xx") == 1)
            #expect(Self.requests(scrape, "NotFound", "GET", "4xx") == 1, "\(scrape.series(Self.duration + "_count"))")
            let other = scrape.series(Self.duration + "_count").filter { $0.contains(#"http_request_method="_OTHER""#) }
            #expect(other.count == 1, "\(other)")
            let getLabels = ["http_route": "/v1/tools/{id}", "http_request_method": "GET", "http_response_status_class": "2xx"]
            #expect(scrape[Self.duration + "_bucket", getLabels.merging(["le": "+Inf"]) { $1 }] == 2)
            #expect(scrape[Self.duration + "_bucket", getLabels.merging(["le": "10.0"]) { $1 }] == 2)
            #expect((scrape[Self.duration + "_sum", getLabels] ?? 0) > 0)
            // No raw path, id or made-up method becomes a label value.
            let series = scrape.series(Self.duration + "_count")
            #expect(!series.contains { $0.contains(id) || $0.contains("/no/such") || $0.contains("BREW") }, "\(series)")
            // This scrape is not in its own page; the next one sees it.
            #expect(Self.requests(scrape, "/metrics", "GET", "2xx") == nil)
            let next = try PrometheusScrape(try await client.send(.get, "/metrics", as: .anonymous).text)
            #expect(Self.requests(next, "/metrics", "GET", "2xx") == 1)
        }
    }

    /// Every refused credential is counted by its reason, and every problem by its code.
    @Test func authFailuresAreCountedByReasonAndProblemsByCode() async throws {
        try await withApp { client, _ in
            #expect(try await client.send(.get, "/v1/agents", as: .anonymous).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/agents", headers: [.authorization: "Basic Zm9vOmJhcg=="], as: .anonymous).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer("trk_nope")).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(APIKeyToken.generate().text)).status == .unauthorized)
            #expect(try await client.send(.get, "/v1/agents", as: .bearer(APIKeyToken.generate().text)).status == .unauthorized)
            #expect(try await client.send(.post, "/v1/agents", json: #"{"name":""}"#).status == .unprocessableContent)
            #expect(try await client.send(.get, "/v1/agents").status == .ok)

            let scrape = try PrometheusScrape(try await client.send(.get, "/metrics", as: .anonymous).text)
            let failures = "trellis_auth_failures_total"
            #expect(scrape[failures, ["reason": "missing_credential"]] == 1, "\(scrape)")
            #expect(scrape[failures, ["reason": "unsupported_scheme"]] == 1)
            #expect(scrape[failures, ["reason": "malformed_token"]] == 1)
            #expect(scrape[failures, ["reason": "unknown_key"]] == 2)
            #expect(scrape.series(failures).count == 4, "\(scrape.series(failures))")
            #expect(scrape["trellis_problems_total", ["code": "unauthenticated"]] == 5)
            #expect(scrape["trellis_problems_total", ["code": "validation_failed"]] == 1)
            #expect(scrape.series("trellis_problems_total").count == 2, "\(scrape.series("trellis_problems_total"))")
            #expect(Self.requests(scrape, "/v1/agents", "GET", "4xx") == 5)
            #expect(Self.requests(scrape, "/v1/agents", "GET", "2xx") == 1)
        }
    }

    /// Request transactions are timed from asking for a connection to getting one; a
    /// one-statement read goes through the pipeline and leases nothing; once they are done no
    /// lease is held and nobody waits.
    @Test func poolLeasesAreTimedAndReleased() async throws {
        // Open, so the read below cannot fall back to the pool (as it does while the pipeline connects).
        try await #require(try SharedTestPipeline.shared.get()).waitUntilOpen()
        try await withApp { client, _ in
            let before = try PrometheusScrape(try await client.send(.get, "/metrics", as: .anonymous).text)
            let waits = "db_client_connection_wait_time_seconds_count"
            #expect(before[waits] == 0, "\(before)")
            #expect(try await client.send(.post, "/v1/tools", json: #"{"name":"pooled"}"#).status == .created)
            let afterWrite = try PrometheusScrape(try await client.send(.get, "/metrics", as: .anonymous).text)
            #expect(afterWrite[waits] == 1, "one transaction")
            #expect(try await client.send(.get, "/v1/tools").status == .ok)
            let afterRead = try PrometheusScrape(try await client.send(.get, "/metrics", as: .anonymous).text)
            #expect(afterRead[waits] == 1, "the read leased no pooled connection")
            #expect(afterRead["db_client_connection_wait_time_seconds_bucket", ["le": "+Inf"]] == 1)
            #expect(afterRead["db_client_connection_count", ["db_client_connection_state": "used"]] == 0)
            #expect(afterRead["db_client_connection_pending_requests"] == 0)
            #expect(afterRead["trellis_pg_pipeline_fallbacks_total"] == 0, "the open pipeline took the read")
        }
    }

    /// The pipeline's connections are in /metrics: open now, opened in all, and the reads
    /// the pool ran while none was open.
    @Test func thePipelinesConnectionsAndFallbacksAreCounted() async throws {
        let metrics = TrellisMetrics()
        var lazy = try DatabaseURL(TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")).pipelineConfiguration()
        lazy.openAtStart = false
        let pipeline = PostgresPipeline(configuration: lazy, logger: silentLogger)
        metrics.pipeline.watch(pipeline)
        @Sendable func scrape() throws -> PrometheusScrape {
            metrics.pipeline.refresh()
            return try PrometheusScrape(metrics.registry.emitToString())
        }
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await pipeline.run() }
                defer { group.cancelAll() }
                let workspace = try await TestDatabase.shared.makeWorkspace()
                let statement = TenantStatement(
                    client: client, identity: Identity(workspaceID: workspace, kind: .apiKey, credentialID: "metrics", scopes: ScopeSet(["*"])),
                    logger: silentLogger, pipeline: pipeline, pipelineMetrics: metrics.pipeline)
                var count = SQLBuilder()
                count.append("SELECT count(*) FROM tools WHERE name <> ")
                count.bind(.text(""), as: "text")
                // Nothing open yet: the pool answers, and the pipeline opens a connection.
                #expect(try await statement.rows(count).first?.decode(Int64.self) == 0)
                #expect(try scrape()["trellis_pg_pipeline_fallbacks_total"] == 1)
                try await eventually("the pipeline to open its connection") { pipeline.openConnections == 1 }
                #expect(try await statement.rows(count).first?.decode(Int64.self) == 0)
                let after = try scrape()
                #expect(after["trellis_pg_pipeline_fallbacks_total"] == 1, "the second read went through the pipeline")
                #expect(after["trellis_pg_pipeline_connections"] == 1)
                #expect(after["trellis_pg_pipeline_connections_opened_total"] == 1)
            }
        }
    }

    /// A statement sent and not yet answered is in flight; one left unanswered past the
    /// answer timeout closes its connection, and that close is counted.
    @Test func statementsInFlightAndConnectionsClosedUnansweredAreCounted() async throws {
        let metrics = TrellisMetrics()
        var configuration = try DatabaseURL(TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")).pipelineConfiguration()
        configuration.answerTimeout = .milliseconds(500)
        let pipeline = PostgresPipeline(configuration: configuration, logger: silentLogger)
        metrics.pipeline.watch(pipeline)
        @Sendable func scrape() throws -> PrometheusScrape {
            metrics.pipeline.refresh()
            return try PrometheusScrape(metrics.registry.emitToString())
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            defer { group.cancelAll() }
            try await pipeline.waitUntilOpen()
            #expect(try await pipeline.rows("SELECT 1", named: nil, SQLBindings()).count == 1)
            #expect(try scrape()["trellis_pg_pipeline_statements_in_flight"] == 0, "an answered statement is no longer in flight")
            let slow = Task { try await pipeline.rows("SELECT pg_sleep(5)", named: nil, SQLBindings()) }
            #expect(try await eventually(timeout: .seconds(5)) { try scrape()["trellis_pg_pipeline_statements_in_flight"] == 1 })
            await #expect(throws: PostgresPipelineError.connectionClosed) { _ = try await slow.value }
            let after = try scrape()
            #expect(after["trellis_pg_pipeline_statements_in_flight"] == 0)
            #expect(after["trellis_pg_pipeline_unanswered_closes_total"] == 1)
        }
    }

    /// With a one-connection pool: the holder is `used`, a second caller is `pending` until
    /// the holder releases, and then nothing is held or waiting; both waits are recorded.
    @Test func aCallerWaitingForTheOnlyConnectionIsPendingUntilItIsReleased() async throws {
        let metrics = TrellisMetrics()
        func scrape() throws -> PrometheusScrape { try PrometheusScrape(metrics.registry.emitToString()) }
        let used = ["db_client_connection_state": "used"]
        let client = PostgresClient(
            configuration: try testClientConfiguration(TestEnvironment.url("TRELLIS_TEST_DATABASE_URL"), maximumConnections: 1))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            let (release, releaser) = AsyncStream<Void>.makeStream()
            let holder = Task {
                try await metrics.pool.lease(from: client) { _ in
                    for await _ in release { break }
                }
            }
            let waiter = Task {
                // Asks only once the holder has the connection (the first expectation below).
                while try scrape()["db_client_connection_count", used] != 1 { try await Task.sleep(for: .milliseconds(10)) }
                return try await metrics.pool.lease(from: client) { connection in
                    try await connection.query("SELECT 1", logger: Logger(label: "test")).all().count
                }
            }
            // Never wait on a task that a failed expectation left hanging.
            defer {
                holder.cancel()
                waiter.cancel()
            }
            // Generous deadlines: on a busy machine opening the connection alone can take seconds.
            try #require(try await eventually(timeout: .seconds(30)) { try scrape()["db_client_connection_count", used] == 1 })
            try #require(try await eventually(timeout: .seconds(30)) { try scrape()["db_client_connection_pending_requests"] == 1 })
            #expect(try scrape()["db_client_connection_wait_time_seconds_count"] == 1, "only the holder has its lease")
            releaser.yield()
            releaser.finish()
            try await holder.value
            #expect(try await waiter.value == 1)
            let after = try scrape()
            #expect(after["db_client_connection_count", used] == 0)
            #expect(after["db_client_connection_pending_requests"] == 0)
            #expect(after["db_client_connection_wait_time_seconds_count"] == 2)
        }
    }

    /// With a token configured, `/metrics` answers only to that bearer.
    @Test func aConfiguredTokenIsRequired() async throws {
        let postgres = PostgresClient(configuration: .init(host: "127.0.0.1", username: "unused", password: nil, database: nil, tls: .disable))
        let services = TrellisServices(api: TrellisApp.api, postgres: postgres)
        let token = "metrics-token-0123456789"
        let router = TrellisServer.makeRouter(api: TrellisApp.api, services: services, metricsToken: token)
        try await Application(router: router).test(.router) { client in
            let anonymous = try await client.execute(uri: "/metrics", method: .get)
            #expect(anonymous.status == .unauthorized)
            #expect(anonymous.headers[.wwwAuthenticate] == "Bearer")
            let wrong = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer metrics-token-0123456788"])
            #expect(wrong.status == .unauthorized)
            let right = try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(right.status == .ok)
            #expect(String(buffer: right.body).contains("trellis_problems_total{code=\"unauthenticated\"} 2"))
        }
    }
}
