import Logging
import PostgresNIO
import Tracing
import TrellisPostgres
import TrellisTracing

extension PostgresConnection {
    /// Runs one statement and returns all its rows. Every statement of a request or a job run
    /// goes through here (or through the prepared-statement `rows` beside it), so that in a
    /// trace each is one `db` span carrying its SQL text: the text as written, with `$n`
    /// placeholders, never the values bound to them. Outside a trace it is `query(…).all()`.
    @discardableResult
    public func rows(_ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        try await SQLSpan.around(query.sql) { try await self.query(query, logger: logger).all() }
    }
}

extension Array where Element == PostgresRow {
    /// Each row's columns as `columns`: `PostgresRowSequence.decode` for rows already read.
    public func decode<each Column: PostgresDecodable>(
        _ columns: (repeat each Column).Type, file: String = #fileID, line: Int = #line
    ) throws -> [(repeat each Column)] {
        try map { try $0.decode(columns, file: file, line: line) }
    }

    /// Each row's one column as `column`.
    public func decode<Column: PostgresDecodable>(_ column: Column.Type, file: String = #fileID, line: Int = #line) throws -> [Column] {
        try map { try $0.decode(column, file: file, line: line) }
    }
}

/// The span of one SQL statement (OpenTelemetry's database conventions): named by its
/// first keyword (`SELECT`, `INSERT`, `COMMIT`, …), with `db.query.text` capped at
/// ``maxTextLength`` UTF-8 bytes.
enum SQLSpan {
    static let maxTextLength = 2_048

    static func around<T>(_ sql: @autoclosure () -> String, _ body: () async throws -> T) async rethrows -> T {
        try await Traced.span(operation(of: sql()), kind: .client, attributes: { describe(sql(), in: &$0) }, body)
    }

    static func describe(_ sql: String, in attributes: inout SpanAttributes) {
        attributes["db.system.name"] = "postgresql"
        attributes["db.operation.name"] = operation(of: sql)
        attributes["db.query.text"] = sql.utf8.count <= maxTextLength ? sql : String(decoding: sql.utf8.prefix(maxTextLength), as: UTF8.self)
    }

    static func operation(of sql: String) -> String {
        let word = sql.utf8.drop { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "(") }
            .prefix { (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0 & 0xDF) }
        return word.isEmpty ? "SQL" : String(decoding: word, as: UTF8.self).uppercased()
    }
}
