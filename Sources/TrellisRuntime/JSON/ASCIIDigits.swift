import Foundation

/// Numbers and ids written as ASCII digits straight into bytes: what the JSON writer, the
/// log handler and request ids use instead of `String(value)`, `uuidString` and
/// `lowercased()`, which each allocate a string per value on the request path.
enum ASCIIDigits {
    /// The value of one hexadecimal digit, either case; nil for any other byte.
    static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static let hexDigits: StaticString = "0123456789abcdef"

    /// `value` in decimal, zero-padded to at least `width` digits.
    static func decimal(_ value: UInt64, _ width: Int, to bytes: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(width, 20)) { buffer in
            let count = decimal(value, width, into: buffer, at: 0)
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    /// `value` in decimal, zero-padded to at least `width` digits, written at `offset` (with room
    /// for `max(width, 20)` bytes, enough for any value); returns the offset after the last digit.
    @inline(__always)
    static func decimal(_ value: UInt64, _ width: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) -> Int {
        var count = 1
        var rest = value / 10
        while rest > 0 {
            count &+= 1
            rest /= 10
        }
        let end = offset &+ max(width, count)
        var value = value
        var index = end &- 1
        while index >= offset {
            buffer[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
            value /= 10
            index &-= 1
        }
        return end
    }

    /// `value` (not negative) in decimal, zero-padded to at least `width` digits.
    static func decimal(_ value: Int64, _ width: Int, to bytes: inout [UInt8]) {
        decimal(UInt64(max(0, value)), width, to: &bytes)
    }

    /// The low `count * 4` bits of `value` as lowercase hex, most significant first, at `offset`.
    @inline(__always)
    static func hex(_ value: UInt64, digits count: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        hexDigits.withUTF8Buffer { table in
            var value = value
            var index = offset + count - 1
            while index >= offset {
                buffer[index] = table[Int(value & 0xF)]
                value >>= 4
                index -= 1
            }
        }
    }
}

extension UUID {
    /// The lowercase hyphenated form the API uses (`0192f3c4-7b1e-7c3a-9f2d-…`), without
    /// Foundation's formatter and a second `lowercased()` copy.
    public var lowercasedString: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            writeLowercased(into: buffer)
            return 36
        }
    }

    /// ``lowercasedString``'s 36 bytes at the start of `buffer`.
    func writeLowercased(into buffer: UnsafeMutableBufferPointer<UInt8>) {
        withUnsafeBytes(of: uuid) { raw in
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 { high = high << 8 | UInt64(raw[index]) }
            for index in 8..<16 { low = low << 8 | UInt64(raw[index]) }
            // 8-4-4-4-12
            ASCIIDigits.hex(high >> 32, digits: 8, into: buffer, at: 0)
            buffer[8] = UInt8(ascii: "-")
            ASCIIDigits.hex(high >> 16, digits: 4, into: buffer, at: 9)
            buffer[13] = UInt8(ascii: "-")
            ASCIIDigits.hex(high, digits: 4, into: buffer, at: 14)
            buffer[18] = UInt8(ascii: "-")
            ASCIIDigits.hex(low >> 48, digits: 4, into: buffer, at: 19)
            buffer[23] = UInt8(ascii: "-")
            ASCIIDigits.hex(low, digits: 12, into: buffer, at: 24)
        }
    }
}

extension UUID {
    /// Reads the hyphenated form (`8-4-4-4-12` hex digits, either case): exactly the texts
    /// `UUID(uuidString:)` accepts, without its `sscanf` (3% of a nested GraphQL query's CPU).
    public init?(hyphenated text: String) {
        var text = text
        var value: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        let valid = text.withUTF8 { utf8 in
            withUnsafeMutableBytes(of: &value) { out in
                guard utf8.count == 36 else { return false }
                var index = 0
                var position = 0
                while position < 36 {
                    if position == 8 || position == 13 || position == 18 || position == 23 {
                        guard utf8[position] == UInt8(ascii: "-") else { return false }
                        position += 1
                        continue
                    }
                    guard let high = ASCIIDigits.hexValue(utf8[position]), let low = ASCIIDigits.hexValue(utf8[position + 1]) else { return false }
                    out[index] = high << 4 | low
                    index += 1
                    position += 2
                }
                return true
            }
        }
        guard valid else { return nil }
        self.init(uuid: value)
    }
}
