import Foundation
import HummingbirdTesting
import Testing
@testable import TrellisRuntime

/// Issue 7 item 4: unique text fields compare in Unicode NFC, so `café` typed composed
/// (U+00E9) or decomposed (e + U+0301) is one value.
@Suite("Unique text fields compare in Unicode NFC")
struct UniqueNFCTests {
    private static let composed = "caf\u{E9}"
    private static let decomposed = "cafe\u{301}"

    /// The JSON string literal for `text`, non-ASCII escaped so the bytes sent are exactly these scalars.
    private static func json(_ text: String) -> String {
        "\"" + text.unicodeScalars.map { $0.isASCII ? String($0) : String(format: "\\u%04x", $0.value) }.joined() + "\""
    }

    @Test("a decomposed name after a composed one is a 409 unique_violation on the field, and the stored name is NFC")
    func secondSpellingConflicts() async throws {
        try await withApp { client, _ in
            let first = try await client.send(.post, "/v1/tools", json: #"{"name":\#(Self.json(Self.decomposed))}"#)
            #expect(first.status == .created)
            // Stored (and returned) composed, whichever way it was typed.
            #expect(Array(try first.object().string("name")?.unicodeScalars ?? "".unicodeScalars) == Array(Self.composed.unicodeScalars))
            let second = try await client.send(.post, "/v1/tools", json: #"{"name":\#(Self.json(Self.composed))}"#)
            #expect(second.status == .conflict, "\(second.text)")
            #expect(try second.object().string("code") == "unique_violation")
        }
    }

    @Test("the filter on a unique field matches either spelling")
    func filterMatchesEitherSpelling() async throws {
        try await withApp { client, _ in
            #expect(try await client.send(.post, "/v1/tools", json: #"{"name":\#(Self.json(Self.composed))}"#).status == .created)
            for spelling in ["caf%C3%A9", "cafe%CC%81"] {
                let res = try await client.send(.get, "/v1/tools?name=\(spelling)")
                #expect(res.status == .ok)
                #expect(try res.object().array("data").count == 1, "\(spelling)")
            }
        }
    }

    @Test("a non-unique field keeps the bytes the client sent")
    func otherFieldsAreNotNormalized() async throws {
        try await withApp { client, _ in
            let res = try await client.send(.post, "/v1/agents", json: #"{"name":\#(Self.json(Self.decomposed))}"#)
            #expect(res.status == .created)
            #expect(Array(try res.object().string("name")?.unicodeScalars ?? "".unicodeScalars) == Array(Self.decomposed.unicodeScalars))
        }
    }
}
