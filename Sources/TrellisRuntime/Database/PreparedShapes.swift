import Logging
import NIOConcurrencyHelpers
import PostgresNIO
import TrellisPostgres

/// A statement whose SQL is built at run time (a list or search with its filters, sort and
/// cursor; an insert or update), with the Postgres type of every parameter.
public struct ShapedQuery: Sendable {
    public var sql: String
    /// The values, each with the type it is declared as when the statement is prepared, so a
    /// prepared statement and an unnamed one read the same bytes the same way.
    public var bindings: SQLBindings
    /// Never prepared: planned for its own values each time (a full-text search, whose plan
    /// depends on how many rows its query matches).
    public var unnamed = false

    public init(sql: String, bindings: SQLBindings, unnamed: Bool = false) {
        self.sql = sql
        self.bindings = bindings
        self.unnamed = unnamed
    }

    /// Appends `identity`'s workspace and actor as two text parameters (see ``SQLBindings/appendScope(of:)``).
    mutating func appendScope(of identity: Identity) {
        bindings.appendScope(of: identity)
    }
}

extension SQLBindings {
    /// Appends the two text parameters a tenant statement sets before it reads: the
    /// workspace id and the actor, in that order (``TenantStatement/scopedSQL(_:workspacePlaceholder:actorPlaceholder:)``).
    mutating func appendScope(of identity: Identity) {
        append(identity.scope.workspace)
        append(identity.scope.actor)
    }
}

extension PostgresBindings {
    /// ``SQLBindings/appendScope(of:)`` for a `PostgresQuery`.
    mutating func appendScope(of identity: Identity) {
        append(identity.scope.workspace)
        append(identity.scope.actor)
    }
}

extension Identity {
    /// What a tenant statement sets before it reads: `trellis.workspace_id` and `trellis.actor`.
    var scope: (workspace: String, actor: String) { (workspaceID.lowercasedString, actor) }
}

/// Names the distinct shapes of run-time SQL, so Postgres parses and plans each once per
/// connection (a named prepared statement) instead of on every request (DESIGN.md §6).
///
/// A shape is its SQL text plus its parameter types: the same text with different types is
/// a different statement. At most ``limit`` shapes get a name per process; later ones run
/// unnamed, so a client cannot make the server prepare statements without bound (each costs
/// Postgres memory on every pooled connection). ``limit`` 0 runs everything unnamed, for
/// poolers that cannot keep prepared statements (PgBouncer before 1.21 in transaction mode).
public final class PreparedShapes: Sendable {
    /// Shapes that get a name; 0: none (every statement unnamed).
    public let limit: Int
    private let names = NIOLockedValueBox<[Shape: String]>([:])

    struct Shape: Hashable {
        var sql: String
        var types: [UInt32]
    }

    public init(limit: Int) {
        self.limit = max(0, limit)
    }

    /// Named statements for typed reads (`get`), and run-time shapes unless `limit` is 0.
    public var preparesStatements: Bool { limit > 0 }

    /// The name a typed statement (`get`) runs under: its own, unless statements run unnamed.
    func name(ofTyped name: String) -> String? {
        preparesStatements ? name : nil
    }

    /// How many shapes have a name.
    public var count: Int { names.withLockedValue { $0.count } }

    /// The statement name of `query`'s shape; nil when it runs unnamed.
    func name(of query: ShapedQuery) -> String? {
        guard limit > 0, !query.unnamed else { return nil }
        let shape = Shape(sql: query.sql, types: query.bindings.types.map(\.rawValue))
        return names.withLockedValue { names in
            if let name = names[shape] { return name }
            guard names.count < limit else { return nil }
            let name = "trellis_shape_\(names.count + 1)"
            names[shape] = name
            return name
        }
    }
}

extension PostgresConnection {
    /// Runs a typed statement (a `get`): prepared, unless `shapes` says this deployment runs
    /// every statement unnamed (poolers that cannot keep prepared statements).
    func rows<Statement: TenantPreparedStatement>(
        _ statement: Statement, shapes: PreparedShapes?, logger: Logger
    ) async throws -> [SQLRow] {
        let query = ShapedQuery(sql: Statement.sql, bindings: statement.makeBindings())
        return try await rows(query, preparedAs: shapes.map { $0.name(ofTyped: Statement.name) } ?? Statement.name, logger: logger)
    }

    /// Runs `query`, as the named prepared statement `name` when there is one (parsed and
    /// planned on this connection the first time only), else as an unnamed statement; its
    /// rows as ``SQLRow``s, as the pipeline returns them.
    func rows(_ query: ShapedQuery, preparedAs name: String?, logger: Logger) async throws -> [SQLRow] {
        let bindings = query.bindings.postgresBindings
        guard let name else {
            return SQLRow.rows(from: try await rows(PostgresQuery(unsafeSQL: query.sql, binds: bindings), logger: logger))
        }
        let shape = RunTimeStatement.Shape(name: name, sql: query.sql, dataTypes: query.bindings.types)
        return try await SQLSpan.around(query.sql) {
            try await RunTimeStatement.$shape.withValue(shape) {
                SQLRow.rows(from: try await execute(RunTimeStatement(bindings: bindings), logger: logger).all())
            }
        }
    }
}

/// The bridge to postgres-nio's prepared statements, which name a statement by its type
/// (`PostgresPreparedStatement`'s static `name` and `sql`). A shape known only at run time
/// travels in a task-local, which `PostgresConnection.execute` reads synchronously, before it
/// sends anything, inside ``PostgresConnection/rows(_:preparedAs:logger:)``'s `withValue`:
/// the only place this type is used.
private struct RunTimeStatement: PostgresPreparedStatement {
    struct Shape: Sendable {
        var name: String
        var sql: String
        var dataTypes: [PostgresDataType]
    }

    typealias Row = PostgresRow

    @TaskLocal static var shape: Shape?

    // A missing shape would be a bug in this file; the name then matches no statement and
    // the SQL fails, rather than running another statement's plan.
    static var name: String { shape?.name ?? "trellis_shape_missing" }
    static var sql: String { shape?.sql ?? "SELECT trellis_shape_missing()" }
    static var bindingDataTypes: [PostgresDataType] { shape?.dataTypes ?? [] }

    let bindings: PostgresBindings

    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}
