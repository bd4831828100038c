import Foundation
import Logging
import PostgresNIO
import TrellisPostgres

/// Where a tenant's SQL runs: always with `trellis.workspace_id` and `trellis.actor` set for
/// row-level security, either in a ``TenantTransaction`` (writes, and anything that needs
/// more than one statement) or as one self-scoping ``TenantStatement`` (one-statement reads).
public protocol TenantSession: Sendable {
    /// Who the SQL runs for.
    var identity: Identity { get }
    /// Runs one statement for ``identity`` and returns all its rows.
    func rows(_ query: PostgresQuery) async throws -> [PostgresRow]
    /// Runs one statement built at run time for ``identity``, as a prepared statement of its
    /// shape where the session has ``PreparedShapes``, and returns all its rows.
    func rows(_ query: ShapedQuery) async throws -> [SQLRow]
    /// Runs one prepared statement for ``identity`` and returns all its rows.
    func rows<Statement: TenantPreparedStatement>(_ statement: Statement) async throws -> [SQLRow]
}

extension TenantSession {
    func rows(_ builder: SQLBuilder) async throws -> [SQLRow] {
        try await rows(builder.shaped)
    }
}

/// A read that is one SQL statement, sent as one autocommit statement that sets the
/// workspace and actor itself: one round trip instead of the four of `BEGIN`, `set_config`,
/// the read and `COMMIT`.
///
/// The read is wrapped so that it is the inner side of a lateral join whose outer side is
/// `SELECT set_config('trellis.workspace_id', …, true), set_config('trellis.actor', …, true)`.
/// Postgres must produce the outer row before it runs the inner side, so the policy sees the
/// setting; a statement is its own transaction, so `set_config(…, true)` ends with it, as with
/// `COMMIT`. Were the order ever different, the policy would see no workspace and the read
/// would return no rows (fail closed), never another workspace's.
///
/// Every statement is its own snapshot: a body that runs several statements sees each one's
/// own view. Use a ``TenantTransaction`` when they must agree.
///
/// With a ``PostgresPipeline`` the statements built here (a `get`, a list, a search, a
/// GraphQL level) go through it, in flight beside other requests' on one connection per
/// event loop, with no pool lease; a statement is its own implicit transaction there too, so
/// the scoping is the same statement with the same fail-closed argument. Without one, and for
/// `PostgresQuery` statements, they go through the pool.
public struct TenantStatement: TenantSession {
    public let client: PostgresClient
    public let identity: Identity
    public let logger: Logger
    /// Bounds the wait for a pooled connection (``Timeouts/poolLease``); nil waits.
    public let leaseTimeout: Duration?
    /// Where the lease is counted, if anywhere.
    public let metrics: PoolMetrics?
    /// Which run-time shapes run as prepared statements; nil: none do, typed reads still are.
    public let statements: PreparedShapes?
    /// Where the reads go instead of the pool, when the server runs one.
    public let pipeline: PostgresPipeline?
    /// Where the reads the pool ran because the pipeline could not take them are counted.
    public let pipelineMetrics: PipelineMetrics?

    public init(
        client: PostgresClient, identity: Identity, logger: Logger, leaseTimeout: Duration? = nil, metrics: PoolMetrics? = nil,
        statements: PreparedShapes? = nil, pipeline: PostgresPipeline? = nil, pipelineMetrics: PipelineMetrics? = nil
    ) {
        self.client = client
        self.identity = identity
        self.logger = logger
        self.leaseTimeout = leaseTimeout
        self.metrics = metrics
        self.statements = statements
        self.pipeline = pipeline
        self.pipelineMetrics = pipelineMetrics
    }

    public func rows(_ query: PostgresQuery) async throws -> [PostgresRow] {
        let scoped = Self.scoped(query, for: identity)
        return try await client.withConnection(leaseTimeout: leaseTimeout, measuredBy: metrics) { try await $0.rows(scoped, logger: logger) }
    }

    public func rows(_ query: ShapedQuery) async throws -> [SQLRow] {
        var scoped = query
        scoped.appendScope(of: identity)
        scoped.sql = Self.scopedSQL(query.sql, workspacePlaceholder: scoped.bindings.count - 1, actorPlaceholder: scoped.bindings.count)
        return try await rows(scoped, named: statements?.name(of: scoped))
    }

    public func rows<Statement: TenantPreparedStatement>(_ statement: Statement) async throws -> [SQLRow] {
        var bindings = statement.makeBindings()
        bindings.appendScope(of: identity)
        let name = statements.map { $0.name(ofTyped: Statement.scopedName) } ?? Statement.scopedName
        return try await rows(ShapedQuery(sql: Statement.scopedSQL, bindings: bindings), named: name)
    }

    /// Runs an already scoped statement through the pipeline, or through the pool: also when
    /// the pipeline has no open connection (starting, or reconnecting) or every one has its
    /// cap in flight, which it says before sending anything.
    private func rows(_ scoped: ShapedQuery, named name: String?) async throws -> [SQLRow] {
        if let pipeline {
            let request = RequestDeadline.current
            do {
                return try await SQLSpan.around(scoped.sql) {
                    try await pipeline.rows(scoped.sql, named: name, scoped.bindings, deadline: request?.instant)
                }
            } catch PostgresPipelineError.unavailable, PostgresPipelineError.overloaded {
                // Nothing was sent: the pool runs it instead.
                pipelineMetrics?.recordFallback()
            } catch PostgresPipelineError.deadlinePassed {
                // Only a request's deadline is passed to the pipeline: its problem.
                throw request?.problem ?? PostgresPipelineError.deadlinePassed
            }
        }
        return try await client.withConnection(leaseTimeout: leaseTimeout, measuredBy: metrics) {
            try await $0.rows(scoped, preparedAs: name, logger: logger)
        }
    }

    /// `query` wrapped to set the workspace and actor first; its columns come out unchanged,
    /// in its own order.
    static func scoped(_ query: PostgresQuery, for identity: Identity) -> PostgresQuery {
        var binds = query.binds
        binds.appendScope(of: identity)
        let sql = scopedSQL(query.sql, workspacePlaceholder: binds.count - 1, actorPlaceholder: binds.count)
        return PostgresQuery(unsafeSQL: sql, binds: binds)
    }

    /// `sql` inside the lateral join on the `set_config` row; `$workspacePlaceholder` and
    /// `$actorPlaceholder` are the two text parameters.
    static func scopedSQL(_ sql: String, workspacePlaceholder: Int, actorPlaceholder: Int) -> String {
        """
        SELECT trellis_read.* FROM (SELECT set_config('trellis.workspace_id', $\(workspacePlaceholder)::text, true) AS workspace_id, \
        set_config('trellis.actor', $\(actorPlaceholder)::text, true) AS actor) AS trellis_scope \
        CROSS JOIN LATERAL (SELECT * FROM (\(sql)) AS trellis_inner \
        WHERE trellis_scope.workspace_id IS NOT NULL OFFSET 0) AS trellis_read
        """
    }
}
