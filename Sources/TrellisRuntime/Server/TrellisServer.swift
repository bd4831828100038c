import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import ServiceLifecycle
import TrellisPostgres
import TrellisRedis

/// Assembles the HTTP application from the generated ``APIDefinition`` and the shared services.
public enum TrellisServer {
    /// The router with every platform and `/v1` route; middleware order: request id, tracing
    /// (when `services.tracer` is set), request metrics, request log, CORS (when `cors`, else `api.cors`, allows any origin),
    /// problem boundary, body limit. `/metrics` needs `metricsToken` as a bearer when one is given.
    public static func makeRouter(
        api: APIDefinition, services: TrellisServices, swaggerUIDirectory: String? = nil, cors: CORSPolicy? = nil,
        metricsToken: String? = nil, graphiQLDirectory: String? = nil
    ) -> Router<TrellisRequestContext> {
        let router = Router(context: TrellisRequestContext.self)
        router.addMiddleware {
            RequestIDMiddleware()
            if let tracer = services.tracer { RequestTracingMiddleware(tracer: tracer) }
            HTTPMetricsMiddleware(metrics: services.metrics.http)
            RequestLogMiddleware()
        }
        let corsPolicy = cors ?? api.cors
        if corsPolicy.isEnabled { router.add(middleware: CORSMiddleware(policy: corsPolicy)) }
        router.add(middleware: ProblemMiddleware(problems: services.metrics.problems, errors: services.errors))
        router.add(middleware: BodyLimitMiddleware(limit: services.maxBodySize))
        MetricsRoute(metrics: services.metrics, token: metricsToken).register(on: router)
        PlatformRoutes(
            services: services, openAPIJSON: ByteBuffer(string: api.openAPIJSON),
            openAPIYAML: ByteBuffer(string: api.openAPIYAML), swaggerUIDirectory: swaggerUIDirectory,
            graphiQLDirectory: graphiQLDirectory
        ).register(on: router)
        // Login takes no credential: its group has no authentication, and its own budgets.
        SessionRoutes(services: services).registerLogin(
            on: router.group("v1").add(middleware: RequestDeadlineMiddleware(timeout: services.timeouts.request)))
        let v1 = router.group("v1")
            .add(middleware: RequestDeadlineMiddleware(timeout: services.timeouts.request))
        if let limiter = services.rateLimiter {
            v1.add(middleware: ClientRateLimitMiddleware(limiter: limiter, addresses: services.clientAddress, anonymousPolicy: api.rateLimit))
        }
        v1.add(middleware: AuthenticationMiddleware(authenticator: services.authenticator, failures: services.metrics.authFailures))
        if let limiter = services.rateLimiter {
            v1.add(middleware: RateLimitMiddleware(
                limiter: limiter, resources: api.resources.map(\.descriptor), defaultPolicy: api.rateLimit))
        }
        for resource in api.resources {
            resource.register(v1, services)
        }
        RPCRoute(services: services, methods: api.rpcMethods, maxBatch: api.rpcMaxBatch, openRPC: api.openRPCJSON)
            .register(on: v1)
        if !api.graphQLSDL.isEmpty {
            do {
                try GraphQLEndpoint(
                    services: services, resources: api.resources.map(\.graphQL), topicScopes: api.eventTopicScopes, sdl: api.graphQLSDL,
                    limits: api.graphQLLimits
                ).register(on: v1)
            } catch {
                // The SDL is generated and checked by the codegen tests: a failure here is a bug.
                preconditionFailure("the generated GraphQL schema does not build: \(error)")
            }
        }
        APIKeyRoutes(services: services).register(on: v1)
        AdminRoutes(services: services).register(on: v1)
        ErrorRoutes(services: services).register(on: v1)
        SessionRoutes(services: services).register(on: v1)
        JobRoutes(services: services).register(on: v1)
        WebhookRoutes(services: services).register(on: v1)
        if !api.schedules.isEmpty { ScheduleRoutes(services: services).register(on: v1) }
        EventRoutes(services: services, topicScopes: api.eventTopicScopes).register(on: v1)
        return router
    }

    /// The server process: Postgres pool first, HTTP last, so shutdown drains HTTP first.
    /// `alongside` adds services that run in the same process and share its lifecycle (the
    /// job worker of `serve --with-worker`), started after the pools and stopped before them.
    public static func makeApplication(
        api: APIDefinition, configuration: ServerConfiguration, metrics: TrellisMetrics = TrellisMetrics(), logger: Logger,
        alongside: (TrellisServices) async throws -> [any Service] = { _ in [] }
    ) async throws -> some ApplicationProtocol {
        let (services, background) = try await makeServices(api: api, configuration: configuration, metrics: metrics, logger: logger)
        let router = makeRouter(
            api: api, services: services, swaggerUIDirectory: configuration.swaggerUIDirectory, cors: configuration.cors,
            metricsToken: configuration.metricsToken, graphiQLDirectory: configuration.graphiQLDirectory)
        var app = Application(
            router: router,
            server: .http1(
                timeouts: configuration.timeouts, webSocket: WebSocketLimits(pingInterval: .seconds(configuration.eventsHeartbeat)),
                router: router, onStall: { [stalled = metrics.stalledConnections] in stalled.increment() }),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "Trellis"),
            logger: logger)
        app.addServices(background)
        app.addServices(try await alongside(services))
        return app
    }

    /// The HTTP side of a `trellis worker` process: `/metrics` (with `metricsToken` as for the
    /// server) and `/health/live|ready`, nothing else.
    public static func makeWorkerRouter(services: TrellisServices, metricsToken: String?) -> Router<TrellisRequestContext> {
        let router = Router(context: TrellisRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ProblemMiddleware(problems: services.metrics.problems, errors: services.errors))
        MetricsRoute(metrics: services.metrics, token: metricsToken).register(on: router)
        PlatformRoutes(services: services, openAPIJSON: ByteBuffer(), openAPIYAML: ByteBuffer(), swaggerUIDirectory: nil)
            .registerHealth(on: router)
        return router
    }

    /// The shared services of a server process (or of a worker process, which serves no HTTP)
    /// and the background services they need running, in start order: the Postgres pool, the
    /// API-key cache refresher, the audit sealer, Redis, realtime, the job-queue monitor (the span
    /// exporter first of all, when tracing).
    public static func makeServices(
        api: APIDefinition, configuration: ServerConfiguration, metrics: TrellisMetrics = TrellisMetrics(), logger: Logger
    ) async throws -> (services: TrellisServices, background: [any Service]) {
        var jwt: JWTAuthenticator?
        if let jwtConfiguration = configuration.jwt { jwt = try await JWTAuthenticator(jwtConfiguration) }
        let postgres = PostgresClient(
            configuration: try serverPoolConfiguration(
                configuration.databaseURL, size: configuration.poolSize, timeouts: configuration.timeouts,
                planCacheMode: configuration.planCacheMode, openAtStart: true),
            backgroundLogger: logger)
        var services = TrellisServices(
            api: api, postgres: postgres, jwt: jwt, timeouts: configuration.timeouts,
            workspaceGate: WorkspaceGate(limit: configuration.workspaceConnections, soleLimit: configuration.soleWorkspaceConnections),
            metrics: metrics)
        services.cursorKeys = CursorKeys.forServer(configuration.cursorKeys, logger: logger)
        services.preparedShapes = PreparedShapes(limit: configuration.preparedStatements)
        if configuration.pipeline {
            services.pipeline = try pipeline(
                configuration.databaseURL, timeouts: configuration.timeouts, planCacheMode: configuration.planCacheMode, logger: logger)
        }
        let redisMetrics = metrics.redis
        let redis = configuration.redis.map {
            RedisClient(configuration: $0, logger: logger) { elapsed, failed in redisMetrics.record(elapsed, failed: failed) }
        }
        if let redis { redisMetrics.watch(redis) }
        if configuration.rateLimits {
            let decisions = metrics.rateLimits
            services.rateLimiter = RateLimiter(redis: redis, logger: logger) { allowed, fallback in
                decisions.increment(allowed ? "allowed" : "refused")
                if fallback { decisions.increment("fallback") }
            }
        }
        if configuration.cache, let redis {
            let reads = metrics.cacheReads
            services.readCache = ReadCache(redis: redis, resources: api.resources.map(\.descriptor), logger: logger) { outcome in
                reads.increment(outcome.rawValue)
            }
        }
        services.useSessions(
            redis.map {
                SessionStore(redis: $0, idleTimeout: configuration.sessionIdleTimeout, maxLifetime: configuration.sessionMaxLifetime)
            },
            hasher: PasswordHasher(cost: configuration.passwordCost),
            limiter: services.rateLimiter ?? RateLimiter(redis: redis, logger: logger), limits: configuration.loginLimits)
        var realtimeServices: [any Service] = []
        if configuration.events, let redis, let redisConfiguration = configuration.redis {
            let subscriber = RedisSubscriber(configuration: redisConfiguration, logger: logger)
            let stream = EventStream(redis: redis, history: configuration.eventHistory)
            let realtime = Realtime(
                stream: stream,
                relay: EventRelay(
                    postgres: postgres, stream: stream, topicScopes: api.eventTopicScopes, logger: logger,
                    leaseTimeout: configuration.timeouts.poolLease, webhooks: configuration.webhooks),
                hub: EventHub(subscriber: subscriber, logger: logger, maxStreams: configuration.eventsMaxStreams),
                heartbeat: .seconds(configuration.eventsHeartbeat), maxDuration: .seconds(configuration.eventsMaxDuration))
            services.realtime = realtime
            // Shut down in reverse: the relay, then the subscriber, whose end ends the hub's reading.
            realtimeServices = [realtime.hub, subscriber, realtime.relay]
            metrics.watch(realtime)
        }
        services.clientAddress = ClientAddress(trustedProxies: configuration.trustedProxies)
        services.webhooks = configuration.webhooks
        metrics.pool.setMaximumConnections(configuration.poolSize)
        var background: [any Service] = []
        if let export = configuration.traceExport {
            // First to start, last to stop: the spans of everything else's shutdown are sent.
            let (tracer, exporter) = try export.makeTracer(logger: logger)
            services.tracer = tracer
            background.append(exporter)
        }
        background.append(postgres)
        if let pipeline = services.pipeline {
            metrics.pipeline.watch(pipeline)
            background.append(pipeline)
        }
        background += [
            APIKeyCacheRefresher(services: services, logger: logger), AuditSealer(postgres: postgres, logger: logger),
        ] as [any Service]
        if let redis { background.append(redis) }
        background += realtimeServices
        let lease = configuration.timeouts.poolLease
        if !api.jobs.isEmpty {
            var monitor = JobQueueMonitor(postgres: postgres, metrics: metrics.jobs, logger: logger)
            monitor.leaseTimeout = lease
            background.append(monitor)
        }
        if !api.dependencies.isEmpty {
            let health = DependencyHealth(api.dependencies)
            services.dependencyHealth = health
            background.append(DependencyProber(health: health, metrics: metrics.operations, logger: logger, tracer: services.tracer))
        }
        var errorWriter = ErrorTrackerService(
            tracker: services.errors, postgres: postgres, sentry: configuration.sentryDSN.map { SentryForwarder(dsn: $0, logger: logger, tracer: services.tracer) },
            metrics: metrics.operations, logger: logger)
        errorWriter.leaseTimeout = lease
        var operations = OperationsMonitor(
            postgres: postgres, metrics: metrics.operations, circuitCooldown: configuration.webhooks?.circuitCooldown,
            auditInterval: configuration.auditVerifyInterval, logger: logger)
        operations.leaseTimeout = lease
        background += [errorWriter, operations] as [any Service]
        return (services, background)
    }

    /// Makes NIO's event loops Swift Concurrency's global executor for this process
    /// (`TRELLIS_EVENT_LOOP_EXECUTOR`, on by default in `trellis serve`). A request is then
    /// read, handled and answered on the thread that owns its socket, and a Postgres answer
    /// resumes its request on an event loop, instead of every step hopping between the event
    /// loops and the cooperative pool (measured in Benchmarks/README.md, `request-path`).
    /// Call it once, first thing, before the server starts; returns whether it took effect.
    /// Handlers must not block a thread (they must not on the cooperative pool either).
    @discardableResult
    public static func useEventLoopsAsGlobalExecutor() -> Bool {
        NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()
    }

    /// The server role's pool: at most `size` connections, each starting with the
    /// `statement_timeout`, `lock_timeout` and `idle_in_transaction_session_timeout` of
    /// `timeouts`, so no statement, lock wait or forgotten transaction runs unbounded.
    /// `planCacheMode` is Postgres's `plan_cache_mode` for these connections
    /// (``ServerConfiguration/planCacheMode``). `openAtStart` opens all `size` connections at
    /// start and keeps them (`trellis serve`); otherwise they open on demand (tests, which run
    /// hundreds of small pools side by side).
    /// The pipeline the one-statement reads use (``ServerConfiguration/pipeline``), with the
    /// pool's session settings and TLS (the URL's `sslmode`, as the pool has it).
    /// `openAtStart` false opens each connection when a read first wants it (tests).
    public static func pipeline(
        _ databaseURL: String, timeouts: Timeouts, planCacheMode: String = ServerConfiguration.defaultPlanCacheMode,
        openAtStart: Bool = true, logger: Logger
    ) throws -> PostgresPipeline {
        var pipeline = try DatabaseURL(databaseURL).pipelineConfiguration(
            startupParameters: sessionSettings(timeouts: timeouts, planCacheMode: planCacheMode))
        // Past the server's own statement_timeout, which ends a slow statement first.
        pipeline.answerTimeout = timeouts.statement + .seconds(15)
        pipeline.openAtStart = openAtStart
        return PostgresPipeline(configuration: pipeline, logger: logger)
    }

    public static func serverPoolConfiguration(
        _ databaseURL: String, size: Int, timeouts: Timeouts, planCacheMode: String = ServerConfiguration.defaultPlanCacheMode,
        openAtStart: Bool = false
    ) throws -> PostgresClient.Configuration {
        var configuration = try DatabaseURL(databaseURL).clientConfiguration
        configuration.options.maximumConnections = size
        // postgres-nio's pool arms a keep-alive timer, and an idle timer for connections above
        // the minimum, each time a connection goes back to the pool: two sleeping tasks per
        // request, which cost more CPU than a cached read. No keep-alive (a dead connection
        // fails its next statement: a 503 the client may retry), and with `openAtStart` every
        // connection is opened at start and kept, so no idle timer is armed either.
        configuration.options.keepAliveBehavior = nil
        if openAtStart { configuration.options.minimumConnections = size }
        configuration.options.additionalStartupParameters += sessionSettings(timeouts: timeouts, planCacheMode: planCacheMode)
        return configuration
    }

    /// What every server connection, pooled or pipelined, sets at login: the timeouts'
    /// Postgres settings and `plan_cache_mode` (unless `auto`, Postgres's own default).
    static func sessionSettings(timeouts: Timeouts, planCacheMode: String) -> [(String, String)] {
        var settings = timeouts.postgresSessionSettings
        if planCacheMode != "auto" { settings.append(("plan_cache_mode", planCacheMode)) }
        return settings
    }
}
