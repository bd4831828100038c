import Foundation

/// RFC 3339 timestamps and ISO 8601 calendar dates, parsed and printed without
/// `DateFormatter` (which is slow and locale-sensitive).
public enum RFC3339 {
    /// `2026-11-22T04:50:28.123456Z`.
    ///
    /// Never traps. Postgres's `infinity` / `-infinity` (which postgres-nio decodes as a date
    /// about 292 000 years away), anything past the ends of Postgres's range, and a
    /// non-finite interval print as `infinity` / `-infinity`, as Postgres does; years
    /// outside 0000–9999 print with more digits, or as `-YYYY` (astronomical numbering).
    public static func format(_ date: Date) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(27)
        write(date, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// ``format(_:)``'s text appended to `bytes`, digit by digit (no intermediate strings):
    /// what the log handler uses.
    public static func write(_ date: Date, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximumLength) { buffer in
            let count = write(date, into: buffer, at: 0)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// Room for the longest text ``format(_:)`` makes, `294276-12-31T23:59:59.999999Z` (29 bytes).
    static let maximumLength = 32

    /// ``format(_:)``'s text written at `offset` (with room for ``maximumLength`` bytes);
    /// returns the offset after it. What the JSON writer uses.
    static func write(_ date: Date, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        let sinceEpoch = date.timeIntervalSince1970
        let sincePostgresEpoch = sinceEpoch - postgresEpoch
        guard sinceEpoch.isFinite, sincePostgresEpoch < postgresEndSeconds else {
            return copy(sinceEpoch < 0 ? "-infinity" : "infinity", into: buffer, at: offset)
        }
        guard sincePostgresEpoch >= postgresStartSeconds else {
            return copy("-infinity", into: buffer, at: offset)
        }
        var seconds = Int64(sinceEpoch.rounded(.down))
        var micros = Int64(((sinceEpoch - sinceEpoch.rounded(.down)) * 1_000_000).rounded())
        if micros == 1_000_000 {
            micros = 0
            seconds += 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        let (year, month, day) = civil(fromDays: days)
        var index = offset
        if year < 0 {
            buffer[index] = UInt8(ascii: "-")
            index += 1
        }
        index = ASCIIDigits.decimal(year.magnitude, 4, into: buffer, at: index)
        buffer[index] = UInt8(ascii: "-")
        index = ASCIIDigits.decimal(UInt64(month), 2, into: buffer, at: index + 1)
        buffer[index] = UInt8(ascii: "-")
        index = ASCIIDigits.decimal(UInt64(day), 2, into: buffer, at: index + 1)
        buffer[index] = UInt8(ascii: "T")
        index = ASCIIDigits.decimal(UInt64(secondOfDay / 3600), 2, into: buffer, at: index + 1)
        buffer[index] = UInt8(ascii: ":")
        index = ASCIIDigits.decimal(UInt64((secondOfDay % 3600) / 60), 2, into: buffer, at: index + 1)
        buffer[index] = UInt8(ascii: ":")
        index = ASCIIDigits.decimal(UInt64(secondOfDay % 60), 2, into: buffer, at: index + 1)
        buffer[index] = UInt8(ascii: ".")
        index = ASCIIDigits.decimal(UInt64(micros), 6, into: buffer, at: index + 1)
        buffer[index] = UInt8(ascii: "Z")
        return index + 1
    }

    private static func copy(_ text: StaticString, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        text.withUTF8Buffer { utf8 in
            for (index, byte) in utf8.enumerated() { buffer[offset + index] = byte }
            return offset + utf8.count
        }
    }

    private static func writeYear(_ year: Int64, to bytes: inout [UInt8]) {
        if year < 0 { bytes.append(UInt8(ascii: "-")) }
        ASCIIDigits.decimal(UInt64(year < 0 ? -year : year), 4, to: &bytes)
    }

    /// `2026-11-22`; Postgres's infinite dates print as `infinity` / `-infinity`.
    public static func formatDate(_ date: Date) -> String {
        let days = (date.timeIntervalSince1970 / 86_400).rounded(.down)
        // postgres-nio decodes the date `infinity` as Int32.max days after 2000-01-01.
        let sincePostgresEpoch = days - postgresEpoch / 86_400
        guard days.isFinite, sincePostgresEpoch < Double(Int32.max) else { return days < 0 ? "-infinity" : "infinity" }
        guard sincePostgresEpoch > Double(Int32.min) else { return "-infinity" }
        let (year, month, day) = civil(fromDays: Int64(days))
        var bytes: [UInt8] = []
        bytes.reserveCapacity(10)
        writeYear(year, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        ASCIIDigits.decimal(month, 2, to: &bytes)
        bytes.append(UInt8(ascii: "-"))
        ASCIIDigits.decimal(day, 2, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// 2000-01-01T00:00:00Z, where Postgres counts timestamps from.
    private static let postgresEpoch = 946_684_800.0
    /// The first instant after Postgres's last timestamp (294277-01-01), in seconds since its epoch.
    private static let postgresEndSeconds = 9_223_371_331_200.0
    /// Postgres's first timestamp (4714-11-24 BC), in seconds since its epoch.
    private static let postgresStartSeconds = -211_813_488_000.0

    /// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`; `t`/`z` and a space separator are accepted.
    public static func parse(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count >= 20 else { return nil }
        guard let year = number(b, 0, 4), b[4] == 0x2D, let month = number(b, 5, 2), b[7] == 0x2D,
            let day = number(b, 8, 2), b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == 0x20,
            let hour = number(b, 11, 2), b[13] == 0x3A, let minute = number(b, 14, 2), b[16] == 0x3A,
            let second = number(b, 17, 2)
        else { return nil }
        guard (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year), hour <= 23, minute <= 59,
            second <= 60
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            var scale = 0.1
            let start = index
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 {
                fraction += Double(b[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > start else { return nil }
        }
        guard index < b.count else { return nil }
        var offsetSeconds: Int64 = 0
        switch b[index] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            index += 1
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let sign: Int64 = b[index] == UInt8(ascii: "+") ? 1 : -1
            guard index + 6 == b.count, let oh = number(b, index + 1, 2), b[index + 3] == 0x3A,
                let om = number(b, index + 4, 2), oh <= 23, om <= 59
            else { return nil }
            offsetSeconds = sign * (oh * 3600 + om * 60)
            index += 6
        default:
            return nil
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + min(second, 59) - offsetSeconds
        return Date(timeIntervalSince1970: Double(seconds) + fraction)
    }

    /// Parses `YYYY-MM-DD` as midnight UTC.
    public static func parseDate(_ text: String) -> Date? {
        let b = Array(text.utf8)
        guard b.count == 10, let year = number(b, 0, 4), b[4] == 0x2D, let month = number(b, 5, 2), b[7] == 0x2D,
            let day = number(b, 8, 2), (1...12).contains(month), day >= 1, day <= daysIn(month: month, year: year)
        else { return nil }
        return Date(timeIntervalSince1970: Double(daysFromCivil(year: year, month: month, day: day) * 86_400))
    }

    private static func number(_ b: [UInt8], _ start: Int, _ length: Int) -> Int64? {
        guard start + length <= b.count else { return nil }
        var value: Int64 = 0
        for i in start..<(start + length) {
            guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
            value = value * 10 + Int64(b[i] - 0x30)
        }
        return value
    }

    /// Days in `month` of `year` (proleptic Gregorian, astronomical year numbering).
    static func daysIn(month: Int64, year: Int64) -> Int64 {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }


    // Howard Hinnant's days_from_civil / civil_from_days.
    private static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civil(fromDays days: Int64) -> (Int64, Int64, Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (month <= 2 ? yoe + era * 400 + 1 : yoe + era * 400, month, day)
    }
}
