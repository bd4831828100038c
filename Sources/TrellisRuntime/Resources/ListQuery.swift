import Foundation

/// A validated list or search query: paging, order, time window and filters.
public struct ListQuery: Sendable {
    public var limit: Int
    /// Sort column; the row id breaks ties in the same direction.
    public var sortKey: String
    public var descending: Bool
    var cursor: Cursor?
    public var createdAfter: Date?
    public var createdBefore: Date?
    public var conditions: [ColumnCondition]
    /// Search text (search only).
    public var search: String?
    /// The keys the cursor was checked with; they sign the next page's cursor.
    var cursorKeys: CursorKeys
    /// Where the client's values are named in problems: `/query/` on REST, `/` on JSON-RPC.
    var pathPrefix = "/query/"
    /// Whether each item of the page gets its own cursor (GraphQL's edges).
    var wantsItemCursors = false

    /// `-created_at` / `name`: how the sort is spelled in `sort=` and in cursors.
    /// Search cursors also carry the search text, so a cursor cannot page a different search.
    var sortSpelling: String { (descending ? "-" : "") + sortKey + (search.map { "|" + $0 } ?? "") }

    /// `/query/<name>` (or `/<name>`, see ``pathPrefix``) of every client value this query binds into SQL.
    var parameterPaths: [String] {
        var names = conditions.map(\.column)
        if cursor != nil { names.append("cursor") }
        if search != nil { names.append("q") }
        if createdAfter != nil { names.append("created_after") }
        if createdBefore != nil { names.append("created_before") }
        return names.map { pathPrefix + $0 }
    }
}

extension ListQuery {
    /// A JSON scalar as the query-string text REST would carry (`5`, `true`, `gpt`), so JSON-RPC
    /// params and GraphQL arguments meet REST's rules exactly; nil for null, arrays and objects.
    static func parameterText(_ value: JSONValue) -> String? {
        switch value {
        case let .string(text): text
        case let .bool(flag): flag ? "true" : "false"
        case let .integer(number): String(number)
        case let .double(number): String(number)
        case .null, .array, .object: nil
        }
    }

    /// The query of `GET /v1/<resource>?<parameters>` (`isSearch`: of `…/search`) exactly as
    /// the server parses it; for tools such as the `row-codec` benchmark.
    public static func parse<R: Resource>(
        _ type: R.Type, parameters: [(String, String)], limits: PageLimits, keys: CursorKeys, isSearch: Bool = false
    ) -> Validated<ListQuery> {
        ListQueryParser.parse(type, parameters: parameters, limits: limits, keys: keys, isSearch: isSearch)
    }
}

/// Page-size limits from `api.yaml`.
public struct PageLimits: Sendable, Hashable {
    public var defaultSize: Int
    public var maxSize: Int

    public init(defaultSize: Int = 20, maxSize: Int = 100) {
        self.defaultSize = defaultSize
        self.maxSize = maxSize
    }
}

/// Parses query parameters into a ``ListQuery``, collecting every problem as
/// `/query/<name>` (JSON-RPC: `/<name>`, a path into `params`) so the client sees them all at once.
enum ListQueryParser {
    static func parse<R: Resource>(
        _ type: R.Type, parameters: [(String, String)], limits: PageLimits, keys: CursorKeys, isSearch: Bool,
        pathPrefix: String = "/query/"
    ) -> Validated<ListQuery> {
        var v = Validator()
        var filter = R.Filter()
        var query = ListQuery(
            limit: limits.defaultSize, sortKey: isSearch ? "rank" : "created_at", descending: true, cursor: nil,
            createdAfter: nil, createdBefore: nil, conditions: [], search: nil, cursorKeys: keys, pathPrefix: pathPrefix)
        var cursorText: String?
        var seen = Set<String>()
        for (name, value) in parameters {
            let path = pathPrefix + name
            guard seen.insert(name).inserted else {
                v.report(path, .type, "must be given at most once")
                continue
            }
            // No Postgres text can hold a NUL: refuse it here rather than fail in the query.
            guard !value.utf8.contains(0) else {
                v.report(path, .format, "must not contain NUL (U+0000) characters")
                continue
            }
            switch name {
            case "limit":
                if let limit = Int(value), (1...limits.maxSize).contains(limit) {
                    query.limit = limit
                } else {
                    v.report(path, Int(value) == nil ? .type : (Int(value)! < 1 ? .tooSmall : .tooLarge),
                             "must be an integer from 1 to \(limits.maxSize)")
                }
            case "cursor":
                cursorText = value
            case "q" where isSearch:
                let trimmed = value.trimmingCharacters(in: .whitespaces)
                if trimmed.isEmpty {
                    v.report(path, .required, "must not be empty")
                } else if trimmed.unicodeScalars.count > 1000 {
                    v.report(path, .tooLong, "must be at most 1000 characters")
                } else {
                    query.search = trimmed
                }
            case "sort" where !isSearch:
                let descending = value.hasPrefix("-")
                let key = descending ? String(value.dropFirst()) : value
                if R.descriptor.sortKeys.contains(key) {
                    query.sortKey = key
                    query.descending = descending
                } else {
                    v.report(path, .enum, "must be one of: "
                        + R.descriptor.sortKeys.flatMap { [$0, "-" + $0] }.joined(separator: ", "))
                }
            case "created_after" where !isSearch, "created_before" where !isSearch:
                if let date = RFC3339.parse(value) {
                    if name == "created_after" { query.createdAfter = date } else { query.createdBefore = date }
                } else {
                    v.report(path, .format, "must be an RFC 3339 timestamp such as 2026-01-31T09:30:00Z")
                }
            default:
                if isSearch || !filter.parse(name, value, &v) {
                    v.report(path, .unknownField, "is not a query parameter of this endpoint")
                }
            }
        }
        if isSearch, query.search == nil, !seen.contains("q") {
            v.missing(pathPrefix + "q")
        }
        if let cursorText {
            let sortType = isSearch ? "real" : R.descriptor.sortSQLType(query.sortKey)
            if let cursor = Cursor(encoded: cursorText, keys: keys), cursor.sort == query.sortSpelling,
                CursorValue.isValid(cursor.value, sqlType: sortType)
            {
                query.cursor = cursor
            } else {
                v.report(pathPrefix + "cursor", .format, "is not a cursor from this listing (the sort may have changed)")
            }
        }
        query.conditions = filter.conditions
        return v.isValid ? .valid(query) : .invalid(v.problems)
    }
}
