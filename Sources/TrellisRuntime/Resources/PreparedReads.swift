import Foundation
import PostgresNIO

/// A prepared statement whose rows the service decodes itself, with its parameter types
/// declared up front so that it can be wrapped (``TenantScoped``) without knowing its SQL.
public protocol TenantPreparedStatement: PostgresPreparedStatement where Row == PostgresRow {
    /// The name and text of the statement wrapped by ``TenantScoped``. postgres-nio reads a
    /// prepared statement's `name` and `sql` on every execution, so a statement run per
    /// request keeps them built (``ResourceByID`` does); the default builds them each time.
    static var scopedName: String { get }
    static var scopedSQL: String { get }
}

extension TenantPreparedStatement {
    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }

    public static var scopedName: String { "trellis_scoped_" + name }

    public static var scopedSQL: String {
        let count = bindingDataTypes.count
        return TenantStatement.scopedSQL(sql, workspacePlaceholder: count + 1, actorPlaceholder: count + 2)
    }
}

/// A resource's `get`: one row by id, in the caller's workspace. Prepared once per
/// connection and resource, so Postgres parses and plans it once instead of per request.
public struct ResourceByID<R: Resource>: TenantPreparedStatement {
    public static var name: String { R.descriptor.getByID.name }
    public static var sql: String { R.descriptor.getByID.sql }
    public static var scopedName: String { R.descriptor.getByID.scopedName }
    public static var scopedSQL: String { R.descriptor.getByID.scopedSQL }
    public static var bindingDataTypes: [PostgresDataType] { [.uuid, .uuid] }

    public var workspaceID: UUID
    public var id: UUID

    public init(workspaceID: UUID, id: UUID) {
        self.workspaceID = workspaceID
        self.id = id
    }

    public func makeBindings() throws -> PostgresBindings {
        var bindings = PostgresBindings(capacity: 2)
        bindings.append(workspaceID)
        bindings.append(id)
        return bindings
    }
}

/// `Inner` wrapped as one self-scoping statement (see ``TenantStatement``): it sets the
/// workspace and actor with `set_config(…, true)` before it reads.
struct TenantScoped<Inner: TenantPreparedStatement>: TenantPreparedStatement {
    static var name: String { Inner.scopedName }
    static var sql: String { Inner.scopedSQL }
    static var bindingDataTypes: [PostgresDataType] { Inner.bindingDataTypes + [.text, .text] }

    var inner: Inner
    var identity: Identity

    func makeBindings() throws -> PostgresBindings {
        var bindings = try inner.makeBindings()
        bindings.appendScope(of: identity)
        return bindings
    }
}
