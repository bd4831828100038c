import Foundation
import Testing

@testable import TrellisRuntime

@Suite("RFC 3339")
struct RFC3339Tests {
    /// An independent oracle: Foundation's Gregorian calendar in UTC.
    private static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return calendar.date(from: components)!
    }

    // MARK: Parsing

    @Test("UTC timestamps parse to the right instant")
    func parsesUTC() throws {
        #expect(RFC3339.parse("2026-01-31T09:30:00Z") == Self.utc(2026, 1, 31, 9, 30))
        #expect(RFC3339.parse("1970-01-01T00:00:00Z") == Date(timeIntervalSince1970: 0))
        #expect(RFC3339.parse("2000-02-29T23:59:59Z") == Self.utc(2000, 2, 29, 23, 59, 59))
        #expect(RFC3339.parse("1969-12-31T23:59:59Z") == Date(timeIntervalSince1970: -1))
        #expect(RFC3339.parse("9999-12-31T23:59:59Z") == Self.utc(9999, 12, 31, 23, 59, 59))
    }

    @Test("numeric offsets are applied", arguments: [
        "2026-01-31T10:30:00+01:00", "2026-01-31T04:00:00-05:30", "2026-01-31T09:30:00+00:00",
        "2026-01-31T09:30:00-00:00", "2026-02-01T08:30:00+23:00", "2026-01-30T10:29:00-23:01",
    ])
    func offsets(_ text: String) {
        #expect(RFC3339.parse(text) == Self.utc(2026, 1, 31, 9, 30), "\(text)")
    }

    @Test("an offset that crosses a year boundary")
    func offsetAcrossYear() {
        #expect(RFC3339.parse("2027-01-01T01:00:00+02:00") == Self.utc(2026, 12, 31, 23))
    }

    @Test("fractional seconds of any length")
    func fractions() throws {
        let base = Self.utc(2026, 1, 31, 9, 30).timeIntervalSince1970
        let cases: [(String, Double)] = [
            ("2026-01-31T09:30:00.5Z", 0.5),
            ("2026-01-31T09:30:00.25+00:00", 0.25),
            ("2026-01-31T09:30:00.123456Z", 0.123456),
            ("2026-01-31T09:30:00.000001Z", 0.000001),
            ("2026-01-31T09:30:00.999999Z", 0.999999),
            ("2026-01-31T09:30:00.123456789Z", 0.123456789),
            ("2026-01-31T10:30:00.75+01:00", 0.75),
        ]
        for (text, fraction) in cases {
            let date = try #require(RFC3339.parse(text), "\(text)")
            #expect(abs(date.timeIntervalSince1970 - (base + fraction)) < 5e-7, "\(text)")
        }
    }

    @Test("lower-case t and z, and a space separator, are accepted")
    func lenientSeparators() {
        let expected = Self.utc(2026, 1, 31, 9, 30)
        #expect(RFC3339.parse("2026-01-31t09:30:00z") == expected)
        #expect(RFC3339.parse("2026-01-31 09:30:00Z") == expected)
    }

    @Test("a leap second is accepted and clamped to :59")
    func leapSecond() {
        #expect(RFC3339.parse("2016-12-31T23:59:60Z") == Self.utc(2016, 12, 31, 23, 59, 59))
    }

    @Test("leap years: Feb 29 only when the year is a leap year")
    func leapYears() {
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2000-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parse("2025-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("1900-02-29T00:00:00Z") == nil)
        #expect(RFC3339.parse("2100-02-29T00:00:00Z") == nil)
    }

    @Test("impossible dates and times are rejected", arguments: [
        "2026-02-30T00:00:00Z", "2026-02-31T00:00:00Z", "2026-04-31T00:00:00Z", "2026-06-31T00:00:00Z",
        "2026-09-31T00:00:00Z", "2026-11-31T00:00:00Z", "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z", "2026-01-31T24:00:00Z", "2026-01-31T23:60:00Z",
        "2026-01-31T23:59:61Z", "2026-01-31T09:30:00+24:00", "2026-01-31T09:30:00+01:60",
    ])
    func impossibleValues(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("malformed text is rejected", arguments: [
        "", "2026-01-31", "2026-01-31T09:30:00", "2026-01-31T09:30Z", "2026-01-31T09:30:00.Z", "2026-01-31T09:30:00ZZ",
        "2026-01-31T09:30:00 Z", "2026-01-31T09:30:00+0100", "2026-01-31T09:30:00+01", "2026-01-31T09:30:00+01:00:00",
        "2026-1-31T09:30:00Z", "26-01-31T09:30:00Z", "2026/01/31T09:30:00Z", "2026-01-31X09:30:00Z", "2026-01-31T9:30:00Z",
        "2026-01-31T09:30:0aZ", "+2026-01-31T09:30:00Z", " 2026-01-31T09:30:00Z", "2026-01-31T09:30:00Z ",
        "2026-01-31T09:30:00.5", "2026-01-31T09:30:00,5Z", "２０２６-01-31T09:30:00Z", "2026-01-31T09:30:00+01:0x",
    ])
    func malformed(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    // MARK: Formatting

    @Test("format prints UTC with microseconds")
    func formats() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000000Z")
        #expect(RFC3339.format(Self.utc(2026, 11, 22, 4, 50, 28).addingTimeInterval(0.123456)) == "2026-11-22T04:50:28.123456Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500000Z")
        #expect(RFC3339.format(Self.utc(1900, 3, 1)) == "1900-03-01T00:00:00.000000Z")
        #expect(RFC3339.format(Self.utc(2024, 2, 29, 12)) == "2024-02-29T12:00:00.000000Z")
    }

    @Test("format(parse(x)) == x for canonical microsecond timestamps, 1970-2100 (fixed seed)")
    func formatParseRoundTrip() throws {
        var rng = SeededGenerator(seed: 3339)
        for _ in 0..<5000 {
            let seconds = Int64.random(in: 0..<4_102_444_800, using: &rng)
            let micros = Int64.random(in: 0..<1_000_000, using: &rng)
            // "YYYY-MM-DDTHH:MM:SS." from the whole second, then the generated microseconds.
            let prefix = String(RFC3339.format(Date(timeIntervalSince1970: TimeInterval(seconds))).prefix(20))
            let digits = String(micros)
            let canonical: String = prefix + String(repeating: "0", count: 6 - digits.count) + digits + "Z"
            let parsed = try #require(RFC3339.parse(canonical), "\(canonical)")
            #expect(RFC3339.format(parsed) == canonical)
        }
    }

    @Test("parse(format(d)) is within a microsecond of d (fixed seed)")
    func parseFormatRoundTrip() throws {
        var rng = SeededGenerator(seed: 9562)
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: Double.random(in: -2e9...4e9, using: &rng))
            let text = RFC3339.format(date)
            let parsed = try #require(RFC3339.parse(text), "\(text)")
            #expect(abs(parsed.timeIntervalSince1970 - date.timeIntervalSince1970) <= 1e-6, "\(text)")
        }
    }

    @Test("offset timestamps format as the same instant in UTC")
    func offsetFormatsAsUTC() throws {
        let parsed = try #require(RFC3339.parse("2026-01-31T23:15:00.5-02:00"))
        #expect(RFC3339.format(parsed) == "2026-02-01T01:15:00.500000Z")
    }

    // MARK: Dates

    @Test("calendar dates: parse, format, round trip")
    func calendarDates() throws {
        #expect(RFC3339.parseDate("2026-01-31") == Self.utc(2026, 1, 31))
        #expect(RFC3339.parseDate("2024-02-29") == Self.utc(2024, 2, 29))
        #expect(RFC3339.formatDate(Self.utc(2026, 1, 31, 23, 59, 59)) == "2026-01-31")
        #expect(RFC3339.formatDate(Date(timeIntervalSince1970: -1)) == "1969-12-31")
        for text in ["1970-01-01", "2000-02-29", "2026-12-31", "1899-07-04", "2199-01-01"] {
            let date = try #require(RFC3339.parseDate(text))
            #expect(RFC3339.formatDate(date) == text)
        }
    }

    @Test("invalid calendar dates are rejected", arguments: [
        "2026-02-30", "2023-02-29", "1900-02-29", "2026-13-01", "2026-00-01", "2026-01-00", "2026-04-31",
        "2026-1-31", "2026-01-31T00:00:00Z", "2026-01-3", "20260131", "", "2026-01-31 ",
    ])
    func invalidDates(_ text: String) {
        #expect(RFC3339.parseDate(text) == nil)
    }

    // MARK: The ends of Postgres's range

    /// A timestamp as postgres-nio decodes it: microseconds since 2000-01-01.
    private static func postgres(micros: Int64) -> Date {
        Date(timeInterval: Double(micros) / 1_000_000, since: Date(timeIntervalSince1970: 946_684_800))
    }

    @Test("Postgres infinity and -infinity format as Postgres spells them, without trapping")
    func infinity() {
        #expect(RFC3339.format(Self.postgres(micros: .max)) == "infinity")
        #expect(RFC3339.format(Self.postgres(micros: .min)) == "-infinity")
        #expect(RFC3339.format(Date(timeIntervalSince1970: .infinity)) == "infinity")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -.infinity)) == "-infinity")
        #expect(RFC3339.format(.distantFuture) == "4001-01-01T00:00:00.000000Z")
        let infiniteDate = Date(timeInterval: Double(Int32.max) * 86_400, since: Date(timeIntervalSince1970: 946_684_800))
        #expect(RFC3339.formatDate(infiniteDate) == "infinity")
        #expect(RFC3339.formatDate(Date(timeInterval: Double(Int32.min) * 86_400, since: Date(timeIntervalSince1970: 946_684_800))) == "-infinity")
        #expect(RFC3339.formatDate(Date(timeIntervalSince1970: .infinity)) == "infinity")
        #expect(RFC3339.formatDate(Date(timeIntervalSince1970: .nan)) == "infinity")
    }

    @Test("the first and last instants Postgres can store format with their full year")
    func postgresRange() {
        // A minute before the end (294277-01-01, where a Double keeps about 2 ms) and
        // 4714-11-24 00:00:00 BC (astronomical year -4713).
        #expect(RFC3339.format(Self.postgres(micros: 9_223_371_331_140_000_000)).hasPrefix("294276-12-31T23:59:00."))
        #expect(RFC3339.format(Self.postgres(micros: -211_813_488_000_000_000)) == "-4713-11-24T00:00:00.000000Z")
        #expect(RFC3339.format(Self.postgres(micros: 9_223_371_331_200_000_000)) == "infinity")
    }

    @Test("microseconds round to the nearest, carrying into the next second")
    func microsecondRounding() {
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1.9999996)) == "1970-01-01T00:00:02.000000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -0.25)) == "1969-12-31T23:59:59.750000Z")
    }
}
