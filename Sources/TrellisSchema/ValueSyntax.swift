import Foundation
import TrellisContract

/// Parsers for the small value syntaxes of the schema language: integers, durations, byte sizes,
/// identifiers, dates.
enum ValueSyntax {
    /// A YAML 1.1 integer: decimal, `0x…`, `0o…`, `0b…`, leading-zero octal, `_` separators and
    /// sexagesimal (`1:30`). Nil when malformed or out of range; never traps.
    static func integer(_ text: String) -> Int? {
        var digits = Substring(text.replacingOccurrences(of: "_", with: ""))
        var negative = false
        if digits.hasPrefix("-") {
            negative = true
            digits = digits.dropFirst()
        } else if digits.hasPrefix("+") {
            digits = digits.dropFirst()
        }
        let magnitude: Int?
        if digits.hasPrefix("0x") {
            magnitude = Int(digits.dropFirst(2), radix: 16)
        } else if digits.hasPrefix("0o") {
            magnitude = Int(digits.dropFirst(2), radix: 8)
        } else if digits.hasPrefix("0b") {
            magnitude = Int(digits.dropFirst(2), radix: 2)
        } else if digits.contains(":") {
            magnitude = sexagesimal(digits)
        } else if digits.count > 1, digits.hasPrefix("0") {
            magnitude = Int(digits.dropFirst(), radix: 8)
        } else {
            magnitude = Int(digits, radix: 10)
        }
        guard let magnitude, magnitude >= 0 else { return nil }
        return negative ? -magnitude : magnitude
    }

    private static func sexagesimal(_ text: Substring) -> Int? {
        var total = 0
        for part in text.split(separator: ":", omittingEmptySubsequences: false) {
            guard let value = Int(part, radix: 10), value >= 0 else { return nil }
            let (shifted, overflow1) = total.multipliedReportingOverflow(by: 60)
            let (sum, overflow2) = shifted.addingReportingOverflow(value)
            guard !overflow1, !overflow2 else { return nil }
            total = sum
        }
        return total
    }

    /// Seconds in `120s`, `5m`, `1h`, `2d` or a plain number of seconds. Nil when malformed.
    static func duration(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let multipliers: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86400]
        let number: Substring
        let multiplier: Int
        if let unit = multipliers[last] {
            number = trimmed.dropLast()
            multiplier = unit
        } else {
            number = Substring(trimmed)
            multiplier = 1
        }
        guard !number.isEmpty, number.allSatisfy(\.isASCIIDigit), let value = Int(number) else { return nil }
        let (seconds, overflow) = value.multipliedReportingOverflow(by: multiplier)
        return overflow ? nil : seconds
    }

    /// Bytes in `1MiB`, `512KiB`, `2MB`, `100B` or `1024` (units are case-insensitive; KB/MB/GB are
    /// powers of 1000, KiB/MiB/GiB powers of 1024). Nil when malformed.
    static func byteSize(_ text: String) -> Int? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let number = trimmed.prefix { $0.isASCIIDigit || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        let multipliers: [String: Double] = [
            "": 1, "b": 1, "kb": 1e3, "mb": 1e6, "gb": 1e9,
            "kib": 1024, "mib": 1_048_576, "gib": 1_073_741_824,
        ]
        guard !number.isEmpty, let value = Double(number), let multiplier = multipliers[unit] else { return nil }
        let bytes = (value * multiplier).rounded()
        guard bytes.isFinite, bytes < 9e15 else { return nil }
        return Int(bytes)
    }

    /// `[a-z][a-z0-9_]*`: field, table, job and enum value names.
    static func isSnakeCase(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isLower(first) else { return false }
        return text.unicodeScalars.allSatisfy { isLower($0) || isDigit($0) || $0 == "_" }
    }

    /// `[A-Z][A-Za-z0-9]*`: resource names.
    static func isPascalCase(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isUpper(first) else { return false }
        return text.unicodeScalars.allSatisfy { isLower($0) || isUpper($0) || isDigit($0) }
    }

    /// Lowercase letters, digits, `-` and `_`, starting with a letter or digit: URL path segments.
    static func isPathSegment(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, isLower(first) || isDigit(first) else { return false }
        return text.unicodeScalars.allSatisfy { isLower($0) || isDigit($0) || $0 == "_" || $0 == "-" }
    }

    /// `YYYY-MM-DD` naming a real calendar day.
    static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isASCIIDigit) }),
              let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), day >= 1
        else { return false }
        return day <= daysIn(month: month, year: year)
    }

    /// An RFC 3339 date-time with a time zone, e.g. `2026-01-31T12:00:00Z`.
    static func isDateTime(_ text: String) -> Bool {
        guard text.count >= 20, let separator = text.firstIndex(where: { $0 == "T" || $0 == "t" }) else {
            return false
        }
        guard isDate(String(text[..<separator])) else { return false }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if formatter.date(from: text.uppercased()) != nil { return true }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text.uppercased()) != nil
    }

    static func isEmail(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !parts[1].hasPrefix("."), !parts[1].hasSuffix(".")
        else { return false }
        return !text.contains { $0.isWhitespace }
    }

    /// An absolute `http` or `https` URL with a host.
    static func isHTTPURL(_ text: String) -> Bool {
        guard !text.contains(where: \.isWhitespace), let url = URL(string: text),
              let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty
        else { return false }
        return true
    }

    /// An absolute URL with any scheme, e.g. `https://…` or `mailto:…`.
    static func isAbsoluteURL(_ text: String) -> Bool {
        guard !text.contains(where: \.isWhitespace), let url = URL(string: text), let scheme = url.scheme else {
            return false
        }
        return !scheme.isEmpty && text.count > scheme.count + 1
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private static func isLower(_ scalar: Unicode.Scalar) -> Bool { ("a"..."z").contains(scalar) }
    private static func isUpper(_ scalar: Unicode.Scalar) -> Bool { ("A"..."Z").contains(scalar) }
    private static func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
}
