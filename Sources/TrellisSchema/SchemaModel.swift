import Foundation
import TrellisContract

/// Everything under `schema/`: the resources, the job types and the API-wide settings,
/// validated and with every default filled in. Resources are sorted by name so that
/// everything generated from the model is deterministic.
public struct SchemaModel: Sendable, Hashable {
    public var api: APISettings
    public var resources: [Resource]
    public var jobs: [JobType]
    public var schedules: [Schedule]

    public init(api: APISettings, resources: [Resource], jobs: [JobType], schedules: [Schedule]) {
        self.api = api
        self.resources = resources
        self.jobs = jobs
        self.schedules = schedules
    }

    public func resource(table: String) -> Resource? { resources.first { $0.table == table } }
}

/// A literal value from YAML (`default:`, `example:`), kept as JSON.
public indirect enum JSONLiteral: Sendable, Hashable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONLiteral])
    case object([(String, JSONLiteral)])

    public static func == (lhs: JSONLiteral, rhs: JSONLiteral) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.integer(a), .integer(b)): return a == b
        case let (.number(a), .number(b)): return a == b
        case let (.string(a), .string(b)): return a == b
        case let (.array(a), .array(b)): return a == b
        case let (.object(a), .object(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        default: return false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case let .bool(v): hasher.combine(v)
        case let .integer(v): hasher.combine(v)
        case let .number(v): hasher.combine(v)
        case let .string(v): hasher.combine(v)
        case let .array(v): hasher.combine(v)
        case let .object(v):
            for (k, value) in v {
                hasher.combine(k)
                hasher.combine(value)
            }
        }
    }
}

// MARK: - Resources

public enum Tenancy: String, Sendable, Hashable, CaseIterable {
    /// Rows belong to a workspace; RLS on `workspace_id`.
    case workspace
    /// Platform-wide rows, admin only.
    case global
}

public enum Operation: String, Sendable, Hashable, CaseIterable, Comparable {
    case list, get, create, update, delete, search

    public static func < (lhs: Operation, rhs: Operation) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

public enum SearchWeight: String, Sendable, Hashable, CaseIterable {
    case A, B, C, D
}

public enum OnDelete: String, Sendable, Hashable, CaseIterable {
    case cascade
    case setNull = "set_null"
    case restrict
    case noAction = "no_action"

    /// The SQL spelling, e.g. `SET NULL`.
    public var sql: String {
        switch self {
        case .cascade: "CASCADE"
        case .setNull: "SET NULL"
        case .restrict: "RESTRICT"
        case .noAction: "NO ACTION"
        }
    }
}

/// The type of a field or of an array's items, with the constraints that apply to a value.
public struct ValueSpec: Sendable, Hashable {
    public var type: FieldType
    public var minLength: Int?
    public var maxLength: Int?
    public var pattern: String?
    public var minimum: Double?
    public var maximum: Double?
    public var minItems: Int?
    public var maxItems: Int?

    public init(
        type: FieldType, minLength: Int? = nil, maxLength: Int? = nil, pattern: String? = nil,
        minimum: Double? = nil, maximum: Double? = nil, minItems: Int? = nil, maxItems: Int? = nil
    ) {
        self.type = type
        self.minLength = minLength
        self.maxLength = maxLength
        self.pattern = pattern
        self.minimum = minimum
        self.maximum = maximum
        self.minItems = minItems
        self.maxItems = maxItems
    }
}

public indirect enum FieldType: Sendable, Hashable {
    case string
    case text
    case integer
    case number
    case boolean
    case uuid
    case email
    case url
    case datetime
    case date
    case enumeration([String])
    case object
    case array(items: ValueSpec)

    /// The YAML spelling of the type (`enum` for `.enumeration`).
    public var name: String {
        switch self {
        case .string: "string"
        case .text: "text"
        case .integer: "integer"
        case .number: "number"
        case .boolean: "boolean"
        case .uuid: "uuid"
        case .email: "email"
        case .url: "url"
        case .datetime: "datetime"
        case .date: "date"
        case .enumeration: "enum"
        case .object: "object"
        case .array: "array"
        }
    }

    /// Every type name the schema language accepts.
    public static let names = [
        "string", "text", "integer", "number", "boolean", "uuid", "email", "url",
        "datetime", "date", "enum", "object", "array",
    ]

    /// Types whose values are strings in JSON and to which `min_length`, `max_length`, `pattern` apply.
    public var isStringLike: Bool {
        switch self {
        case .string, .text, .email, .url: true
        default: false
        }
    }

    public var isNumeric: Bool {
        switch self {
        case .integer, .number: true
        default: false
        }
    }
}

public struct Field: Sendable, Hashable {
    /// snake_case name as written in YAML; also the column and JSON key.
    public var name: String
    public var spec: ValueSpec
    public var description: String?
    public var required: Bool
    public var nullable: Bool
    public var defaultValue: JSONLiteral?
    public var unique: Bool
    public var filter: Bool
    public var search: SearchWeight?
    public var readOnly: Bool
    public var writeOnce: Bool
    public var pii: Bool
    /// Table name of the referenced resource.
    public var references: String?
    public var onDelete: OnDelete?
    public var example: JSONLiteral?
    public var deprecated: Bool
    public var location: SourceLocation

    public init(
        name: String, spec: ValueSpec, description: String? = nil, required: Bool = false,
        nullable: Bool = false, defaultValue: JSONLiteral? = nil, unique: Bool = false,
        filter: Bool = false, search: SearchWeight? = nil, readOnly: Bool = false,
        writeOnce: Bool = false, pii: Bool = false, references: String? = nil,
        onDelete: OnDelete? = nil, example: JSONLiteral? = nil, deprecated: Bool = false,
        location: SourceLocation
    ) {
        self.name = name
        self.spec = spec
        self.description = description
        self.required = required
        self.nullable = nullable
        self.defaultValue = defaultValue
        self.unique = unique
        self.filter = filter
        self.search = search
        self.readOnly = readOnly
        self.writeOnce = writeOnce
        self.pii = pii
        self.references = references
        self.onDelete = onDelete
        self.example = example
        self.deprecated = deprecated
        self.location = location
    }

    public var type: FieldType { spec.type }

    /// True when the stored column can hold NULL: the field is neither required nor defaulted,
    /// or it is explicitly `nullable`.
    public var isOptional: Bool { nullable || (!required && defaultValue == nil) }
}

public struct IndexColumn: Sendable, Hashable {
    public var name: String
    public var descending: Bool

    public init(name: String, descending: Bool = false) {
        self.name = name
        self.descending = descending
    }
}

public struct Index: Sendable, Hashable {
    public var columns: [IndexColumn]
    public var unique: Bool
    /// A raw SQL predicate for a partial index, e.g. `is_active`.
    public var whereClause: String?
    public var location: SourceLocation

    public init(columns: [IndexColumn], unique: Bool = false, whereClause: String? = nil, location: SourceLocation) {
        self.columns = columns
        self.unique = unique
        self.whereClause = whereClause
        self.location = location
    }
}

public struct Scopes: Sendable, Hashable {
    public var read: String
    public var write: String

    public init(read: String, write: String) {
        self.read = read
        self.write = write
    }
}

public struct CachePolicy: Sendable, Hashable {
    /// Seconds.
    public var ttl: Int
    /// Seconds.
    public var staleWhileRevalidate: Int

    public init(ttl: Int, staleWhileRevalidate: Int = 0) {
        self.ttl = ttl
        self.staleWhileRevalidate = staleWhileRevalidate
    }
}

public struct RateLimit: Sendable, Hashable {
    public var perMinute: Int
    public var burst: Int

    public init(perMinute: Int, burst: Int) {
        self.perMinute = perMinute
        self.burst = burst
    }
}

public struct Deprecation: Sendable, Hashable {
    /// `YYYY-MM-DD`.
    public var sunset: String
    public var link: String?

    public init(sunset: String, link: String? = nil) {
        self.sunset = sunset
        self.link = link
    }
}

/// `retention` on a resource: rows older than `after` seconds (by `created_at`) are deleted, or
/// moved to `archived_rows`, by the hourly `trellis.retention` job.
public struct RetentionPolicy: Sendable, Hashable {
    public enum Action: String, Sendable, Hashable {
        case delete
        case archive
    }

    public var action: Action
    /// Seconds after `created_at`: at least a day, at most 100 years.
    public var after: Int
    public static let shortest = 86_400
    public static let longest = 100 * 365 * 86_400

    /// `90 days`, `36 hours`: for documents.
    public static func describe(seconds: Int) -> String {
        if seconds % 86_400 == 0 { return seconds == 86_400 ? "1 day" : "\(seconds / 86_400) days" }
        if seconds % 3600 == 0 { return "\(seconds / 3600) hours" }
        return "\(seconds) seconds"
    }

    public init(action: Action, after: Int) {
        self.action = action
        self.after = after
    }
}

public struct Resource: Sendable, Hashable {
    /// PascalCase type name, e.g. `Agent`.
    public var name: String
    public var description: String?
    /// Table name, default snake_case plural of `name`.
    public var table: String
    /// URL path segment under `/v1`, default `table`.
    public var path: String
    public var tenancy: Tenancy
    /// Fields in the order they were declared.
    public var fields: [Field]
    public var indexes: [Index]
    /// Allowed sort keys (column names); `created_at` is always allowed and is the default.
    public var sort: [String]
    public var operations: [Operation]
    public var scopes: Scopes
    public var cache: CachePolicy?
    public var rateLimit: RateLimit?
    public var events: Bool
    public var audit: Bool
    public var deprecated: Deprecation?
    /// `retention`: how long rows are kept.
    public var retention: RetentionPolicy?
    /// The schema file, relative to the package, e.g. `schema/agents.yaml`.
    public var file: String
    public var location: SourceLocation

    public init(
        name: String, description: String? = nil, table: String, path: String,
        tenancy: Tenancy = .workspace, fields: [Field], indexes: [Index] = [],
        sort: [String] = ["created_at"], operations: [Operation] = Operation.allCases,
        scopes: Scopes, cache: CachePolicy? = nil, rateLimit: RateLimit? = nil,
        events: Bool = false, audit: Bool = false, deprecated: Deprecation? = nil, retention: RetentionPolicy? = nil,
        file: String, location: SourceLocation
    ) {
        self.retention = retention
        self.name = name
        self.description = description
        self.table = table
        self.path = path
        self.tenancy = tenancy
        self.fields = fields
        self.indexes = indexes
        self.sort = sort
        self.operations = operations
        self.scopes = scopes
        self.cache = cache
        self.rateLimit = rateLimit
        self.events = events
        self.audit = audit
        self.deprecated = deprecated
        self.file = file
        self.location = location
    }

    public func field(named name: String) -> Field? { fields.first { $0.name == name } }

    /// Fields with a `search` weight, in declaration order.
    public var searchFields: [Field] { fields.filter { $0.search != nil } }
}

// MARK: - Jobs

public struct Backoff: Sendable, Hashable {
    /// Seconds.
    public var base: Int
    /// Seconds.
    public var cap: Int

    public init(base: Int, cap: Int) {
        self.base = base
        self.cap = cap
    }
}

public struct JobType: Sendable, Hashable {
    /// Dotted snake_case job name, e.g. `agents.generate_summary`.
    public var name: String
    public var description: String?
    public var payload: [Field]
    public var queue: String
    public var priority: Int
    public var maxAttempts: Int
    public var backoff: Backoff
    /// Seconds.
    public var timeout: Int
    /// Seconds; nil when jobs of this type are not unique.
    public var uniqueFor: Int?
    public var location: SourceLocation

    public init(
        name: String, description: String? = nil, payload: [Field], queue: String = "default",
        priority: Int = 0, maxAttempts: Int = 20, backoff: Backoff = Backoff(base: 15, cap: 3600),
        timeout: Int = 300, uniqueFor: Int? = nil, location: SourceLocation
    ) {
        self.name = name
        self.description = description
        self.payload = payload
        self.queue = queue
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.backoff = backoff
        self.timeout = timeout
        self.uniqueFor = uniqueFor
        self.location = location
    }
}

public struct Schedule: Sendable, Hashable {
    /// What a tick does while the jobs of the schedule's previous tick are still to run.
    public enum Overlap: String, Sendable, Hashable, CaseIterable {
        /// The tick is recorded as skipped and enqueues nothing.
        case skip
        /// The tick enqueues its jobs anyway.
        case queue
    }

    /// The schedule's name (`trellis jobs run-schedule NAME`); the job's name unless given.
    public var name: String
    /// Name of the job type this schedule enqueues.
    public var job: String
    public var cron: CronExpression
    /// IANA time zone name, default `UTC`.
    public var timeZone: String
    public var overlap: Overlap
    public var location: SourceLocation

    public init(
        name: String? = nil, job: String, cron: CronExpression, timeZone: String = "UTC", overlap: Overlap = .skip,
        location: SourceLocation
    ) {
        self.name = name ?? job
        self.job = job
        self.cron = cron
        self.timeZone = timeZone
        self.overlap = overlap
        self.location = location
    }
}

// MARK: - API settings

public struct ServerEntry: Sendable, Hashable {
    public var url: String
    public var description: String?

    public init(url: String, description: String? = nil) {
        self.url = url
        self.description = description
    }
}

/// An external service the app relies on (`dependencies` in api.yaml, e.g. an AI provider's
/// status URL): the server probes it in the background and `/health/ready` reports it.
public struct DependencySettings: Sendable, Hashable {
    /// `[a-z][a-z0-9_]*`, unique: the key under `checks.dependencies` in `/health/ready`.
    public var name: String
    /// An http or https URL, probed with a GET; a 2xx or 3xx answer is up.
    public var url: String
    /// Seconds between probes (5 to 3600, default 30).
    public var interval: Int
    /// Seconds a probe may take (1 to 60, default 5, less than `interval`).
    public var timeout: Int

    public init(name: String, url: String, interval: Int = 30, timeout: Int = 5) {
        self.name = name
        self.url = url
        self.interval = interval
        self.timeout = timeout
    }
}

public struct CORSSettings: Sendable, Hashable {
    public var allowedOrigins: [String]
    public var allowCredentials: Bool
    /// Seconds.
    public var maxAge: Int

    public init(allowedOrigins: [String] = [], allowCredentials: Bool = false, maxAge: Int = 600) {
        self.allowedOrigins = allowedOrigins
        self.allowCredentials = allowCredentials
        self.maxAge = maxAge
    }
}

/// `api.yaml` `graphql`: the limits every GraphQL document is checked against before it runs.
public struct GraphQLSettings: Sendable, Hashable {
    /// Deepest field nesting (root fields are depth 1).
    public var maxDepth = 10
    /// The most work one query may ask for: each field 1, a connection's nodes `first` times.
    public var maxComplexity = 5_000
    public var maxAliases = 30
    /// Bytes.
    public var maxDocumentSize = 32_768
    /// Whether `__schema` and `__type` are answered.
    public var introspection = true

    public init() {}
}

public struct APISettings: Sendable, Hashable {
    public var title: String
    public var version: String
    public var description: String?
    public var servers: [ServerEntry]
    /// Bytes; default 1 MiB, at most ``largestBodySize``.
    public var maxBodySize: Int
    /// The largest `body_size` a schema may set: 16 MiB.
    public static let largestBodySize = 16 << 20
    public var defaultPageSize: Int
    public var maxPageSize: Int
    public var cors: CORSSettings
    public var rateLimit: RateLimit
    /// The most calls one JSON-RPC batch may hold (`limits.rpc_batch`, default 50, 1 to
    /// ``largestRPCBatch``).
    public var rpcMaxBatch: Int = 50
    /// `graphql`: the GraphQL endpoint's limits.
    public var graphQL = GraphQLSettings()
    /// `dependencies`: external services `/health/ready` reports on.
    public var dependencies: [DependencySettings] = []
    public static let largestRPCBatch = 1000

    public init(
        title: String = "Trellis API", version: String = "1.0.0", description: String? = nil,
        servers: [ServerEntry] = [], maxBodySize: Int = 1_048_576, defaultPageSize: Int = 20,
        maxPageSize: Int = 100, cors: CORSSettings = CORSSettings(),
        rateLimit: RateLimit = RateLimit(perMinute: 1200, burst: 100)
    ) {
        self.title = title
        self.version = version
        self.description = description
        self.servers = servers
        self.maxBodySize = maxBodySize
        self.defaultPageSize = defaultPageSize
        self.maxPageSize = maxPageSize
        self.cors = cors
        self.rateLimit = rateLimit
    }
}
