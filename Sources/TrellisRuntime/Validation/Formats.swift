import Foundation

/// Format checks shared by body and query validation.
public enum Formats {
    /// A pragmatic email check: one `@`, a non-empty local part, a dotted domain, no spaces.
    public static func isEmail(_ string: String) -> Bool {
        let parts = string.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[0].count <= 64, string.count <= 254 else { return false }
        let domain = parts[1]
        guard domain.contains("."), !domain.hasPrefix("."), !domain.hasSuffix("."), !domain.contains("..") else { return false }
        return !string.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" || $0 == "," })
    }

    /// An absolute `http` or `https` URL with a host.
    public static func isHTTPURL(_ string: String) -> Bool {
        guard !string.contains(where: \.isWhitespace), let url = URL(string: string),
            let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            let host = url.host, !host.isEmpty
        else { return false }
        return true
    }

    /// Prints 2.0 as `2` and 0.7 as `0.7`.
    public static func number(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }
}

/// A field's `pattern`, compiled once. A pattern that does not compile matches nothing
/// (the schema loader rejects such patterns, so this is a last line of defence).
public struct FieldPattern: @unchecked Sendable {
    public let source: String
    private let regex: NSRegularExpression?

    public init(_ source: String) {
        self.source = source
        self.regex = try? NSRegularExpression(pattern: source)
    }

    public func matches(_ string: String) -> Bool {
        guard let regex else { return false }
        let range = NSRange(string.startIndex..<string.endIndex, in: string)
        return regex.firstMatch(in: string, range: range) != nil
    }
}
