/// The text Postgres sends for a `jsonb` value, written compactly in one pass.
///
/// `jsonb`'s output is canonical: a space after each `:` and `,` and nowhere else outside
/// strings, strings escaped by Postgres only where they must be, numbers as `numeric` prints
/// them. Most values of most rows (a small `config` object) are therefore only their text
/// without those spaces, which is what ``copyCompact(_:into:)`` writes, as fast as it can
/// scan. Whatever it does not copy byte for byte as ``JSONParser/copy(_:to:)`` would write
/// it, it declines, and the caller copies the value through the parser: strings with an
/// escape other than `\"`, `\\`, `\n`, `\r` and `\t` (the ones both write alike),
/// numbers whose text `JSONWriter` would not write back unchanged (see ``numberEnd``),
/// nesting deeper than ``JSONParser/maximumDepth``, and any byte that cannot start a token
/// of that canonical form.
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
                guard let end = numberEnd(base, count, from: index) else { return false }
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

    /// The index of the closing quote of the string whose text starts at `start`, if its
    /// only escapes are those `JSONWriter` writes the same way, it has no raw control
    /// character, and its bytes are UTF-8.
    private static func stringEnd(_ base: UnsafePointer<UInt8>, _ count: Int, from start: Int) -> Int? {
        let rest = UnsafeBufferPointer(start: base + start, count: count - start)
        var end = JSONWriter.firstEscape(in: rest, from: 0)
        while end < rest.count, rest[end] == UInt8(ascii: "\\") {
            guard end + 1 < rest.count else { return nil }
            switch rest[end + 1] {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"): break
            default: return nil
            }
            end = JSONWriter.firstEscape(in: rest, from: end + 2)
        }
        guard end < rest.count, rest[end] == UInt8(ascii: "\"") else { return nil }
        let content = UnsafeBufferPointer(rebasing: rest[..<end])
        guard JSONWriter.isUTF8(content) else { return nil }
        return start + end
    }

    /// The end of the number at `start` if `JSONWriter` writes the value it reads as back as
    /// the same text:
    /// - an integer: an optional `-`, then `0` alone or up to 18 digits without a leading
    ///   zero (`-0` is not one: it is written `0`);
    /// - a fraction without an exponent: an optional `-`, an integer part as above of at most
    ///   15 digits, `.`, digits not ending in `0`, at most 15 significant digits in all and
    ///   at most three zeros after `0.` (from 1e-4 on, `Double.description` writes the
    ///   shortest digits that read back, which for 15 or fewer are these, without an
    ///   exponent; checked over millions of random fractions when this was written).
    static func numberEnd(_ base: UnsafePointer<UInt8>, _ count: Int, from start: Int) -> Int? {
        func isDigit(_ index: Int) -> Bool { index < count && base[index] >= UInt8(ascii: "0") && base[index] <= UInt8(ascii: "9") }
        var index = start
        if base[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        while isDigit(index) { index += 1 }
        let integerDigits = index - integerStart
        guard integerDigits >= 1 else { return nil }
        let zeroInteger = base[integerStart] == UInt8(ascii: "0")
        if zeroInteger { guard integerDigits == 1 else { return nil } }  // a leading zero
        if index < count, base[index] == UInt8(ascii: "e") || base[index] == UInt8(ascii: "E") { return nil }
        guard index < count, base[index] == UInt8(ascii: ".") else {
            guard integerDigits <= 18, !(zeroInteger && integerStart != start) else { return nil }  // -0
            return index
        }
        index += 1
        let fractionStart = index
        while isDigit(index) { index += 1 }
        let fractionDigits = index - fractionStart
        guard fractionDigits >= 1, base[index - 1] != UInt8(ascii: "0") else { return nil }
        if index < count, base[index] == UInt8(ascii: "e") || base[index] == UInt8(ascii: "E") { return nil }
        if zeroInteger {
            var zeros = 0
            while base[fractionStart + zeros] == UInt8(ascii: "0") { zeros += 1 }
            guard zeros <= 3, fractionDigits - zeros <= 15 else { return nil }
        } else {
            guard integerDigits + fractionDigits <= 15 else { return nil }
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
