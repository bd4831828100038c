import Foundation

/// A page of a list ordered by id, newest first (API keys, workspaces, jobs): `limit`
/// (1 to the API's maximum) and `cursor` (the last id of the previous page, signed), plus the
/// operation's own filters through `other`. Problems name `pathPrefix + name` (`/query/limit`
/// on REST, `/limit` for JSON-RPC params), all at once.
struct IDPage: Sendable {
    var limit: Int
    var after: UUID?

    init(
        _ parameters: [(String, String)], limits: PageLimits, keys: CursorKeys, pathPrefix: String,
        other: (_ name: String, _ value: String, _ path: String, _ problems: inout [FieldProblem]) -> Bool = { _, _, _, _ in false }
    ) throws {
        limit = limits.defaultSize
        var problems: [FieldProblem] = []
        for (name, value) in parameters {
            let path = pathPrefix + jsonPointerToken(name)
            switch name {
            case "limit":
                if let n = Int(value), (1...limits.maxSize).contains(n) { limit = n } else {
                    problems.append(FieldProblem(path: path, code: .format, message: "must be an integer from 1 to \(limits.maxSize)"))
                }
            case "cursor":
                if let cursor = Cursor(encoded: value, keys: keys), cursor.sort == "-id" { after = cursor.id } else {
                    problems.append(FieldProblem(path: path, code: .format, message: "is not a cursor from this API"))
                }
            default:
                if !other(name, value, path, &problems) {
                    problems.append(FieldProblem(path: path, code: .unknownField, message: "is not a parameter of this operation"))
                }
            }
        }
        if !problems.isEmpty { throw Problem.invalidQuery(problems) }
    }

    /// The first `limit` of `items` (read with one more, so `hasMore` is known) with the cursor
    /// of the page after them, and with `itemCursors`, each item's own (GraphQL's edges).
    static func page<Item: Sendable>(
        _ items: [Item], hasMore: Bool, keys: CursorKeys, itemCursors: Bool = false, id: (Item) -> UUID
    ) -> Page<Item> {
        var page = Page(items: items, nextCursor: hasMore ? items.last.map { cursor(after: id($0), keys: keys) } : nil)
        if itemCursors { page.itemCursors = items.map { cursor(after: id($0), keys: keys) } }
        return page
    }

    /// The signed cursor of the page after the item `id`.
    static func cursor(after id: UUID, keys: CursorKeys) -> String {
        Cursor(sort: "-id", value: id.lowercasedString, id: id).encoded(with: keys)
    }
}
