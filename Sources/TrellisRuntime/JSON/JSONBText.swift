/// The text Postgres sends for a `jsonb` value, written compactly in one pass.
///
/// `jsonb`'s output is canonical: a space after each `:` and `,` and nowhere else outside
/// strings, strings escaped by Postgres only where they must be, numbers as `numeric` prints
/// them. Most values of most rows (a small `config` object) are therefore only their text
/// without those spaces, which is what ``copyCompact(_:into:)`` writes, as fast as it can
/// scan. Whatever it does not copy byte for byte as ``JSONParser/copy(_:to:)`` would write
/// it, it declines, and the caller copies the value through the parser: strings with an
/// escape, numbers that are not plain integers of at most 18 digits (the parser writes
/// `1.50` as `1.5`), `-0`, nesting deeper than ``JSONParser/maximumDepth``, and any byte
/// that cannot start a token of that canonical form.
///
/// Only for `jsonb`: Postgres has checked the value's grammar when it stored it, and this
/// does not check it again. (`json` keeps its input's text, whitespace and all, so it is
/// always copied through the parser.)
enum JSONBText {
    /// Appends `text` (one JSON value as `jsonb` prints it) without its spaces; false, with
    /// `out` possibly extended, if it declines (the caller restores `out`).
    static func copyCompact(_ text: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) -> Bool {
        guard let base = text.baseAddress else { return false }
        let count = text.count
        out.reserveCapacity(out.count + count)
        var index = 0
        var run = 0  // the start of the bytes not yet appended
        var depth = 0
        while index < count {
            switch base[index] {
            case UInt8(ascii: " "):
                out.append(contentsOf: UnsafeBufferPointer(start: base + run, count: index - run))
                index += 1
                run = index
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                guard depth <= JSONParser.maximumDepth else { return false }
                index += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                index += 1
            case UInt8(ascii: ","), UInt8(ascii: ":"):
                index += 1
            case UInt8(ascii: "\""):
                guard let end = stringEnd(base, count, from: index + 1) else { return false }
                index = end + 1
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard let end = integerEnd(base, count, from: index) else { return false }
                index = end
            case UInt8(ascii: "t"):
                guard matches(base, count, at: index, "true") else { return false }
                index += 4
            case UInt8(ascii: "f"):
                guard matches(base, count, at: index, "false") else { return false }
                index += 5
            case UInt8(ascii: "n"):
                guard matches(base, count, at: index, "null") else { return false }
                index += 4
            default:
                return false
            }
        }
        out.append(contentsOf: UnsafeBufferPointer(start: base + run, count: count - run))
        return depth == 0 && count > 0
    }

    /// The index of the closing quote of the string whose text starts at `start`, if the
    /// string has no escape and no control character and its bytes are UTF-8.
    private static func stringEnd(_ base: UnsafePointer<UInt8>, _ count: Int, from start: Int) -> Int? {
        let rest = UnsafeBufferPointer(start: base + start, count: count - start)
        let end = start + JSONWriter.firstEscape(in: rest, from: 0)
        guard end < count, base[end] == UInt8(ascii: "\"") else { return nil }
        let content = UnsafeBufferPointer(start: base + start, count: end - start)
        guard content.allSatisfy({ $0 < 0x80 }) || JSONWriter.isUTF8(content) else { return nil }
        return end
    }

    /// The end of the integer at `start` if it is one the parser writes back unchanged: an
    /// optional `-`, then `0` alone or up to 18 digits without a leading zero, then no `.`,
    /// `e` or `E`; `-0` is not (the parser writes `0`).
    private static func integerEnd(_ base: UnsafePointer<UInt8>, _ count: Int, from start: Int) -> Int? {
        var index = start
        if base[index] == UInt8(ascii: "-") { index += 1 }
        let digits = index
        while index < count, base[index] >= UInt8(ascii: "0"), base[index] <= UInt8(ascii: "9") { index += 1 }
        let length = index - digits
        guard length >= 1, length <= 18 else { return nil }
        if base[digits] == UInt8(ascii: "0") {
            guard length == 1, digits == start else { return nil }  // leading zero, or -0
        }
        if index < count {
            switch base[index] {
            case UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"): return nil
            default: break
            }
        }
        return index
    }

    private static func matches(_ base: UnsafePointer<UInt8>, _ count: Int, at index: Int, _ literal: StaticString) -> Bool {
        let length = literal.utf8CodeUnitCount
        guard count - index >= length else { return false }
        for offset in 0..<length where base[index + offset] != literal.utf8Start[offset] { return false }
        return true
    }
}
