import Hummingbird

/// A URL's query string as name/value pairs, both ways, on bytes: what every list, search and
/// `Link: rel="next"` reads and writes. Foundation's `replacingOccurrences`,
/// `removingPercentEncoding` and `URLComponents` did the same with bridged strings and were
/// 8% of a 20-row list's server CPU.
public enum QueryString {
    /// The pairs of `query`, percent-decoded, in order; `+` is a space, as in forms. A name or
    /// value whose escapes are malformed (`%` without two hex digits) or do not decode to UTF-8
    /// is kept as sent, with only its `+` turned into spaces.
    public static func parameters(_ query: Substring) -> [(String, String)] {
        var pairs: [(String, String)] = []
        for pair in query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            if let equals = pair.firstIndex(of: UInt8(ascii: "=")) {
                pairs.append((decode(pair[..<equals]), decode(pair[pair.index(after: equals)...])))
            } else {
                pairs.append((decode(pair), ""))
            }
        }
        return pairs
    }

    /// `pairs` as a query string (no leading `?`): each name and value percent-encoded as
    /// UTF-8, keeping only RFC 3986's unreserved characters and the sub-delimiters that mean
    /// nothing to ``parameters(_:)`` (so `&`, `=`, `+`, `%` and `#` are always escaped, and a
    /// value read back is the value written).
    public static func encode(_ pairs: some Sequence<(String, String)>) -> String {
        var bytes: [UInt8] = []
        for (name, value) in pairs {
            if !bytes.isEmpty { bytes.append(UInt8(ascii: "&")) }
            escape(name, into: &bytes)
            bytes.append(UInt8(ascii: "="))
            escape(value, into: &bytes)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    // MARK: Decoding

    private static func decode(_ bytes: Substring.UTF8View.SubSequence) -> String {
        guard bytes.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else {
            return String(Substring(bytes))
        }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(bytes.count)
        var escapesValid = true
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            index = bytes.index(after: index)
            switch byte {
            case UInt8(ascii: "+"):
                decoded.append(UInt8(ascii: " "))
            case UInt8(ascii: "%") where escapesValid:
                guard index < bytes.endIndex, let high = hexValue(bytes[index]),
                    bytes.index(after: index) < bytes.endIndex, let low = hexValue(bytes[bytes.index(after: index)])
                else {
                    escapesValid = false
                    decoded.append(byte)
                    continue
                }
                decoded.append(high << 4 | low)
                index = bytes.index(index, offsetBy: 2)
            default:
                decoded.append(byte)
            }
        }
        if escapesValid, let text = String(validating: decoded, as: UTF8.self) { return text }
        // As sent, with only `+` as a space.
        return String(decoding: bytes.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    // MARK: Encoding

    private static func escape(_ text: String, into bytes: inout [UInt8]) {
        let hex: StaticString = "0123456789ABCDEF"
        for byte in text.utf8 {
            if isKept(byte) {
                bytes.append(byte)
            } else {
                hex.withUTF8Buffer { digits in
                    bytes.append(UInt8(ascii: "%"))
                    bytes.append(digits[Int(byte >> 4)])
                    bytes.append(digits[Int(byte & 0x0F)])
                }
            }
        }
    }

    private static func isKept(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"),
            UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "'"), UInt8(ascii: "("), UInt8(ascii: ")"),
            UInt8(ascii: "*"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: ":"), UInt8(ascii: "@"),
            UInt8(ascii: "/"), UInt8(ascii: "?"):
            true
        default:
            false
        }
    }
}

/// Query-string parameters of `request`, percent-decoded, in order (`+` is a space, as in forms).
func queryParameters(of request: Request) -> [(String, String)] {
    guard let query = request.uri.query, !query.isEmpty else { return [] }
    return QueryString.parameters(Substring(query))
}
