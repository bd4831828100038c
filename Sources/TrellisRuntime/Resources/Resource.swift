import Foundation
import PostgresNIO
import TrellisContract
import TrellisPostgres

/// The operations a resource can expose; the schema's `operations` list (one enum, in the
/// shared contract, so the runtime and the document agree on what each one answers).
public typealias ResourceOperation = TrellisContract.ResourceOperation

/// A column of a resource table as the runtime needs it: its name (also the JSON key)
/// and the SQL type every bound value is cast to.
public struct ColumnDescriptor: Sendable, Hashable {
    public var name: String
    public var sqlType: String

    public init(_ name: String, _ sqlType: String) {
        self.name = name
        self.sqlType = sqlType
    }
}

/// Everything the runtime needs to serve a generated resource. Generated once per
/// resource; read-only at run time.
public struct ResourceDescriptor: Sendable {
    /// PascalCase type name, e.g. `Agent`.
    public var name: String
    public var table: String
    /// Path segment under `/v1`.
    public var path: String
    public var operations: Set<ResourceOperation>
    /// Every column in SELECT order: the implicit ones first, then the fields. Fixed at init:
    /// ``selectList`` and ``getByID`` are built from it once.
    public let columns: [ColumnDescriptor]
    /// The field columns that `Create.insertValues` fills, in that order.
    public var insertColumns: [ColumnDescriptor]
    /// Allowed sort keys; the default order is `-created_at`.
    public var sortKeys: [String]
    /// Unique constraint name -> field name, to name the field in a 409.
    public var uniqueConstraints: [String: String]
    /// Foreign-key constraint name -> field name, to name the field in a 422.
    public var foreignKeys: [String: String]
    /// Field -> the table it references (`swarm_id` -> `swarms`): GraphQL's relations.
    public var references: [String: String]
    /// Text-search configuration for `search`.
    public var searchConfiguration: String
    public var readScope: String
    public var writeScope: String
    /// The schema's `audit: true`: every write is recorded in the audit log.
    public var audited: Bool
    /// The schema's `events: true`: every committed write produces a realtime event
    /// (`agent.created`, …) through the outbox (``EventOutbox``).
    public var events: Bool
    /// The schema's `rate_limit`, per credential; nil: the API's default (`api.yaml`).
    public var rateLimit: RateLimitPolicy?
    /// The schema's `cache`: `get` and `list` answers are cached in Redis; nil: never cached.
    public var cache: ReadCachePolicy?
    /// Fields marked `pii`, redacted in audit entries.
    public var piiFields: Set<String>
    /// Set when the schema marks the resource `deprecated`: its responses carry the headers.
    public var deprecation: ResourceDeprecation?

    public init(
        name: String, table: String, path: String, operations: Set<ResourceOperation>,
        columns: [ColumnDescriptor], insertColumns: [ColumnDescriptor], sortKeys: [String],
        uniqueConstraints: [String: String] = [:], foreignKeys: [String: String] = [:], references: [String: String] = [:],
        searchConfiguration: String = "english", readScope: String, writeScope: String,
        audited: Bool = false, events: Bool = false, rateLimit: RateLimitPolicy? = nil, cache: ReadCachePolicy? = nil, piiFields: Set<String> = [],
        deprecation: ResourceDeprecation? = nil
    ) {
        self.rateLimit = rateLimit
        self.cache = cache
        self.name = name
        self.table = table
        self.path = path
        self.operations = operations
        self.columns = columns
        self.insertColumns = insertColumns
        self.sortKeys = sortKeys
        self.uniqueConstraints = uniqueConstraints
        self.foreignKeys = foreignKeys
        self.references = references
        self.searchConfiguration = searchConfiguration
        self.readScope = readScope
        self.writeScope = writeScope
        self.audited = audited
        self.events = events
        self.piiFields = piiFields
        self.deprecation = deprecation
        selectList = columns.map { quoteIdentifier($0.name) }.joined(separator: ", ")
        getByID = GetByIDStatement(table: table, selectList: selectList)
    }

    /// `agent` for `Agent`, `tool_call` for `ToolCall`: the prefix of audit actions and events.
    public var eventName: String {
        var out = ""
        for (i, c) in name.enumerated() {
            if c.isUppercase, i > 0 { out.append("_") }
            out.append(contentsOf: c.lowercased())
        }
        return out
    }

    public func column(named name: String) -> ColumnDescriptor? { columns.first { $0.name == name } }

    /// `id, workspace_id, …` — the SELECT list, in `columns` order.
    let selectList: String
    /// The prepared `get`'s names and texts (``ResourceByID``).
    let getByID: GetByIDStatement
}

/// One row by `$1` workspace and `$2` id, the prepared `get`: its name and text, alone and
/// wrapped by ``TenantScoped``, built once per resource.
struct GetByIDStatement: Sendable {
    let name: String
    let sql: String
    let scopedName: String
    let scopedSQL: String

    init(table: String, selectList: String) {
        name = "trellis_get_" + table
        sql = "SELECT \(selectList) FROM \(quoteIdentifier(table)) WHERE workspace_id = $1 AND id = $2"
        scopedName = "trellis_scoped_" + name
        scopedSQL = TenantStatement.scopedSQL(sql, workspacePlaceholder: 3, actorPlaceholder: 4)
    }
}

/// A generated model: one row of a resource table, as clients see it.
public protocol Resource: JSONWritable {
    associatedtype Create: ResourceCreate
    associatedtype Patch: ResourcePatch
    associatedtype Filter: ResourceFilter

    static var descriptor: ResourceDescriptor { get }

    /// Decodes a row selected with the descriptor's column list.
    init(row: SQLRow) throws

    var id: UUID { get }
    var version: Int64 { get }
}

/// A validated create body.
public protocol ResourceCreate: Sendable {
    /// Validates a raw JSON body, collecting every problem.
    static func validate(_ json: JSONValue) -> Validated<Self>
    /// Values for the descriptor's `insertColumns`, in order.
    var insertValues: [SQLValue] { get }
}

/// One column to set in an UPDATE.
public struct ColumnAssignment: Sendable, Hashable {
    public var column: String
    public var value: SQLValue

    public init(_ column: String, _ value: SQLValue) {
        self.column = column
        self.value = value
    }
}

/// A validated JSON merge patch (RFC 7396): absent keys are left alone, `null` clears.
public protocol ResourcePatch: Sendable {
    static func validate(_ json: JSONValue) -> Validated<Self>
    var assignments: [ColumnAssignment] { get }
}

/// One equality condition from a list query (`?is_active=true`).
public struct ColumnCondition: Sendable, Hashable {
    public var column: String
    public var value: SQLValue

    public init(_ column: String, _ value: SQLValue) {
        self.column = column
        self.value = value
    }
}

/// The equality filters a resource allows on its list endpoint (fields marked `filter`).
public protocol ResourceFilter: Sendable {
    init()
    /// Reads one query parameter. Returns false when `name` is not a filter of this resource.
    mutating func parse(_ name: String, _ value: String, _ validator: inout Validator) -> Bool
    var conditions: [ColumnCondition] { get }
}

/// Quotes an SQL identifier that comes from the (validated) schema.
func quoteIdentifier(_ name: String) -> String {
    // Schema names never hold a quote: skip Foundation's search-and-replace (2% of a list's
    // CPU, Benchmarks/README.md), keep it for any name that does.
    guard name.utf8.contains(UInt8(ascii: "\"")) else { return "\"" + name + "\"" }
    return "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}

extension ResourceCreate {
    /// The validated input, or the 422 listing every problem: what every surface does with a body.
    static func validated(_ json: JSONValue) throws -> Self {
        switch validate(json) {
        case let .valid(value): return value
        case let .invalid(problems): throw Problem.validationFailed(problems)
        }
    }
}

extension ResourcePatch {
    /// The validated patch, or the 422 listing every problem.
    static func validated(_ json: JSONValue) throws -> Self {
        switch validate(json) {
        case let .valid(value): return value
        case let .invalid(problems): throw Problem.validationFailed(problems)
        }
    }
}
