import Foundation
import Testing

@testable import TrellisRuntime

@Suite("Query strings, read and written on bytes")
struct QueryStringTests {
    /// What the byte reader replaced: Foundation's decoding of each half of each pair.
    static func reference(_ query: String) -> [(String, String)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                let spaced = s.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    @Test("reading decodes as Foundation did, malformed escapes and bytes that are not UTF-8 included", arguments: [
        "", "limit=20", "a=1&b=2&&c", "q=hello+world", "q=caf%C3%A9", "q=%E2%82%AC%20x", "q=100%",
        "q=%zz", "q=%4", "q=%FF%FE", "q=a%2Bb+c", "a=b=c", "=x", "name=%26%3D", "q=%c3%a9+%C3%A9",
        "emoji=%F0%9F%98%80", "x=%", "x=%%41", "k%20ey=v", "q=été", "q=%C3",
    ])
    func readingMatchesFoundation(query: String) {
        let read = QueryString.parameters(Substring(query))
        let expected = Self.reference(query)
        #expect(read.map(\.0) == expected.map(\.0))
        #expect(read.map(\.1) == expected.map(\.1))
    }

    @Test("a written query reads back as the pairs written, whatever characters they hold")
    func writingRoundTrips() {
        var generator = SeededGenerator(seed: 11)
        let alphabet = Array("aZ09-._~!$'()*,;:@/?&=+%# \"<>[]\\^`{|}é€😀\u{0}\u{7F}")
        for _ in 0..<500 {
            let pairs = (0..<Int.random(in: 1...4, using: &generator)).map { _ in
                (
                    String((0..<Int.random(in: 1...6, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }),
                    String((0..<Int.random(in: 0...8, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! })
                )
            }
            let written = QueryString.encode(pairs)
            let read = QueryString.parameters(Substring(written))
            #expect(read.map(\.0) == pairs.map(\.0), "\(written)")
            #expect(read.map(\.1) == pairs.map(\.1), "\(written)")
            #expect(!written.contains(" ") && !written.contains("#") && !written.contains("+"), "\(written)")
        }
    }

    @Test("writing keeps what needs no escape and escapes the rest in upper-case hex")
    func writingEscapes() {
        #expect(QueryString.encode([("limit", "20"), ("cursor", "eyJh_b-c")]) == "limit=20&cursor=eyJh_b-c")
        #expect(QueryString.encode([("q", "c++ & more=é")]) == "q=c%2B%2B%20%26%20more%3D%C3%A9")
        #expect(QueryString.encode([("created_after", "2026-01-01T00:00:00Z")]) == "created_after=2026-01-01T00:00:00Z")
    }
}
