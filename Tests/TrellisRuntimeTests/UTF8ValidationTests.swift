import Testing

@testable import TrellisRuntime

/// `UTF8Validation` must decide exactly what the standard library decides; each case is
/// checked at every offset from a word boundary, so both the eight-byte ASCII step and the
/// byte-at-a-time tail see it.
@Suite("UTF-8 validation agrees with the standard library's")
struct UTF8ValidationTests {
    private func ours(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer { UTF8Validation.isValid($0) } }
    private func standard(_ bytes: [UInt8]) -> Bool { bytes.withUnsafeBufferPointer { (try? UTF8Span(validating: $0.span)) != nil } }
    /// Whether `UTF8Validation` and the standard library give `bytes` the same answer.
    private func agree(_ bytes: [UInt8]) -> Bool { ours(bytes) == standard(bytes) }

    /// Both answers for `bytes`, behind each of 0 to 9 ASCII bytes and before 0 or 9 more.
    private func answers(_ bytes: [UInt8]) -> [(ours: Bool, standard: Bool, input: [UInt8])] {
        var results: [(Bool, Bool, [UInt8])] = []
        for prefix in 0...9 {
            for suffix in [0, 9] {
                let input = [UInt8](repeating: 0x61, count: prefix) + bytes + [UInt8](repeating: 0x62, count: suffix)
                results.append((ours(input), standard(input), input))
            }
        }
        return results
    }

    @Test("every one- and two-byte sequence")
    func everyShortSequence() {
        var disagreements: [[UInt8]] = []
        for first in 0...255 {
            for second in [nil] + (0...255).map(Optional.some) {
                let bytes = [UInt8(first)] + (second.map { [UInt8($0)] } ?? [])
                // One case per pair, before an ASCII byte: the offsets are covered below.
                if !agree(bytes + [0x61]) { disagreements.append(bytes) }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    @Test("every three-byte sequence whose lead starts one", arguments: Array(0xE0...0xEF))
    func everyThreeByteSequence(lead: Int) {
        var disagreements: [[UInt8]] = []
        for second in 0...255 {
            for third in 0...255 {
                let bytes: [UInt8] = [UInt8(lead), UInt8(second), UInt8(third)]
                if !agree(bytes) { disagreements.append(bytes) }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10))")
    }

    @Test("the edges of the well-formed ranges, at every offset from a word boundary", arguments: [
        // Valid: the first and last of each form.
        [0x7F], [0xC2, 0x80], [0xDF, 0xBF], [0xE0, 0xA0, 0x80], [0xED, 0x9F, 0xBF], [0xEE, 0x80, 0x80],
        [0xEF, 0xBF, 0xBF], [0xF0, 0x90, 0x80, 0x80], [0xF4, 0x8F, 0xBF, 0xBF], [0xF3, 0xBF, 0xBF, 0xBF],
        // Ill-formed: overlong forms, surrogates, beyond U+10FFFF, stray and missing continuations.
        [0xC0, 0x80], [0xC1, 0xBF], [0xE0, 0x9F, 0xBF], [0xED, 0xA0, 0x80], [0xF0, 0x8F, 0xBF, 0xBF],
        [0xF4, 0x90, 0x80, 0x80], [0xF5, 0x80, 0x80, 0x80], [0xFF], [0x80], [0xBF, 0x61],
        [0xE2, 0x82], [0xF0, 0x9F, 0x98], [0xF0, 0x9F, 0x98, 0x41], [0xE2, 0x41, 0xAC], [0xC3],
    ] as [[UInt8]])
    func edges(bytes: [UInt8]) {
        for answer in answers(bytes) {
            #expect(answer.ours == answer.standard, "\(answer.input)")
        }
    }

    @Test("prose with characters beyond ASCII scattered through it, and one byte broken at each place")
    func prose() {
        let text = Array("Plans — résumé, naïve café; 日本語のテキスト 🚀 and emoji 👩‍💻 at the end…".utf8)
        for answer in answers(text) {
            #expect(answer.ours && answer.standard)
        }
        for index in text.indices {
            for replacement: UInt8 in [0x80, 0xC0, 0xFF, 0x41] where text[index] != replacement {
                var broken = text
                broken[index] = replacement
                for answer in answers(broken) {
                    #expect(answer.ours == answer.standard, "\(answer.input)")
                }
            }
        }
    }

    @Test("random bytes, mostly ASCII with multi-byte runs, agree")
    func randomBytes() {
        var generator = SystemRandomNumberGenerator()
        var disagreements: [[UInt8]] = []
        for _ in 0..<20_000 {
            let count = Int.random(in: 0...40, using: &generator)
            let bytes = (0..<count).map { _ -> UInt8 in
                Bool.random(using: &generator) ? UInt8.random(in: 0x20...0x7E, using: &generator)
                    : UInt8.random(in: 0x80...0xFF, using: &generator)
            }
            if !agree(bytes) { disagreements.append(bytes) }
        }
        #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
    }
}
