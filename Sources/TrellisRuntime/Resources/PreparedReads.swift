import Foundation
import PostgresNIO

/// A prepared statement whose rows the service decodes itself, with its parameter types
/// declared up front so that it can be wrapped (``TenantScoped``) without knowing its SQL.
public protocol TenantPreparedStatement: PostgresPreparedStatement where Row == PostgresRow {}

extension TenantPreparedStatement {
    public func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// A resource's `get`: one row by id, in the caller's workspace. Prepared once per
/// connection and resource, so Postgres parses and plans it once instead of per request.
public struct ResourceByID<R: Resource>: TenantPreparedStatement {
    public static var name: String { "trellis_get_" + R.descriptor.table }
    public static var sql: String { R.descriptor.getByIDSQL }
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
    static var name: String { "trellis_scoped_" + Inner.name }
    static var sql: String {
        let count = Inner.bindingDataTypes.count
        return TenantStatement.scopedSQL(Inner.sql, workspacePlaceholder: count + 1, actorPlaceholder: count + 2)
    }
    static var bindingDataTypes: [PostgresDataType] { Inner.bindingDataTypes + [.text, .text] }

    var inner: Inner
    var identity: Identity

    func makeBindings() throws -> PostgresBindings {
        var bindings = try inner.makeBindings()
        bindings.appendScope(of: identity)
        return bindings
    }
}
