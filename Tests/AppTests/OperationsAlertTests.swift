import Foundation
import Logging
import PostgresNIO
import Testing
import TrellisTestSupport
@testable import TrellisRuntime

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The series behind the on-call alerts (issue 12, item 3) against real components: the
/// operations monitor counts broken audit chains exactly as `trellis audit verify` finds them
/// and counts open webhook circuits, through the server's own role; and a real Prometheus
/// (Debian's `prometheus`) scraping a running server evaluates `ops/prometheus/alerts.yml`'s
/// TrellisAuditChainBroken into firing, and answers every query of the Grafana dashboard.
@Suite("operations monitor and alerts (issue 12)", .serialized)
struct OperationsAlertTests {
    let logger = silentLogger

    /// Two workspaces with audit entries written through the API (sealed), in a database of
    /// their own: the test database's chains are tampered with by other suites.
    func withAuditedWorkspaces(_ body: @Sendable (ScratchDatabase, [UUID]) async throws -> Void) async throws {
        try await ScratchDatabase.with(migrated: true) { database in
            var workspaces: [UUID] = []
            for _ in 0..<2 {
                let workspace = try await TestDatabase.shared.makeWorkspace()
                try await database.addWorkspace(workspace)
                let key = try await database.makeKey(workspace: workspace)
                try await withApp(workspace: workspace, databaseURL: database.appURL) { client, _ in
                    for name in ["a", "b", "c"] {
                        let response = try await client.send(.post, "/v1/swarms", json: #"{"name":"\#(name)"}"#, as: .bearer(key))
                        #expect(response.status == .created, "\(response.text)")
                    }
                }
                workspaces.append(workspace)
            }
            try await database.asOwner { client in try await AuditSealer.sealAll(client, logger: silentLogger) }
            try await body(database, workspaces)
        }
    }

    /// A monitor on the server role's pool of `database`, with its own metrics.
    func withMonitor<T: Sendable>(
        _ database: ScratchDatabase, cooldown: Duration? = nil, _ body: @Sendable (OperationsMonitor, TrellisMetrics) async throws -> T
    ) async throws -> T {
        let metrics = TrellisMetrics()
        return try await withClient(url: database.appURL) { client in
            let monitor = OperationsMonitor(
                postgres: client, metrics: metrics.operations, circuitCooldown: cooldown, auditInterval: .seconds(3600), logger: silentLogger)
            return try await body(monitor, metrics)
        }
    }

    func scrape(_ metrics: TrellisMetrics) throws -> PrometheusScrape {
        var buffer: [UInt8] = []
        metrics.registry.emit(into: &buffer)
        return try PrometheusScrape(String(decoding: buffer, as: UTF8.self))
    }

    /// Alters workspace `workspace`'s audit entry `seq` as the superuser, past the append-only trigger.
    func tamper(_ database: ScratchDatabase, _ statement: String) async throws {
        try await database.asSuperuser { client in
            _ = try await client.query("BEGIN", logger: silentLogger)
            _ = try await client.query("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only", logger: silentLogger)
            _ = try await client.query(PostgresQuery(unsafeSQL: statement), logger: silentLogger)
            _ = try await client.query("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only", logger: silentLogger)
            _ = try await client.query("COMMIT", logger: silentLogger)
        }
    }

    @Test func theMonitorCountsBrokenAuditChainsAsTrellisAuditVerifyFindsThem() async throws {
        try await withAuditedWorkspaces { database, workspaces in
            let (altered, cut) = (workspaces[0], workspaces[1])
            try await withMonitor(database) { monitor, metrics in
                let intact = await monitor.verifyAuditChains()
                #expect(intact?.chains == 2 && intact?.broken == 0)

                // One entry's content altered in the first workspace; the newest entry removed in the second.
                try await tamper(database, "UPDATE audit_log SET actor = 'nobody' WHERE workspace_id = '\(altered.lowercasedString)' AND seq = 2")
                let one = await monitor.verifyAuditChains()
                #expect(one?.chains == 2 && one?.broken == 1)
                try await tamper(
                    database,
                    "DELETE FROM audit_log WHERE workspace_id = '\(cut.lowercasedString)' AND seq = (SELECT max(seq) FROM audit_log WHERE workspace_id = '\(cut.lowercasedString)')")
                let two = await monitor.verifyAuditChains()
                #expect(two?.chains == 2 && two?.broken == 2)

                // The verifier of `trellis audit verify` names the same two chains.
                let reports = try await database.asOwner { client in
                    try await AuditChainVerifier.verify(client, workspace: nil, logger: silentLogger)
                }
                #expect(Set(reports.filter { $0.brokenLink != nil }.map(\.workspaceID)) == [altered, cut])

                let page = try scrape(metrics)
                #expect(page["trellis_audit_chains_broken"] == 2)
                #expect(page["trellis_audit_chains"] == 2)
                #expect(page["trellis_audit_verifications_total", ["outcome": "intact"]] == 1)
                #expect(page["trellis_audit_verifications_total", ["outcome": "broken"]] == 2)
                #expect((page["trellis_audit_chain_verified_timestamp_seconds"] ?? 0) > Date().timeIntervalSince1970 - 60)
            }
        }
    }

    @Test func theMonitorCountsOpenAndHalfOpenWebhookCircuitsOfEveryWorkspace() async throws {
        try await withAuditedWorkspaces { database, workspaces in
            // Endpoints in both workspaces: closed, open (opened 10 s ago), half-open (opened an
            // hour ago), and an open one that is disabled (not counted: it sends nothing anyway).
            try await database.asSuperuser { client in
                for (index, opened) in ["NULL", "now() - interval '10 seconds'", "now() - interval '1 hour'", "now()"].enumerated() {
                    let workspace = workspaces[index % 2]
                    _ = try await client.query(
                        PostgresQuery(unsafeSQL: """
                            INSERT INTO webhook_endpoints (id, workspace_id, url, events, enabled, scopes, secret_sealed, circuit_opened_at)
                            VALUES (gen_random_uuid(), '\(workspace.lowercasedString)', 'https://example.com/hook', '{*}', \(index != 3),
                                    '{*}', '\\x00', \(opened))
                            """), logger: silentLogger)
                }
            }
            try await withMonitor(database, cooldown: .seconds(60)) { monitor, metrics in
                await monitor.measureCircuits(cooldown: .seconds(60))
                let page = try scrape(metrics)
                #expect(page["trellis_webhook_circuits", ["state": "open"]] == 1)
                #expect(page["trellis_webhook_circuits", ["state": "half_open"]] == 1)
            }
        }
    }

    @Test func aRealPrometheusScrapingAServerFiresTheAuditAlertAndAnswersEveryDashboardQuery() async throws {
        let prometheus = URL(fileURLWithPath: "/usr/bin/prometheus")
        #expect(FileManager.default.isExecutableFile(atPath: prometheus.path), "Debian's prometheus package (scripts/test installs it)")
        try await withAuditedWorkspaces { database, workspaces in
            try await tamper(database, "UPDATE audit_log SET actor = 'nobody' WHERE workspace_id = '\(workspaces[0].lowercasedString)' AND seq = 1")
            try await withApp(
                workspace: workspaces[1], databaseURL: database.appURL, live: true,
                alongside: { services in
                    var monitor = OperationsMonitor(
                        postgres: services.postgres, metrics: services.metrics.operations, circuitCooldown: nil,
                        auditInterval: .seconds(3600), logger: silentLogger)
                    monitor.firstAuditAfter = .zero
                    return [monitor]
                }
            ) { client, _ in
                let serverPort = try #require(client.client.port)
                try await Self.withPrometheus(scraping: serverPort) { api in
                    // TrellisAuditChainBroken has no `for`: firing from its first evaluation on a page that shows a broken chain.
                    var firing: [String: String]?
                    let fired = try await eventually(timeout: .seconds(60), interval: .milliseconds(500)) {
                        firing = try await Self.alerts(api).first { $0["alertname"] == "TrellisAuditChainBroken" && $0["state"] == "firing" }
                        return firing != nil
                    }
                    let seen = try await Self.alerts(api)
                    #expect(fired, "TrellisAuditChainBroken never fired; alerts: \(seen)")
                    #expect(firing?["severity"] == "page" && firing?["job"] == "trellis")
                    // Nothing else fires against a healthy server.
                    let others = try await Self.alerts(api).filter { $0["alertname"] != "TrellisAuditChainBroken" && $0["state"] == "firing" }
                    #expect(others.isEmpty, "\(others)")

                    // Every dashboard query is valid PromQL that Prometheus evaluates.
                    for expr in try Self.dashboardQueries() {
                        let answer = try await Self.get(api, "/api/v1/query", ["query": expr])
                        #expect(answer["status"] as? String == "success", "\(expr): \(answer)")
                    }
                    let up = try await Self.get(api, "/api/v1/query", ["query": #"up{job="trellis"}"#])
                    let result = ((up["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
                    #expect((result.first?["value"] as? [Any])?.last as? String == "1", "\(up)")
                }
            }
        }
    }

    // MARK: - A Prometheus of the test's own

    /// Runs Prometheus (scrape and evaluate every second) on `ops/prometheus/alerts.yml`,
    /// scraping the server on `serverPort` as job `trellis`; `body` gets its base URL.
    static func withPrometheus(scraping serverPort: Int, _ body: (URL) async throws -> Void) async throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("trellis-prometheus-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        let rules = TestEnvironment.repositoryRoot.appendingPathComponent("ops/prometheus/alerts.yml").path
        try """
            global: {scrape_interval: 1s, evaluation_interval: 1s}
            rule_files: ["\(rules)"]
            scrape_configs:
              - job_name: trellis
                static_configs: [{targets: ["127.0.0.1:\(serverPort)"]}]
            """.write(to: home.appendingPathComponent("prometheus.yml"), atomically: true, encoding: .utf8)
        let port = try freeLocalPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/prometheus")
        process.arguments = [
            "--config.file=\(home.path)/prometheus.yml", "--storage.tsdb.path=\(home.path)/data",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ]
        let log = home.appendingPathComponent("prometheus.log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        defer {
            process.terminate()
            process.waitUntilExit()
        }
        let api = URL(string: "http://127.0.0.1:\(port)")!
        let ready = try await eventually(timeout: .seconds(30), interval: .milliseconds(200)) {
            (try? await get(api, "/-/ready", [:], json: false)) != nil
        }
        #expect(ready, "prometheus did not start: \((try? String(contentsOf: log, encoding: .utf8)) ?? "")")
        try await body(api)
    }

    /// Active alerts, as their labels plus `state`.
    static func alerts(_ api: URL) async throws -> [[String: String]] {
        let answer = try await get(api, "/api/v1/alerts", [:])
        let alerts = ((answer["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        return alerts.map { alert in
            var labels = (alert["labels"] as? [String: String]) ?? [:]
            labels["state"] = alert["state"] as? String
            return labels
        }
    }

    /// Every panel query of `ops/grafana/trellis.json`, with the dashboard's variables filled in.
    static func dashboardQueries() throws -> [String] {
        let data = try Data(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("ops/grafana/trellis.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = (dashboard["panels"] as? [[String: Any]]) ?? []
        let queries = panels.flatMap { ($0["targets"] as? [[String: Any]]) ?? [] }.compactMap { $0["expr"] as? String }
        #expect(queries.count >= 20)
        return queries.map {
            $0.replacingOccurrences(of: "$__rate_interval", with: "1m").replacingOccurrences(of: "$job", with: "trellis")
        }
    }

    static func get(_ api: URL, _ path: String, _ query: [String: String], json: Bool = true) async throws -> [String: Any] {
        var components = URLComponents(url: api.appendingPathComponent(path), resolvingAgainstBaseURL: false)!
        if !query.isEmpty { components.queryItems = query.map { URLQueryItem(name: $0.key, value: $0.value) } }
        var request = URLRequest(url: components.url!)
        request.timeoutInterval = 5
        let (data, response) = try await URLSession.shared.data(for: request)
        guard (response as? HTTPURLResponse)?.statusCode == 200 else {
            throw Unexpected(message: "\(path): \(String(decoding: data, as: UTF8.self))")
        }
        guard json else { return [:] }
        return (try JSONSerialization.jsonObject(with: data) as? [String: Any]) ?? [:]
    }
}
