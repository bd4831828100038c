import Hummingbird

/// A generated resource, type-erased so the generated code can hand the runtime a list.
public struct RegisteredResource: Sendable {
    public let descriptor: ResourceDescriptor
    let register: @Sendable (RouterGroup<TrellisRequestContext>, TrellisServices) -> Void
    /// Its JSON-RPC methods (`agents.get`, …), by name.
    let rpcMethods: [(String, RPCMethod)]
    /// Its GraphQL type and service calls.
    let graphQL: GraphQLResourceOps

    public init<R: Resource>(_ type: R.Type) {
        descriptor = R.descriptor
        register = { group, services in ResourceRoutes<R>(services: services).register(on: group) }
        rpcMethods = ResourceRPC<R>().methods
        graphQL = GraphQLResourceOps(R.self)
    }
}

/// What the generator produced from `schema/`, handed to the runtime in one value:
/// resources, the OpenAPI document, limits and the tables `migrate plan` compares with.
public struct APIDefinition: Sendable {
    public var resources: [RegisteredResource]
    public var openAPIJSON: String
    public var openAPIYAML: String
    /// The OpenRPC document of `POST /v1/rpc`, answered by `rpc.discover`.
    public var openRPCJSON: String
    /// The GraphQL schema of `/v1/graphql` (SDL); empty: no GraphQL endpoint.
    public var graphQLSDL: String
    /// The GraphQL endpoint's limits.
    public var graphQLLimits: GraphQLLimits
    public var maxBodySize: Int
    public var pageLimits: PageLimits
    /// `api.yaml`'s `cors`; `TRELLIS_CORS_ORIGINS` overrides it.
    public var cors: CORSPolicy
    public var tables: [TableSpec]
    /// The most calls one JSON-RPC batch may hold (`api.yaml` `limits.rpc_batch`).
    public var rpcMaxBatch: Int
    /// `api.yaml`'s `rate_limit`: per credential, for every `/v1` route whose resource sets none.
    public var rateLimit: RateLimitPolicy
    /// The job types of `jobs.yaml`.
    public var jobs: [JobDefinition]
    /// The cron schedules of `jobs.yaml`.
    public var schedules: [ScheduleDefinition]
    /// External services of api.yaml's `dependencies`, probed for `/health/ready`.
    public var dependencies: [HealthDependency]
    /// The resources' `retention` rules, applied by the built-in `trellis.retention` job.
    public var retention: [RetentionRule]

    public init(
        resources: [RegisteredResource], openAPIJSON: String, openAPIYAML: String, openRPCJSON: String = "{}", graphQLSDL: String = "",
        graphQLLimits: GraphQLLimits = GraphQLLimits(), maxBodySize: Int,
        pageLimits: PageLimits, cors: CORSPolicy = .disabled, tables: [TableSpec], rpcMaxBatch: Int = 50,
        rateLimit: RateLimitPolicy = RateLimitPolicy(perMinute: 1200, burst: 100), jobs: [JobDefinition] = [],
        schedules: [ScheduleDefinition] = [], dependencies: [HealthDependency] = [], retention: [RetentionRule] = []
    ) {
        self.dependencies = dependencies
        self.retention = retention
        self.rateLimit = rateLimit
        self.jobs = jobs
        self.schedules = schedules
        self.rpcMaxBatch = rpcMaxBatch
        self.openRPCJSON = openRPCJSON
        self.graphQLSDL = graphQLSDL
        self.graphQLLimits = graphQLLimits
        self.resources = resources
        self.openAPIJSON = openAPIJSON
        self.openAPIYAML = openAPIYAML
        self.maxBodySize = maxBodySize
        self.pageLimits = pageLimits
        self.cors = cors
        self.tables = tables
    }
}

extension APIDefinition {
    /// Every JSON-RPC method this API answers: each resource's, and `jobs.*` when it has job types.
    var rpcMethods: [(String, RPCMethod)] {
        resources.flatMap(\.rpcMethods) + (jobs.isEmpty ? [] : JobRPC().methods)
    }
}

/// The DDL the schema needs for one table, written by the generator; `migrate plan`
/// compares it with the database by name and emits what is missing.
public struct TableSpec: Sendable, Hashable {
    public struct Column: Sendable, Hashable {
        public var name: String
        /// The column definition as it appears in CREATE TABLE / ADD COLUMN.
        public var definition: String

        public init(name: String, definition: String) {
            self.name = name
            self.definition = definition
        }
    }

    public struct Index: Sendable, Hashable {
        public var name: String
        /// The full `CREATE INDEX …` statement.
        public var create: String

        public init(name: String, create: String) {
            self.name = name
            self.create = create
        }
    }

    public struct Constraint: Sendable, Hashable {
        public var name: String
        /// e.g. `UNIQUE (workspace_id, name)`.
        public var definition: String
        /// Foreign keys are added after every table exists, so cycles and order do not matter.
        public var isForeignKey: Bool

        public init(name: String, definition: String, isForeignKey: Bool = false) {
            self.name = name
            self.definition = definition
            self.isForeignKey = isForeignKey
        }
    }

    /// A row-level security policy; tables with policies also get ENABLE + FORCE ROW LEVEL SECURITY.
    public struct Policy: Sendable, Hashable {
        public var name: String
        /// The full `CREATE POLICY …` statement.
        public var create: String

        public init(name: String, create: String) {
            self.name = name
            self.create = create
        }
    }

    /// A row trigger, such as the one that bumps `version` on every update of a row.
    public struct Trigger: Sendable, Hashable {
        public var name: String
        /// The full `CREATE TRIGGER …` statement.
        public var create: String

        public init(name: String, create: String) {
            self.name = name
            self.create = create
        }
    }

    public var name: String
    public var columns: [Column]
    public var constraints: [Constraint]
    public var indexes: [Index]
    public var policies: [Policy]
    public var triggers: [Trigger]

    public init(
        name: String, columns: [Column], constraints: [Constraint], indexes: [Index], policies: [Policy] = [],
        triggers: [Trigger] = []
    ) {
        self.name = name
        self.columns = columns
        self.constraints = constraints
        self.indexes = indexes
        self.policies = policies
        self.triggers = triggers
    }
}
