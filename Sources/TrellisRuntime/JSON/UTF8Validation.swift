/// Whether bytes are well-formed UTF-8 (RFC 3629; the Unicode Standard's table 3-7): the
/// answer of `UTF8Span(validating:)`, found eight ASCII bytes at a time.
///
/// Why not the standard library's: it checks a byte at a time once a string holds anything
/// beyond ASCII, and a page of rows with a few accented letters or dashes in its prose spent
/// 2.6% of its CPU there (Benchmarks/README.md). Text from a row is mostly ASCII with a
/// multi-byte character here and there, so this skips whole words of ASCII and checks each
/// multi-byte sequence in place.
enum UTF8Validation {
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let base = bytes.baseAddress else { return true }
        let count = bytes.count
        var index = 0
        while index < count {
            while index &+ 8 <= count {
                let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                if word & 0x8080_8080_8080_8080 != 0 { break }
                index &+= 8
            }
            guard index < count else { return true }
            let lead = base[index]
            if lead < 0x80 {
                index &+= 1
                continue
            }
            // The lead byte says how many continuation bytes follow and, for the leads next to
            // an ill-formed range (overlong forms, surrogates, beyond U+10FFFF), which values
            // the first of them may take.
            let continuations: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: continuations = 1
            case 0xE0: continuations = 2; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: continuations = 2
            case 0xED: continuations = 2; high = 0x9F
            case 0xF0: continuations = 3; low = 0x90
            case 0xF1...0xF3: continuations = 3
            case 0xF4: continuations = 3; high = 0x8F
            default: return false  // a continuation byte, C0, C1 or F5 and above
            }
            guard index &+ continuations < count else { return false }
            let first = base[index &+ 1]
            guard first >= low, first <= high else { return false }
            var next = 2
            while next <= continuations {
                guard base[index &+ next] & 0xC0 == 0x80 else { return false }
                next &+= 1
            }
            index &+= continuations &+ 1
        }
        return true
    }
}
