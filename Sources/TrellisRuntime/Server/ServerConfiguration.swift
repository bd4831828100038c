import Foundation
import TrellisRedis
import NIOCore
import PostgresNIO

/// Settings read from the environment and validated at start-up; every problem is
/// reported at once, and secrets are never echoed.
public struct ServerConfiguration: Sendable {
    public var host: String
    public var port: Int
    public var databaseURL: String
    /// Set when `TRELLIS_JWT_SECRET` or `TRELLIS_JWKS_FILE` is: bearer JWTs are accepted.
    public var jwt: JWTAuthenticator.Configuration?
    public var swaggerUIDirectory: String?
    /// `TRELLIS_GRAPHIQL_DIR`: serve GraphiQL's assets from this folder instead of a CDN.
    public var graphiQLDirectory: String?
    public var logLevel: Logger.Level
    /// Request deadline, HTTP connection and Postgres limits (``Timeouts``).
    public var timeouts = Timeouts()
    /// Most connections the server's Postgres pool opens (`TRELLIS_PG_POOL_SIZE`, default
    /// ``defaultPoolSize(cores:)`` of this machine's cores).
    public var poolSize = ServerConfiguration.defaultPoolSize()
    /// Most of them one workspace may use at once (`TRELLIS_WORKSPACE_CONNECTIONS`, default
    /// a quarter of the pool, at least 1): the rest stay free for other workspaces.
    public var workspaceConnections = ServerConfiguration.defaultWorkspaceConnections(poolSize: ServerConfiguration.defaultPoolSize())
    /// Most of them a workspace may use while it is the only one with database work on the
    /// instance (`TRELLIS_SOLE_WORKSPACE_CONNECTIONS`, default the pool less one workspace's
    /// share, never below ``workspaceConnections``; see ``WorkspaceGate``).
    public var soleWorkspaceConnections = ServerConfiguration.defaultSoleWorkspaceConnections(
        poolSize: ServerConfiguration.defaultPoolSize(),
        workspaceConnections: ServerConfiguration.defaultWorkspaceConnections(poolSize: ServerConfiguration.defaultPoolSize()))
    /// Distinct run-time statement shapes prepared per connection (`TRELLIS_PG_PREPARED_STATEMENTS`,
    /// default 256; 0 runs every statement unnamed, for PgBouncer before 1.21).
    public var preparedStatements = 256
    /// One-statement tenant reads through ``PostgresPipeline`` (`TRELLIS_PG_PIPELINE`, default
    /// on): one connection per event loop with every read in flight on it, instead of a pool
    /// lease each. Off, or with an `sslmode` that needs TLS, they use the pool.
    public var pipeline = true
    /// Run Swift Concurrency's jobs on NIO's event loops (`TRELLIS_EVENT_LOOP_EXECUTOR`,
    /// default true; see ``TrellisServer/useEventLoopsAsGlobalExecutor()``).
    public var eventLoopExecutor = true
    /// Postgres's `plan_cache_mode` on the server's connections (`TRELLIS_PG_PLAN_CACHE_MODE`,
    /// default `force_generic_plan`): every prepared list stays on its cached plan, where with
    /// `auto` whether it did depended on how the statistics priced the caller's workspace
    /// (measured in docs/operations.md). It applies inside functions and triggers too; `auto`
    /// lets Postgres choose per execution.
    public var planCacheMode = ServerConfiguration.defaultPlanCacheMode
    public static let defaultPlanCacheMode = "force_generic_plan"

    /// The pool size when `TRELLIS_PG_POOL_SIZE` is not set: 8 connections per core, at least 8
    /// and at most 40 (the old fixed default). A connection is busy only while Postgres works on
    /// its statement, so a few per core keep both sides busy; more only queue inside Postgres,
    /// where they cost memory, context switches and lock contention (measured in
    /// docs/operations.md, "Pool size").
    public static func defaultPoolSize(cores: Int = System.coreCount) -> Int {
        min(40, max(8, 8 * max(1, cores)))
    }

    /// The per-workspace limit when `TRELLIS_WORKSPACE_CONNECTIONS` is not set: a quarter of
    /// the pool, at least 1.
    static func defaultWorkspaceConnections(poolSize: Int) -> Int {
        max(1, poolSize / 4)
    }

    /// A lone workspace's limit when `TRELLIS_SOLE_WORKSPACE_CONNECTIONS` is not set: the pool
    /// less one workspace's share, so the next workspace to arrive finds connections free.
    static func defaultSoleWorkspaceConnections(poolSize: Int, workspaceConnections: Int) -> Int {
        max(workspaceConnections, poolSize - workspaceConnections)
    }

    /// Set when `TRELLIS_CORS_ORIGINS` is: replaces `api.yaml`'s `cors`.
    public var cors: CORSPolicy? = nil
    /// `TRELLIS_CURSOR_KEYS`; nil makes the server sign cursors with a random key.
    public var cursorKeys: CursorKeys? = nil
    /// `TRELLIS_METRICS_TOKEN`: when set, `GET /metrics` needs it as a bearer token.
    public var metricsToken: String?
    /// `REDIS_URL` (`redis://[[user]:password@]host[:port][/db]`): rate limits shared by every
    /// instance. Unset, or Redis unreachable: each instance limits on its own (same limits).
    public var redis: RedisConfiguration?
    /// `TRELLIS_RATE_LIMITS` (`on` by default): `off` sends no rate-limit headers and never a 429.
    public var rateLimits = true
    /// `TRELLIS_CACHE` (`on` by default): `off` reads every `get` and `list` from Postgres
    /// even for resources whose schema sets `cache`. Caching also needs `REDIS_URL`.
    public var cache = true
    /// `TRELLIS_TRUSTED_PROXIES`: comma-separated addresses of reverse proxies whose
    /// `X-Forwarded-For` names the client; none by default (the peer is the client).
    public var trustedProxies: Set<String> = []
    /// `TRELLIS_SESSION_IDLE_TIMEOUT` (seconds, 60–2592000, default 3600): a session with no
    /// request for this long ends.
    public var sessionIdleTimeout = 3_600
    /// `TRELLIS_SESSION_MAX_LIFETIME` (seconds, 60–31536000, default 86400): a session ends
    /// this long after login, however busy.
    public var sessionMaxLifetime = 86_400
    /// `TRELLIS_PASSWORD_COST` (`ln=15,r=8,p=1` by default): the scrypt cost of new password hashes.
    public var passwordCost = PasswordHasher.Cost.standard
    /// `TRELLIS_LOGIN_RATE_LIMIT_ADDRESS` (`10/20`) and `TRELLIS_LOGIN_RATE_LIMIT_ACCOUNT`
    /// (`2/5`), `PER_MINUTE/BURST`: login attempts per client address and per account.
    public var loginLimits = LoginLimits()
    /// `TRELLIS_EVENTS` (`on` by default): `off` writes no events and answers `GET /v1/events`
    /// with a 503. Events also need `REDIS_URL`.
    public var events = true
    /// `TRELLIS_EVENTS_HEARTBEAT` (seconds, 1–300, default 15): an idle event stream gets a
    /// comment frame this often.
    public var eventsHeartbeat = 15
    /// `TRELLIS_EVENTS_MAX_DURATION` (seconds, 10–86400, default 3600): an event stream ends
    /// this long after it opened; the client resumes with `Last-Event-ID`.
    public var eventsMaxDuration = 3_600
    /// `TRELLIS_EVENTS_MAX_STREAMS` (1–1000000, default 10000): event streams one instance keeps
    /// open at once; one more is a 503.
    public var eventsMaxStreams = 10_000
    /// `TRELLIS_EVENTS_HISTORY` (events, 1–100000, default 1000) and
    /// `TRELLIS_EVENTS_HISTORY_SECONDS` (10–86400, default 600): what each workspace's stream
    /// keeps for clients that resume with `Last-Event-ID`.
    public var eventHistory = EventHistory()
    /// Webhooks (`TRELLIS_WEBHOOK_*`); nil without `TRELLIS_WEBHOOK_KEY`: none.
    public var webhooks: WebhookSettings?
    /// `TRELLIS_AUDIT_VERIFY_INTERVAL` (seconds, 60–86400, default 3600; `0`: never): how often
    /// the server verifies every workspace's audit chain for `/metrics`
    /// (`trellis_audit_chains_broken`; ``OperationsMonitor``). Nil: never.
    public var auditVerifyInterval: Duration? = .seconds(3_600)
    /// `TRELLIS_SENTRY_DSN`: forward error events to this Sentry-compatible endpoint
    /// (``SentryForwarder``); nil: they stay in `error_events`.
    public var sentryDSN: SentryForwarder.DSN?
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) and the other
    /// `OTEL_*` variables of ``TraceExport``: trace every request and job run to this OTLP/HTTP
    /// collector. Nil (the default): no tracing.
    public var traceExport: TraceExport?

    public struct Invalid: Error, CustomStringConvertible {
        public var problems: [String]

        public init(problems: [String]) {
            self.problems = problems
        }

        public var description: String {
            "invalid configuration:\n" + problems.map { "  - " + $0 }.joined(separator: "\n")
        }
    }

    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> ServerConfiguration {
        var problems: [String] = []
        let host = env["TRELLIS_HOST"] ?? "127.0.0.1"
        var port = 8080
        if let text = env["TRELLIS_PORT"] {
            if let value = Int(text), (1...65535).contains(value) { port = value } else {
                problems.append("TRELLIS_PORT must be a port number from 1 to 65535, got '\(text)'")
            }
        }
        let databaseURL = env["DATABASE_URL"] ?? ""
        if databaseURL.isEmpty {
            problems.append("DATABASE_URL is required (postgres://user:password@host:port/database, the server's role)")
        } else {
            do { _ = try DatabaseURL(databaseURL) } catch { problems.append("DATABASE_URL: \(error)") }
        }
        let jwt = jwtConfiguration(env, problems: &problems)
        var level = Logger.Level.info
        if let text = env["TRELLIS_LOG_LEVEL"] {
            if let parsed = Logger.Level(rawValue: text) { level = parsed } else {
                problems.append("TRELLIS_LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical")
            }
        }
        let timeouts = Timeouts.fromEnvironment(env, problems: &problems)
        var poolSize = defaultPoolSize()
        if let text = env["TRELLIS_PG_POOL_SIZE"] {
            if let value = Int(text), (1...1_000).contains(value) { poolSize = value } else {
                problems.append("TRELLIS_PG_POOL_SIZE must be a number of connections from 1 to 1000, got '\(text)'")
            }
        }
        var workspaceConnections = defaultWorkspaceConnections(poolSize: poolSize)
        if let text = env["TRELLIS_WORKSPACE_CONNECTIONS"] {
            if let value = Int(text), (1...poolSize).contains(value) { workspaceConnections = value } else {
                problems.append("TRELLIS_WORKSPACE_CONNECTIONS must be a number of connections from 1 to the pool size (\(poolSize)), got '\(text)'")
            }
        }
        var soleWorkspaceConnections = defaultSoleWorkspaceConnections(poolSize: poolSize, workspaceConnections: workspaceConnections)
        if let text = env["TRELLIS_SOLE_WORKSPACE_CONNECTIONS"] {
            if let value = Int(text), (workspaceConnections...poolSize).contains(value) { soleWorkspaceConnections = value } else {
                problems.append("TRELLIS_SOLE_WORKSPACE_CONNECTIONS must be a number of connections from TRELLIS_WORKSPACE_CONNECTIONS (\(workspaceConnections)) to the pool size (\(poolSize)), got '\(text)'")
            }
        }
        var preparedStatements = 256
        if let text = env["TRELLIS_PG_PREPARED_STATEMENTS"] {
            if let value = Int(text), (0...10_000).contains(value) { preparedStatements = value } else {
                problems.append("TRELLIS_PG_PREPARED_STATEMENTS must be a number of statement shapes from 0 (none: for PgBouncer before 1.21) to 10000, got '\(text)'")
            }
        }
        let eventLoopExecutor = flag("TRELLIS_EVENT_LOOP_EXECUTOR", env, default: true, spelled: "true or false", problems: &problems)
        var planCacheMode = ServerConfiguration.defaultPlanCacheMode
        if let text = env["TRELLIS_PG_PLAN_CACHE_MODE"] {
            if ["auto", "force_generic_plan", "force_custom_plan"].contains(text) { planCacheMode = text } else {
                problems.append("TRELLIS_PG_PLAN_CACHE_MODE must be auto, force_generic_plan or force_custom_plan, got '\(text)'")
            }
        }
        let cors = corsPolicy(env, problems: &problems)
        let cursorKeys = CursorKeys.fromEnvironment(env, problems: &problems)
        let metricsToken = env["TRELLIS_METRICS_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        if let metricsToken, metricsToken.utf8.count < 16 {
            problems.append("TRELLIS_METRICS_TOKEN must be at least 16 characters (or unset, to serve /metrics without a token)")
        }
        var redis: RedisConfiguration?
        if let text = env["REDIS_URL"], !text.isEmpty {
            do { redis = try RedisConfiguration(url: text) } catch { problems.append("REDIS_URL: \(error)") }
        }
        let rateLimits = flag("TRELLIS_RATE_LIMITS", env, default: true, spelled: "on or off", problems: &problems)
        let cache = flag("TRELLIS_CACHE", env, default: true, spelled: "on or off", problems: &problems)
        let pipeline = flag("TRELLIS_PG_PIPELINE", env, default: true, spelled: "on or off", problems: &problems)
        var trustedProxies: Set<String> = []
        for entry in (env["TRELLIS_TRUSTED_PROXIES"] ?? "").split(separator: ",") {
            let address = entry.trimmingCharacters(in: .whitespaces)
            if address.isEmpty { continue }
            if (try? SocketAddress(ipAddress: address, port: 0)) == nil {
                problems.append("TRELLIS_TRUSTED_PROXIES: '\(address)' is not an IPv4 or IPv6 address")
            } else {
                trustedProxies.insert(address)
            }
        }
        /// A whole number within `range` (of seconds, when `unit` says so); a problem naming `name` otherwise.
        func number(_ name: String, in range: ClosedRange<Int>, default fallback: Int, unit: String = "") -> Int {
            guard let text = env[name] else { return fallback }
            guard let value = Int(text), range.contains(value) else {
                problems.append("\(name) must be a number\(unit) from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
                return fallback
            }
            return value
        }
        func seconds(_ name: String, in range: ClosedRange<Int>, default fallback: Int) -> Int {
            number(name, in: range, default: fallback, unit: " of seconds")
        }
        let sessionIdleTimeout = seconds("TRELLIS_SESSION_IDLE_TIMEOUT", in: 60...2_592_000, default: 3_600)
        let sessionMaxLifetime = seconds("TRELLIS_SESSION_MAX_LIFETIME", in: 60...31_536_000, default: 86_400)
        var passwordCost = PasswordHasher.Cost.standard
        if let text = env["TRELLIS_PASSWORD_COST"] {
            if let cost = PasswordHasher.Cost(parameters: Substring(text)) { passwordCost = cost } else {
                problems.append("TRELLIS_PASSWORD_COST must be ln=N,r=R,p=P with N \(PasswordHasher.Cost.logNRange), R \(PasswordHasher.Cost.blockSizeRange), P \(PasswordHasher.Cost.parallelismRange), got '\(text)'")
            }
        }
        var loginLimits = LoginLimits()
        for (name, path) in [("TRELLIS_LOGIN_RATE_LIMIT_ADDRESS", \LoginLimits.perAddress), ("TRELLIS_LOGIN_RATE_LIMIT_ACCOUNT", \LoginLimits.perAccount)] {
            guard let text = env[name] else { continue }
            if let policy = RateLimitPolicy(spec: text) { loginLimits[keyPath: path] = policy } else {
                problems.append("\(name) must be PER_MINUTE/BURST with 1-60000000 per minute and a burst of 1-1000000, e.g. 10/20; got '\(text)'")
            }
        }
        let events = flag("TRELLIS_EVENTS", env, default: true, spelled: "on or off", problems: &problems)
        let eventsHeartbeat = seconds("TRELLIS_EVENTS_HEARTBEAT", in: 1...300, default: 15)
        let eventsMaxDuration = seconds("TRELLIS_EVENTS_MAX_DURATION", in: 10...86_400, default: 3_600)
        let eventsMaxStreams = number("TRELLIS_EVENTS_MAX_STREAMS", in: 1...1_000_000, default: 10_000)
        let eventHistory = EventHistory(
            events: number("TRELLIS_EVENTS_HISTORY", in: 1...100_000, default: 1_000),
            seconds: seconds("TRELLIS_EVENTS_HISTORY_SECONDS", in: 10...86_400, default: 600))
        let webhooks = WebhookSettings.fromEnvironment(env, problems: &problems)
        var sentryDSN: SentryForwarder.DSN?
        if let text = env["TRELLIS_SENTRY_DSN"], !text.isEmpty {
            sentryDSN = SentryForwarder.DSN(text)
            // Never echo the DSN: it holds the project's key.
            if sentryDSN == nil { problems.append("TRELLIS_SENTRY_DSN must look like https://<public key>@<host>/<project id>") }
        }
        var auditVerifyInterval: Duration? = .seconds(3_600)
        if let text = env["TRELLIS_AUDIT_VERIFY_INTERVAL"] {
            if text == "0" { auditVerifyInterval = nil } else if let value = Int(text), (60...86_400).contains(value) {
                auditVerifyInterval = .seconds(value)
            } else {
                problems.append("TRELLIS_AUDIT_VERIFY_INTERVAL must be 0 (never) or a number of seconds from 60 to 86400, got '\(text)'")
            }
        }
        let traceExport = TraceExport.fromEnvironment(env, problems: &problems)
        guard problems.isEmpty else { throw Invalid(problems: problems) }
        var configuration = ServerConfiguration(
            host: host, port: port, databaseURL: databaseURL, jwt: jwt,
            swaggerUIDirectory: env["TRELLIS_SWAGGER_UI_DIR"], logLevel: level, cursorKeys: cursorKeys)
        configuration.timeouts = timeouts
        configuration.poolSize = poolSize
        configuration.workspaceConnections = workspaceConnections
        configuration.graphiQLDirectory = env["TRELLIS_GRAPHIQL_DIR"].flatMap { $0.isEmpty ? nil : $0 }
        configuration.soleWorkspaceConnections = soleWorkspaceConnections
        configuration.preparedStatements = preparedStatements
        configuration.pipeline = pipeline
        configuration.eventLoopExecutor = eventLoopExecutor
        configuration.planCacheMode = planCacheMode
        configuration.cors = cors
        configuration.metricsToken = metricsToken
        configuration.redis = redis
        configuration.rateLimits = rateLimits
        configuration.cache = cache
        configuration.trustedProxies = trustedProxies
        configuration.sessionIdleTimeout = sessionIdleTimeout
        configuration.sessionMaxLifetime = sessionMaxLifetime
        configuration.passwordCost = passwordCost
        configuration.loginLimits = loginLimits
        configuration.events = events
        configuration.eventsHeartbeat = eventsHeartbeat
        configuration.eventsMaxDuration = eventsMaxDuration
        configuration.eventsMaxStreams = eventsMaxStreams
        configuration.eventHistory = eventHistory
        configuration.webhooks = webhooks
        configuration.auditVerifyInterval = auditVerifyInterval
        configuration.sentryDSN = sentryDSN
        configuration.traceExport = traceExport
        return configuration
    }

    /// A switch: `true`/`1`/`on` or `false`/`0`/`off`; anything else is a problem naming `name`.
    static func flag(_ name: String, _ env: [String: String], default fallback: Bool, spelled: String, problems: inout [String]) -> Bool {
        guard let text = env[name] else { return fallback }
        switch text {
        case "true", "1", "on": return true
        case "false", "0", "off": return false
        default:
            problems.append("\(name) must be \(spelled), got '\(text)'")
            return fallback
        }
    }

    /// `TRELLIS_CORS_ORIGINS` (comma-separated origins, or `*`), `TRELLIS_CORS_ALLOW_CREDENTIALS`
    /// (`true`/`false`, never with `*`) and `TRELLIS_CORS_MAX_AGE` (seconds, 0–86400, default 600).
    /// Nil when `TRELLIS_CORS_ORIGINS` is unset: `api.yaml` decides (no origin by default).
    static func corsPolicy(_ env: [String: String], problems: inout [String]) -> CORSPolicy? {
        guard let text = env["TRELLIS_CORS_ORIGINS"] else { return nil }
        let origins = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        for origin in origins where origin != "*" {
            let url = URLComponents(string: origin)
            if !(url?.scheme == "http" || url?.scheme == "https") || url?.host?.isEmpty != false || !(url?.path.isEmpty ?? false)
                || url?.query != nil {
                problems.append("TRELLIS_CORS_ORIGINS: '\(origin)' must be '*' or scheme://host[:port] without a path")
            }
        }
        var policy = CORSPolicy(allowedOrigins: origins)
        if let credentials = env["TRELLIS_CORS_ALLOW_CREDENTIALS"] {
            switch credentials {
            case "true": policy.allowCredentials = true
            case "false": policy.allowCredentials = false
            default: problems.append("TRELLIS_CORS_ALLOW_CREDENTIALS must be true or false, got '\(credentials)'")
            }
            if policy.allowCredentials, origins.contains("*") {
                problems.append("TRELLIS_CORS_ALLOW_CREDENTIALS=true cannot be combined with the '*' origin; list the origins")
            }
        }
        if let maxAge = env["TRELLIS_CORS_MAX_AGE"] {
            if let seconds = Int(maxAge), (0...86_400).contains(seconds) { policy.maxAge = seconds } else {
                problems.append("TRELLIS_CORS_MAX_AGE must be a number of seconds from 0 to 86400, got '\(maxAge)'")
            }
        }
        return policy
    }

    /// JWT settings: a secret (HS256, at least 32 bytes) or a JWKS file, not both; issuer,
    /// audience and workspace claim path are optional.
    static func jwtConfiguration(_ env: [String: String], problems: inout [String]) -> JWTAuthenticator.Configuration? {
        let secret = env["TRELLIS_JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 }
        let jwksPath = env["TRELLIS_JWKS_FILE"].flatMap { $0.isEmpty ? nil : $0 }
        let keys: JWTAuthenticator.Configuration.Keys
        switch (secret, jwksPath) {
        case (nil, nil):
            return nil
        case (.some, .some):
            problems.append("set TRELLIS_JWT_SECRET or TRELLIS_JWKS_FILE, not both")
            return nil
        case let (secret?, nil):
            guard secret.utf8.count >= 32 else {
                problems.append("TRELLIS_JWT_SECRET must be at least 32 bytes (it is an HS256 key)")
                return nil
            }
            keys = .hmacSecret(secret)
        case let (nil, path?):
            guard let data = FileManager.default.contents(atPath: path), let json = String(data: data, encoding: .utf8) else {
                problems.append("TRELLIS_JWKS_FILE: cannot read '\(path)'")
                return nil
            }
            keys = .jwks(json: json)
        }
        let claim = env["TRELLIS_JWT_WORKSPACE_CLAIM"].flatMap { $0.isEmpty ? nil : $0 } ?? "workspace_id"
        if claim.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty) {
            problems.append("TRELLIS_JWT_WORKSPACE_CLAIM must be a dotted claim path such as app_metadata.workspace_id, got '\(claim)'")
        }
        return JWTAuthenticator.Configuration(
            keys: keys, issuer: env["TRELLIS_JWT_ISSUER"].flatMap { $0.isEmpty ? nil : $0 },
            audience: env["TRELLIS_JWT_AUDIENCE"].flatMap { $0.isEmpty ? nil : $0 }, workspaceClaim: claim)
    }
}
