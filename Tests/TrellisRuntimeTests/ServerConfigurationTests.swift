import Testing
@testable import TrellisRuntime

@Suite("Configuration from the environment")
struct ServerConfigurationTests {
    @Test func defaultsApplyWhenOnlyTheDatabaseIsGiven() throws {
        let config = try ServerConfiguration.fromEnvironment(["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db"])
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.jwt == nil)
        #expect(config.poolSize == ServerConfiguration.defaultPoolSize())
        #expect(config.workspaceConnections == max(1, config.poolSize / 4))
        #expect(config.soleWorkspaceConnections == max(config.workspaceConnections, config.poolSize - config.workspaceConnections))
        #expect(config.planCacheMode == "force_generic_plan")
    }

    @Test("the default pool is 8 connections per core, from 8 to 40")
    func theDefaultPoolFollowsTheCoreCount() {
        #expect(ServerConfiguration.defaultPoolSize(cores: 0) == 8)
        #expect(ServerConfiguration.defaultPoolSize(cores: 1) == 8)
        #expect(ServerConfiguration.defaultPoolSize(cores: 2) == 16)
        #expect(ServerConfiguration.defaultPoolSize(cores: 4) == 32)
        #expect(ServerConfiguration.defaultPoolSize(cores: 64) == 40)
    }

    @Test("a lone workspace may use the pool less one workspace's share, within the per-workspace limit and the pool")
    func theSoleWorkspaceLimitDefaultsToThePoolLessOneShare() throws {
        let base = ["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db", "TRELLIS_PG_POOL_SIZE": "16"]
        #expect(try ServerConfiguration.fromEnvironment(base).soleWorkspaceConnections == 12)
        let one = try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_PG_POOL_SIZE": "1"]) { $1 })
        #expect(one.workspaceConnections == 1 && one.soleWorkspaceConnections == 1)
        let set = try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_SOLE_WORKSPACE_CONNECTIONS": "16"]) { $1 })
        #expect(set.soleWorkspaceConnections == 16)
        for bad in ["3", "17", "many"] {
            #expect(throws: ServerConfiguration.Invalid.self) {
                try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_SOLE_WORKSPACE_CONNECTIONS": bad]) { $1 })
            }
        }
    }

    @Test func everyProblemIsReportedAtOnceWithoutEchoingSecrets() {
        let env = [
            "DATABASE_URL": "mysql://app:hunter2@127.0.0.1/db",
            "TRELLIS_PORT": "99999",
            "TRELLIS_JWT_SECRET": "too-short-secret-hunter3",
            "TRELLIS_LOG_LEVEL": "loud",
        ]
        do {
            _ = try ServerConfiguration.fromEnvironment(env)
            Issue.record("invalid configuration was accepted")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.problems.count == 4)
            #expect(error.problems.contains { $0.hasPrefix("TRELLIS_PORT") })
            #expect(error.problems.contains { $0.hasPrefix("DATABASE_URL") })
            #expect(error.problems.contains { $0.hasPrefix("TRELLIS_JWT_SECRET must be at least 32 bytes") })
            #expect(!error.description.contains("hunter2"))
            #expect(!error.description.contains("hunter3"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func theMetricsTokenIsOptionalAndMustBeLongEnough() throws {
        let base = ["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db"]
        #expect(try ServerConfiguration.fromEnvironment(base).metricsToken == nil)
        #expect(try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_METRICS_TOKEN": ""]) { $1 }).metricsToken == nil)
        let token = "scrape-token-0123456789"
        #expect(try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_METRICS_TOKEN": token]) { $1 }).metricsToken == token)
        do {
            _ = try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_METRICS_TOKEN": "short-hunter4"]) { $1 })
            Issue.record("a 13-character metrics token was accepted")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.problems == ["TRELLIS_METRICS_TOKEN must be at least 16 characters (or unset, to serve /metrics without a token)"])
            #expect(!error.description.contains("hunter4"))
        }
    }

    @Test func jwtSettingsAreReadAndCheckedTogether() throws {
        let base = ["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db"]
        let secret = String(repeating: "s", count: 32)
        let config = try ServerConfiguration.fromEnvironment(base.merging([
            "TRELLIS_JWT_SECRET": secret, "TRELLIS_JWT_AUDIENCE": "trellis", "TRELLIS_JWT_WORKSPACE_CLAIM": "app_metadata.workspace_id",
        ]) { $1 })
        #expect(config.jwt?.audience == "trellis")
        #expect(config.jwt?.workspaceClaim == ["app_metadata", "workspace_id"])
        do {
            _ = try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_JWT_SECRET": secret, "TRELLIS_JWKS_FILE": "/nonexistent"]) { $1 })
            Issue.record("a secret and a JWKS file together were accepted")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.problems == ["set TRELLIS_JWT_SECRET or TRELLIS_JWKS_FILE, not both"])
        }
        do {
            _ = try ServerConfiguration.fromEnvironment(base.merging(["TRELLIS_JWKS_FILE": "/nonexistent/jwks.json"]) { $1 })
            Issue.record("an unreadable JWKS file was accepted")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.problems == ["TRELLIS_JWKS_FILE: cannot read '/nonexistent/jwks.json'"])
        }
    }

    @Test func missingDatabaseURLIsNamed() {
        #expect(throws: ServerConfiguration.Invalid.self) { try ServerConfiguration.fromEnvironment([:]) }
    }
}

@Suite("Trace export from the OTEL_* environment")
struct TraceExportConfigurationTests {
    let base = ["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db"]

    @Test func noEndpointMeansNoTracing() throws {
        #expect(try ServerConfiguration.fromEnvironment(base).traceExport == nil)
    }

    @Test("the shared endpoint is a base for /v1/traces; the traces endpoint is the URL as is")
    func endpointsFollowTheOTLPSpec() throws {
        let shared = try ServerConfiguration.fromEnvironment(base.merging(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]) { $1 })
        #expect(shared.traceExport?.endpoint == "http://collector:4318/v1/traces")
        #expect(shared.traceExport?.json == false && shared.traceExport?.serviceName == "trellis")
        let slash = try ServerConfiguration.fromEnvironment(base.merging(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"]) { $1 })
        #expect(slash.traceExport?.endpoint == "http://collector:4318/v1/traces")
        let specific = try ServerConfiguration.fromEnvironment(base.merging([
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://traces.example/otlp",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json", "OTEL_SERVICE_NAME": "api-eu", "OTEL_BSP_SCHEDULE_DELAY": "250",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2000",
        ]) { $1 })
        let export = try #require(specific.traceExport)
        #expect(export.endpoint == "https://traces.example/otlp" && export.json && export.serviceName == "api-eu")
        #expect(export.scheduleDelay == .milliseconds(250) && export.timeout == .seconds(2))
    }

    @Test func aMalformedVariableIsAProblemNamingIt() throws {
        for (name, value, named) in [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318", "OTEL_EXPORTER_OTLP_ENDPOINT"),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "OTEL_EXPORTER_OTLP_PROTOCOL"),
            ("OTEL_BSP_SCHEDULE_DELAY", "0", "OTEL_BSP_SCHEDULE_DELAY"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "soon", "OTEL_EXPORTER_OTLP_TIMEOUT"),
        ] {
            var env = base.merging(["OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"]) { $1 }
            env[name] = value
            let error = #expect(throws: ServerConfiguration.Invalid.self) { try ServerConfiguration.fromEnvironment(env) }
            #expect(error?.problems.count == 1 && error?.problems.first?.hasPrefix(named) == true, "\(String(describing: error))")
        }
    }
}
