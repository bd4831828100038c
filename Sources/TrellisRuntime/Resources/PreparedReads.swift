import Foundation
import PostgresNIO
import TrellisPostgres

/// A statement prepared once per connection whose rows the service decodes itself, with its
/// name and text for a transaction (`name`, `sql`) and as one self-scoping statement
/// (`scopedName`, `scopedSQL`, see ``TenantStatement``). A statement run per request keeps
/// all four built (``ResourceByID`` does).
public protocol TenantPreparedStatement: Sendable {
    static var name: String { get }
    static var sql: String { get }
    static var scopedName: String { get }
    static var scopedSQL: String { get }
    /// The values of `sql`'s parameters, each with its declared type.
    func makeBindings() -> SQLBindings
}

/// A resource's `get`: one row by id, in the caller's workspace. Prepared once per
/// connection and resource, so Postgres parses and plans it once instead of per request.
public struct ResourceByID<R: Resource>: TenantPreparedStatement {
    public static var name: String { R.descriptor.getByID.name }
    public static var sql: String { R.descriptor.getByID.sql }
    public static var scopedName: String { R.descriptor.getByID.scopedName }
    public static var scopedSQL: String { R.descriptor.getByID.scopedSQL }

    public var workspaceID: UUID
    public var id: UUID

    public init(workspaceID: UUID, id: UUID) {
        self.workspaceID = workspaceID
        self.id = id
    }

    public func makeBindings() -> SQLBindings {
        var bindings = SQLBindings(capacity: 4)
        bindings.append(workspaceID)
        bindings.append(id)
        return bindings
    }
}
