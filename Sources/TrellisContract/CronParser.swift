import Foundation

/// A problem in a cron expression; `offset` is the character offset in the expression of the
/// part that is wrong, when known.
public struct CronParseError: Error, Equatable, Sendable {
    public let message: String
    public let offset: Int?

    public init(message: String, offset: Int?) {
        self.message = message
        self.offset = offset
    }
}

/// Parses five-field cron expressions into ``CronExpression``: `*`, lists `a,b`, ranges `a-b`,
/// steps `*/n`, `a-b/n` and `a/n`, month names JAN–DEC, weekday names SUN–SAT (7 is also Sunday),
/// and the macros `@hourly`, `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`.
public enum CronParser {
    private struct FieldSpec {
        let name: String
        let range: ClosedRange<Int>
        /// Names for the values from `range.lowerBound` on.
        let names: [String]
    }

    private static let fields = [
        FieldSpec(name: "minute", range: 0...59, names: []),
        FieldSpec(name: "hour", range: 0...23, names: []),
        FieldSpec(name: "day-of-month", range: 1...31, names: []),
        FieldSpec(name: "month", range: 1...12,
                  names: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]),
        FieldSpec(name: "day-of-week", range: 0...7, names: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]),
    ]

    private static let macros = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]

    public static func parse(_ source: String) -> Result<CronExpression, CronParseError> {
        let trimmed = source.trimmingCharacters(in: .whitespaces)
        var text = source
        if trimmed.hasPrefix("@") {
            guard let expansion = macros[trimmed.lowercased()] else {
                let known = macros.keys.sorted()
                let hint = Suggestions.didYouMean(trimmed, in: known)
                return .failure(CronParseError(
                    message: "unknown cron macro '\(trimmed)'\(hint); expected one of \(known.joined(separator: ", "))",
                    offset: nil))
            }
            text = expansion
        }
        let words = splitWords(text)
        guard words.count == 5 else {
            return .failure(CronParseError(
                message: "cron expression must have 5 fields (minute hour day-of-month month day-of-week), found \(words.count)",
                offset: nil))
        }
        var values: [[Int]] = []
        for (spec, word) in zip(fields, words) {
            switch parseField(word.text, spec) {
            case let .success(fieldValues): values.append(fieldValues)
            case let .failure(error):
                let offset = trimmed.hasPrefix("@") ? nil : error.offset.map { $0 + word.offset }
                return .failure(CronParseError(message: error.message, offset: offset))
            }
        }
        let expression = CronExpression(
            source: source, minutes: values[0], hours: values[1], daysOfMonth: values[2], months: values[3],
            daysOfWeek: values[4])
        if let problem = impossibleDate(expression) {
            return .failure(CronParseError(message: problem, offset: nil))
        }
        return .success(expression)
    }

    private static func splitWords(_ text: String) -> [(text: String, offset: Int)] {
        var words: [(text: String, offset: Int)] = []
        var current = ""
        var start = 0
        for (offset, character) in text.enumerated() {
            if character == " " || character == "\t" {
                if !current.isEmpty { words.append((current, start)) }
                current = ""
            } else {
                if current.isEmpty { start = offset }
                current.append(character)
            }
        }
        if !current.isEmpty { words.append((current, start)) }
        return words
    }

    /// The sorted values a field allows; error offsets are relative to the field.
    private static func parseField(_ text: String, _ spec: FieldSpec) -> Result<[Int], CronParseError> {
        var result: Set<Int> = []
        var offset = 0
        for item in text.split(separator: ",", omittingEmptySubsequences: false) {
            func fail(_ why: String) -> Result<[Int], CronParseError> {
                .failure(CronParseError(message: "\(spec.name) \(why)", offset: offset))
            }
            if item.isEmpty { return fail("has an empty list item in '\(text)'") }
            let parts = item.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count <= 2 else { return fail("has more than one '/' in '\(item)'") }
            var step = 1
            if parts.count == 2 {
                guard let value = Int(parts[1]), value >= 1, parts[1].allSatisfy(\.isASCIIDigit) else {
                    return fail("has an invalid step '\(parts[1])': a step must be a positive whole number")
                }
                guard value <= spec.range.count else {
                    return fail("step \(value) is larger than the field's range \(spec.range.lowerBound)-\(spec.range.upperBound)")
                }
                step = value
            }
            let base = parts[0]
            var low = spec.range.lowerBound
            var high = spec.range.upperBound
            if base != "*" {
                let bounds = base.split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2 else { return fail("has an invalid range '\(base)'") }
                switch value(bounds[0], spec) {
                case let .success(start): low = start
                case let .failure(message): return fail(message.text)
                }
                if bounds.count == 2 {
                    switch value(bounds[1], spec) {
                    case let .success(end): high = end
                    case let .failure(message): return fail(message.text)
                    }
                    if spec.name == "day-of-week", high == 0, low > 0 { high = 7 }  // FRI-SUN
                    guard low <= high else { return fail("range '\(base)' runs backwards") }
                } else if parts.count == 1 {
                    high = low
                }
            }
            for value in stride(from: low, through: high, by: step) {
                result.insert(spec.name == "day-of-week" && value == 7 ? 0 : value)
            }
            offset += item.count + 1
        }
        return .success(result.sorted())
    }

    private static func value(_ text: Substring, _ spec: FieldSpec) -> Result<Int, CronParseError.Message> {
        if !text.isEmpty, text.allSatisfy(\.isASCIIDigit) {
            guard let number = Int(text), spec.range.contains(number) else {
                return .failure(.init("value \(text) is out of range \(spec.range.lowerBound)-\(spec.range.upperBound)"))
            }
            return .success(number)
        }
        if let index = spec.names.firstIndex(of: text.uppercased()) {
            return .success(spec.range.lowerBound + index)
        }
        let expected = spec.names.isEmpty
            ? "a number \(spec.range.lowerBound)-\(spec.range.upperBound)"
            : "a number \(spec.range.lowerBound)-\(spec.range.upperBound) or a name \(spec.names.first ?? "")-\(spec.names.last ?? "")"
        let hint = Suggestions.didYouMean(String(text), in: spec.names)
        return .failure(.init("has an invalid value '\(text)'\(hint); expected \(expected)"))
    }

    /// With an unrestricted day-of-week, some listed day-of-month must exist in some listed month.
    private static func impossibleDate(_ cron: CronExpression) -> String? {
        guard cron.daysOfWeek.count == 7, let firstDay = cron.daysOfMonth.first else { return nil }
        // The most days each month has (February's in a leap year).
        let longest = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        let possible = cron.months.contains { firstDay <= longest[$0 - 1] }
        guard !possible else { return nil }
        return "cron expression never fires: day-of-month \(firstDay) does not occur in the listed months"
    }
}

extension CronParseError {
    /// A message without a position, used inside the parser.
    struct Message: Error {
        let text: String
        init(_ text: String) { self.text = text }
    }
}

/// A five-field cron expression (`minute hour day-of-month month day-of-week`), validated.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    public var source: String
    /// Allowed values of each of the five fields, expanded.
    public var minutes: [Int]
    public var hours: [Int]
    public var daysOfMonth: [Int]
    public var months: [Int]
    public var daysOfWeek: [Int]

    public init(source: String, minutes: [Int], hours: [Int], daysOfMonth: [Int], months: [Int], daysOfWeek: [Int]) {
        self.source = source
        self.minutes = minutes
        self.hours = hours
        self.daysOfMonth = daysOfMonth
        self.months = months
        self.daysOfWeek = daysOfWeek
    }

    public var description: String { source }
}

extension Character {
    /// `0`–`9` only (not other scripts' digits).
    public var isASCIIDigit: Bool { isASCII && isNumber }
}
