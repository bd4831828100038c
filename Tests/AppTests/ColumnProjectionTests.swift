import Foundation
import PostgresNIO
import Testing
import TrellisPostgres
@testable import TrellisRuntime

/// GraphQL reads the columns it needs straight into JSON (``ColumnProjection``); REST decodes
/// the model and writes it. These pin that both give every Postgres type the generated models
/// use the same JSON text, on values read from a real Postgres.
@Suite("Projected columns read as the models write them")
struct ColumnProjectionTests {
    /// One column of each kind, then the same kinds as NULL.
    static let select = """
        SELECT 'héllo "q"'::text, ''::text, E'tab\\there \\\\ \\u0001'::text, (-9223372036854775808)::bigint, 0.1::float8, 2::float8, 1e300::float8, true,
          '01933b4e-8f1a-7cde-9a0b-0123456789ab'::uuid, '2026-01-02 03:04:05.123456+00'::timestamptz, 'infinity'::timestamptz,
          '2026-03-04'::date, '{"a":[1,2.5,"x",null],"b":{}}'::jsonb,
          ARRAY['a','b,c']::text[], '{}'::text[], ARRAY[1,-2]::bigint[], ARRAY[0.5,3]::float8[], ARRAY[true,false]::boolean[],
          ARRAY['01933b4e-8f1a-7cde-9a0b-0123456789ab']::uuid[],
          (-32768)::int2, 2147483647::int4, 0.1::float4, (-1.5)::float8, false, '-infinity'::timestamptz,
          '1969-12-31 23:59:59.999999+00'::timestamptz, '1999-12-31 23:59:59.5+00'::timestamptz, '2000-01-01 00:00:00.000001+00'::timestamptz,
          '{"a b": "x y", "n": [1, -2, 0, 1.50, 1e3, -0, 123456789012345678, 1234567890123456789, 0.0001], "s": "é \\u0001 \\" \\\\ /", "t": true, "f": false, "z": null, "o": {"": []}}'::jsonb,
          '"plain"'::jsonb, '-17'::jsonb, '[]'::jsonb, 'null'::jsonb, '"😀\\t"'::jsonb,
          ARRAY['', 'é😀', E'"\\\\\\n']::text[], ARRAY['x']::varchar[],
          NULL::text, NULL::bigint, NULL::float8, NULL::boolean, NULL::uuid, NULL::timestamptz, NULL::date, NULL::jsonb, NULL::text[]
        """

    static let types = [
        "text", "text", "text", "bigint", "double precision", "double precision", "double precision", "boolean", "uuid", "timestamptz", "timestamptz",
        "date", "jsonb", "text[]", "text[]", "bigint[]", "double precision[]", "boolean[]", "uuid[]",
        "bigint", "bigint", "double precision", "double precision", "boolean", "timestamptz",
        "timestamptz", "timestamptz", "timestamptz",
        "jsonb",
        "jsonb", "jsonb", "jsonb", "jsonb", "jsonb",
        "text[]", "text[]",
        "text", "bigint", "double precision", "boolean", "uuid", "timestamptz", "date", "jsonb", "text[]",
    ]

    /// How a generated model writes the column it decoded as its Swift type.
    static func modelJSON(_ cell: PostgresCell, sqlType: String) throws -> String {
        var w = JSONWriter()
        switch sqlType {
        case "text": w.value(try cell.decode(String?.self))
        case "bigint": w.value(try cell.decode(Int64?.self))
        case "double precision": w.value(try cell.decode(Double?.self))
        case "boolean": w.value(try cell.decode(Bool?.self))
        case "uuid": w.value(try cell.decode(UUID?.self))
        case "timestamptz": w.value(try cell.decode(Date?.self))
        case "date": w.value(try cell.decode(Date?.self).map(RFC3339.formatDate))
        case "jsonb": w.value(try cell.decode(JSONValue?.self))
        case "text[]": w.value(try cell.decode([String]?.self))
        case "bigint[]": w.value(try cell.decode([Int64]?.self))
        case "double precision[]": w.value(try cell.decode([Double]?.self))
        case "boolean[]": w.value(try cell.decode([Bool]?.self))
        case "uuid[]": w.value(try cell.decode([UUID]?.self))
        default: Issue.record("no model type for \(sqlType)")
        }
        return String(decoding: w.bytes, as: UTF8.self)
    }

    @Test func everyColumnTypeReadsAsTheModelWritesIt() async throws {
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let row = try #require(try await client.query(PostgresQuery(unsafeSQL: Self.select)).all().first)
            let cells = Array(row)
            #expect(cells.count == Self.types.count)
            for (cell, sqlType) in zip(cells, Self.types) {
                var w = JSONWriter()
                w.value(try JSONColumnKind(sqlType: sqlType).value(of: cell))
                let projected = String(decoding: w.bytes, as: UTF8.self)
                #expect(projected == (try Self.modelJSON(cell, sqlType: sqlType)), "\(sqlType)")
                var written = JSONWriter()
                try JSONColumnKind(sqlType: sqlType).write(cell, to: &written)
                #expect(String(decoding: written.bytes, as: UTF8.self) == projected, "written \(sqlType)")
            }
            // The same cells read in place, as a page of rows is written.
            let sqlRow = try #require(SQLRow.rows(from: [row]).first)
            var inPlace: [String] = []
            try sqlRow.withUnsafeCells { unsafeCells in
                while let cell = unsafeCells.next() {
                    var w = JSONWriter()
                    try JSONColumnKind(sqlType: Self.types[cell.index]).write(cell, of: sqlRow, to: &w)
                    inPlace.append(String(decoding: w.bytes, as: UTF8.self))
                }
            }
            #expect(inPlace.count == cells.count)
            for (index, (cell, text)) in zip(cells, inPlace).enumerated() {
                #expect(text == (try Self.modelJSON(cell, sqlType: Self.types[index])), "in place, column \(index + 1): \(Self.types[index])")
            }
        }
    }

    /// The cells the in-place writer reads itself, not handed to the `PostgresCell` path:
    /// so the comparison above covers the code a page of rows runs.
    @Test func theInPlaceWriterReadsTheCommonTypesItself() async throws {
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let select = """
                SELECT 'a'::text, 1::bigint, 2::int4, 0.5::float8, true, '01933b4e-8f1a-7cde-9a0b-0123456789ab'::uuid,
                  now(), '{"k": [1, "v"]}'::jsonb, '{"k": 1.5}'::jsonb, ARRAY['a']::text[], NULL::text
                """
            let kinds: [JSONColumnKind] = [.text, .integer, .integer, .double, .bool, .uuid, .timestamp, .json, .json, .textArray, .text]
            let row = try #require(try await client.query(PostgresQuery(unsafeSQL: select)).all().first)
            let sqlRow = try #require(SQLRow.rows(from: [row]).first)
            sqlRow.withUnsafeCells { cells in
                while let cell = cells.next() {
                    var w = JSONWriter()
                    #expect(kinds[cell.index].write(cell, to: &w), "column \(cell.index + 1)")
                }
            }
            // A date is read through its PostgresCell, and nothing is written in place.
            let declined = try #require(try await client.query(PostgresQuery(unsafeSQL: "SELECT '2026-01-01'::date")).all().first)
            let declinedRow = try #require(SQLRow.rows(from: [declined]).first)
            var dateWriter = JSONWriter()
            declinedRow.withUnsafeCells { cells in
                let cell = cells.next()
                #expect(cell.map { !JSONColumnKind.date.write($0, to: &dateWriter) } == true)
            }
            #expect(dateWriter.bytes.isEmpty)
        }
    }

    /// Deeper than the parser allows: refused on both paths, never written half.
    @Test func aJSONBValueNestedBeyondTheParsersLimitIsRefusedInPlaceAsThroughItsCell() async throws {
        try await withClient(url: TestEnvironment.url("TRELLIS_TEST_DATABASE_URL")) { client in
            let deep = String(repeating: "[", count: 130) + String(repeating: "]", count: 130)
            let row = try #require(try await client.query(PostgresQuery(unsafeSQL: "SELECT '\(deep)'::jsonb")).all().first)
            let cell = try #require(row.first)
            var w = JSONWriter()
            #expect(throws: (any Error).self) { try JSONColumnKind.json.write(cell, to: &w) }
            let sqlRow = try #require(SQLRow.rows(from: [row]).first)
            var inPlace = JSONWriter()
            inPlace.beginArray()
            let error = #expect(throws: (any Error).self) {
                try sqlRow.withUnsafeCells { cells in
                    guard let cell = cells.next() else { throw RowReaderError.missingColumn }
                    try JSONColumnKind.json.write(cell, of: sqlRow, to: &inPlace)
                }
            }
            #expect(!(error is RowReaderError), "the cell was read: \(String(describing: error))")
            inPlace.endArray()
            #expect(String(decoding: inPlace.bytes, as: UTF8.self) == "[]")
        }
    }

    @Test func aProjectionReadsItsIdFirstAndOnlyTheColumnsNamed() {
        let descriptor = ResourceDescriptor(
            name: "Thing", table: "things", path: "things", operations: [.get],
            columns: [ColumnDescriptor("id", "uuid"), ColumnDescriptor("a", "text"), ColumnDescriptor("b", "bigint")],
            insertColumns: [], sortKeys: [], readScope: "things:read", writeScope: "things:write")
        let projection = ColumnProjection(descriptor, columns: ["b", "nope"])
        #expect(projection.columns.map(\.name) == ["id", "b"])
        #expect(projection.selectList == #""id", "b""#)
        #expect(ColumnProjection(all: descriptor).columns.map(\.name) == ["id", "a", "b"])
    }

    @Test func eachSetOfColumnsIsProjectedOnceAndTheKeptSetsStayBounded() {
        let columns = [ColumnDescriptor("id", "uuid")] + (0..<12).map { ColumnDescriptor("c\($0)", "text") }
        let descriptor = ResourceDescriptor(
            name: "Wide", table: "wides", path: "wides", operations: [.get], columns: columns,
            insertColumns: [], sortKeys: [], readScope: "wides:read", writeScope: "wides:write")
        let projections = ColumnProjections(descriptor)
        // The same set in any order, repeated, with unknown names: one projection, as made directly.
        let first = projections.projection(["c3", "c1", "nope"])
        #expect(projections.projection(["c1", "c3", "c1"]) == first)
        #expect(first == ColumnProjection(descriptor, columns: ["c1", "c3"]))
        #expect(projections.count == 1)
        // 4,096 different sets: at most `limit` kept, every one still right.
        for mask in 0..<4096 {
            let names = (0..<12).filter { mask & (1 << $0) != 0 }.map { "c\($0)" }
            #expect(projections.projection(names).columns.map(\.name) == ["id"] + names)
        }
        #expect(projections.count == ColumnProjections.limit)
    }

    @Test func hyphenatedUUIDsParseExactlyAsFoundationParsesThem() {
        let texts = [
            "01933b4e-8f1a-7cde-9a0b-0123456789ab", "01933B4E-8F1A-7CDE-9A0B-0123456789AB", "01933b4e8f1a7cde9a0b0123456789ab",
            "01933b4e-8f1a-7cde-9a0b-0123456789a", "01933b4e-8f1a-7cde-9a0b-0123456789abc", "01933b4e-8f1a-7cde-9a0b_0123456789ab",
            "g1933b4e-8f1a-7cde-9a0b-0123456789ab", "{01933b4e-8f1a-7cde-9a0b-0123456789ab}", "", "é1933b4e-8f1a-7cde-9a0b-0123456789a",
            "0-1933b4e8f1a-7cde-9a0b-0123456789ab",
        ]
        for text in texts {
            #expect(UUID(hyphenated: text) == UUID(uuidString: text), "\(text)")
        }
    }
}
