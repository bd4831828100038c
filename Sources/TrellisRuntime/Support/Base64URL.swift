/// Base64url without padding (RFC 4648 §5), encoded and decoded byte by byte: cursors are
/// written on every list page and read on every next one, and API key secrets and JWT parts
/// use the same alphabet.
enum Base64URL {
    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

    static func encode(_ bytes: [UInt8]) -> String {
        let count = (bytes.count * 4 + 2) / 3
        return String(unsafeUninitializedCapacity: count) { output in
            alphabet.withUTF8Buffer { table in
                var out = 0
                var index = 0
                while index + 3 <= bytes.count {
                    let word = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
                    output[out] = table[Int(word >> 18 & 63)]
                    output[out + 1] = table[Int(word >> 12 & 63)]
                    output[out + 2] = table[Int(word >> 6 & 63)]
                    output[out + 3] = table[Int(word & 63)]
                    out += 4
                    index += 3
                }
                let rest = bytes.count - index
                if rest > 0 {
                    let word = UInt32(bytes[index]) << 16 | (rest > 1 ? UInt32(bytes[index + 1]) << 8 : 0)
                    output[out] = table[Int(word >> 18 & 63)]
                    output[out + 1] = table[Int(word >> 12 & 63)]
                    out += 2
                    if rest > 1 {
                        output[out] = table[Int(word >> 6 & 63)]
                        out += 1
                    }
                }
                return out
            }
        }
    }

    /// Nil for anything that is not unpadded base64url (a `=`, a character outside the
    /// alphabet, a length that no byte string encodes to, or non-zero unused bits).
    static func decode(_ text: Substring) -> [UInt8]? {
        let utf8 = text.utf8
        guard utf8.count % 4 != 1 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count * 3 / 4)
        var word: UInt32 = 0
        var bits = 0
        for character in utf8 {
            guard let value = sextet(character) else { return nil }
            word = word << 6 | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                bytes.append(UInt8(truncatingIfNeeded: word >> UInt32(bits)))
                word &= (1 << UInt32(bits)) - 1
            }
        }
        // The leftover bits of the last character must be zero (one canonical spelling).
        guard word == 0 else { return nil }
        return bytes
    }

    private static func sextet(_ character: UInt8) -> UInt8? {
        switch character {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): character - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): character - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): character - UInt8(ascii: "0") + 52
        case UInt8(ascii: "-"): 62
        case UInt8(ascii: "_"): 63
        default: nil
        }
    }
}
