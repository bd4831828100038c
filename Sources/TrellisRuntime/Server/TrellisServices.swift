import Foundation
import Hummingbird
import Logging
import PostgresNIO
import Tracing
import TrellisPostgres

/// The shared services every handler uses. Built once at start-up.
public struct TrellisServices: Sendable {
    public let postgres: PostgresClient
    public private(set) var authenticator: Authenticator
    /// Email and password for a session; its sessions are those of ``authenticator``
    /// (``useSessions(_:limiter:)``).
    public private(set) var login: LoginService
    /// Every scope this API knows; keys asking for others are refused.
    public let scopes: ScopeCatalog
    public let maxBodySize: Int
    public let pageLimits: PageLimits
    /// Deadlines and lease limits every request obeys.
    public let timeouts: Timeouts
    /// How many database operations each workspace may run at once on this instance.
    public let workspaceGate: WorkspaceGate
    /// Sign and verify list cursors; a random key unless the server sets its configured ones.
    public var cursorKeys = CursorKeys.ephemeral()
    /// Which run-time statement shapes run prepared (``PreparedShapes``); the server sets its configured limit.
    public var preparedShapes = PreparedShapes(limit: 256)
    /// Where one-statement reads go instead of the pool (``TenantStatement``); nil: the pool.
    public var pipeline: PostgresPipeline?
    /// The Prometheus registry `GET /metrics` renders, and the handles the pipeline records into.
    public let metrics: TrellisMetrics
    /// Decides every authenticated `/v1` request's rate limit; nil: no limits (`TRELLIS_RATE_LIMITS=off`,
    /// and tests that do not test them).
    public var rateLimiter: RateLimiter?
    /// Caches `get` and `list` answers of resources with a schema `cache` policy in Redis; nil:
    /// every read goes to Postgres (no `REDIS_URL`, `TRELLIS_CACHE=off`, tests that do not test it).
    public var readCache: ReadCache?
    /// Realtime events: every committed write of a resource with `events: true` leaves an
    /// event for `GET /v1/events`; nil: none (no `REDIS_URL`, `TRELLIS_EVENTS=off`, tests that
    /// do not test them).
    public var realtime: Realtime?
    /// The most a tenant may give a key it creates when its own key has no `rate_limit`: the
    /// lowest limit the API sets (`api.yaml`'s and every resource's), so no new key outruns
    /// its creator anywhere. Nil: unchecked (no API definition).
    public var keyRateLimitCeiling: RateLimitPolicy?
    /// The job queue's tenant side: enqueue, get, list, cancel, retry (``JobQueue``).
    public var jobs = JobQueue(definitions: [])
    /// The cron schedules: fired by workers, listed and run by hand through the admin API.
    public var scheduler = JobScheduler(schedules: [], queue: JobQueue(definitions: []))
    /// How a caller's address is found (`TRELLIS_TRUSTED_PROXIES`), for the limits of callers without a credential.
    public var clientAddress = ClientAddress()
    /// Webhook endpoints and deliveries; nil: this deployment has none (no key configured).
    public var webhooks: WebhookSettings?
    /// Every 5xx and failed job attempt, grouped for `error_events` (``ErrorTrackerService``
    /// writes them; without it they wait, at most ``ErrorTracker/capacity`` fingerprints).
    public var errors: ErrorTracker
    /// The resources' retention rules (the `trellis.retention` job applies them).
    public var retention: [RetentionRule] = []
    /// The last probe of each of api.yaml's `dependencies` (``DependencyProber``), for `/health/ready`.
    public var dependencyHealth: DependencyHealth?
    /// Traces requests and job runs (``ServerConfiguration/traceExport``); nil: no tracing.
    public var tracer: (any Tracer)?

    public init(
        postgres: PostgresClient, authenticator: Authenticator, scopes: ScopeCatalog, maxBodySize: Int, pageLimits: PageLimits,
        timeouts: Timeouts = Timeouts(), workspaceGate: WorkspaceGate = WorkspaceGate(limit: 10),
        metrics: TrellisMetrics = TrellisMetrics()
    ) {
        self.postgres = postgres
        self.authenticator = authenticator
        self.scopes = scopes
        self.maxBodySize = maxBodySize
        self.pageLimits = pageLimits
        self.timeouts = timeouts
        self.workspaceGate = workspaceGate
        self.metrics = metrics
        let counted = metrics.operations.errors
        errors = ErrorTracker { counted.increment($0.kind.rawValue) }
        login = LoginService(sessions: nil, hasher: PasswordHasher(), limiter: RateLimiter(redis: nil, logger: Logger(label: "trellis.login")))
    }

    /// Keeps sessions in `store` (nil: none, login is a 503), hashing with `hasher` and
    /// limiting login attempts with `limiter` (the API's, when rate limits are on, else a
    /// limiter of its own over the same Redis: login is never unlimited).
    public mutating func useSessions(
        _ store: SessionStore?, hasher: PasswordHasher = PasswordHasher(), limiter: RateLimiter, limits: LoginLimits = LoginLimits()
    ) {
        authenticator.sessions = store
        login = LoginService(sessions: store, hasher: hasher, limiter: limiter, limits: limits)
    }

    /// The services for `api`, with an authenticator over `postgres` (and `jwt`, if configured).
    public init(
        api: APIDefinition, postgres: PostgresClient, jwt: JWTAuthenticator? = nil, keyCache: APIKeyCache = APIKeyCache(),
        timeouts: Timeouts = Timeouts(), workspaceGate: WorkspaceGate = WorkspaceGate(limit: 10),
        metrics: TrellisMetrics = TrellisMetrics()
    ) {
        self.init(
            postgres: postgres, authenticator: Authenticator(postgres: postgres, keyCache: keyCache, jwt: jwt, leaseTimeout: timeouts.poolLease),
            scopes: api.scopeCatalog, maxBodySize: api.maxBodySize, pageLimits: api.pageLimits, timeouts: timeouts,
            workspaceGate: workspaceGate, metrics: metrics)
        keyRateLimitCeiling = api.resources.compactMap(\.descriptor.rateLimit).reduce(api.rateLimit) { $0.lowest($1) }
        jobs = JobQueue(definitions: api.jobs)
        let scheduled = api.scheduledJobs
        scheduler = JobScheduler(schedules: scheduled.schedules, queue: JobQueue(definitions: scheduled.jobs))
        scheduler.leaseTimeout = timeouts.poolLease
        retention = api.retention
    }
}

extension APIDefinition {
    /// The built-in scopes plus every resource's read and write scope.
    public var scopeCatalog: ScopeCatalog {
        ScopeCatalog(resourceScopes: resources.flatMap { [$0.descriptor.readScope, $0.descriptor.writeScope] })
    }
}
