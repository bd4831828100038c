import Foundation

/// Type-checks a cursor's sort value against the column it is compared with, so that a
/// cursor can only carry text Postgres reads back as that type without an error (no
/// out-of-range timestamp, no `1e999` for a `real`, no NUL). Signed cursors come from this
/// server, so this is a second line: a value that fails here is a 400, never a 500.
enum CursorValue {
    /// Whether `text` is a value Postgres prints for `sqlType` and reads back without error.
    static func isValid(_ text: String, sqlType: String) -> Bool {
        switch sqlType {
        case "timestamptz": return isTimestamp(Array(text.utf8), withTime: true)
        case "date": return isTimestamp(Array(text.utf8), withTime: false)
        case "bigint": return Int64(text) != nil
        // Postgres prints a stored infinity or NaN this way and reads it back.
        case "double precision": return text == "Infinity" || text == "-Infinity" || text == "NaN" || isNumber(text, Double.self)
        case "real": return isNumber(text, Float.self)
        case "boolean": return text == "true" || text == "false"
        case "uuid": return UUID(uuidString: text) != nil
        case "text": return !text.utf8.contains(0)
        default: return false
        }
    }

    // MARK: Numbers

    /// A plain decimal (`-1.5e-07`) that is finite in `T` and not so small that Postgres
    /// reports an underflow (a non-zero mantissa that rounds to zero).
    private static func isNumber<T: BinaryFloatingPoint & LosslessStringConvertible>(_ text: String, _: T.Type) -> Bool {
        var b = Substring(text).utf8[...]
        if b.first == UInt8(ascii: "-") { b = b.dropFirst() }
        let mantissa = b.prefix { $0 != UInt8(ascii: "e") && $0 != UInt8(ascii: "E") }
        let exponent = b.dropFirst(mantissa.count)
        let parts = mantissa.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), !parts[0].isEmpty, parts.allSatisfy({ $0.allSatisfy(isDigit) }),
            parts.count == 1 || !parts[1].isEmpty
        else { return false }
        if !exponent.isEmpty {
            var digits = exponent.dropFirst()
            if digits.first == UInt8(ascii: "+") || digits.first == UInt8(ascii: "-") { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy(isDigit) else { return false }
        }
        guard let value = T(text), value.isFinite else { return false }
        return value != 0 || mantissa.allSatisfy { $0 == UInt8(ascii: "0") || $0 == UInt8(ascii: ".") }
    }

    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

    // MARK: Dates

    /// `YYYY-MM-DD[ HH:MM:SS[.ffffff]±HH[:MM[:SS]]][ BC]` as Postgres prints it (DateStyle
    /// ISO), a real calendar date within Postgres's range, or `infinity` / `-infinity`.
    private static func isTimestamp(_ b: [UInt8], withTime: Bool) -> Bool {
        if b == Array("infinity".utf8) || b == Array("-infinity".utf8) { return true }
        var i = 0
        func number(_ minDigits: Int, _ maxDigits: Int) -> Int64? {
            let start = i
            var value: Int64 = 0
            while i < b.count, i - start < maxDigits, isDigit(b[i]) {
                value = value * 10 + Int64(b[i] - 0x30)
                i += 1
            }
            return i - start >= minDigits ? value : nil
        }
        func expect(_ char: Character) -> Bool {
            guard i < b.count, b[i] == char.asciiValue else { return false }
            i += 1
            return true
        }
        guard let year = number(4, 6), expect("-"), let month = number(2, 2), expect("-"), let day = number(2, 2) else {
            return false
        }
        if withTime {
            guard expect(" "), let hour = number(2, 2), expect(":"), let minute = number(2, 2), expect(":"),
                let second = number(2, 2), hour <= 23, minute <= 59, second <= 59
            else { return false }
            if expect("."), number(1, 6) == nil { return false }
            guard i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") else { return false }
            i += 1
            guard let offsetHours = number(2, 2), offsetHours <= 15 else { return false }
            var offsetParts = 0  // minutes, then seconds
            while offsetParts < 2, expect(":") {
                guard let part = number(2, 2), part <= 59 else { return false }
                offsetParts += 1
            }
        }
        let bc = i + 3 == b.count && b[i...] == Array(" BC".utf8)[...]
        guard bc || i == b.count else { return false }
        // Postgres's range starts in 4713 BC and ends in 294276 AD (timestamptz); the outer
        // years are refused whole rather than checked to the microsecond.
        guard year >= 1, bc ? year <= 4712 : year <= 294_275 else { return false }
        let astronomicalYear = bc ? 1 - year : year
        return (1...12).contains(month) && day >= 1 && day <= RFC3339.daysIn(month: month, year: astronomicalYear)
    }
}

extension ResourceDescriptor {
    /// The SQL type of sort key `key` (the implicit timestamps when it is not a field column).
    func sortSQLType(_ key: String) -> String {
        column(named: key)?.sqlType ?? "timestamptz"
    }
}
