import Foundation
import Testing

@testable import TrellisRuntime

@Suite("Base64url and hex ids, written byte by byte")
struct Base64URLTests {
    /// Foundation's base64 turned into base64url without padding: what the byte writer replaced.
    static func reference(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    @Test("encoding matches Foundation's base64 in the URL alphabet, and decoding gives the bytes back, for 0 to 80 bytes")
    func roundTrip() {
        var generator = SeededGenerator(seed: 3)
        for length in 0...80 {
            for _ in 0..<5 {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let text = Base64URL.encode(bytes)
                #expect(text == Self.reference(bytes))
                #expect(Base64URL.decode(Substring(text)) == bytes)
            }
        }
    }

    @Test("decoding refuses padding, other alphabets, impossible lengths and non-canonical last characters", arguments: [
        "QQ==", "a+b/", "ab c", "a", "abcde", "QR", "QUJ", "é",
    ])
    func refusals(_ text: String) {
        #expect(Base64URL.decode(Substring(text)) == nil)
    }

    @Test("canonical short inputs decode")
    func shortInputs() {
        #expect(Base64URL.decode("") == [])
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("QUI") == [0x41, 0x42])
        #expect(Base64URL.decode("QUJD") == [0x41, 0x42, 0x43])
    }

    @Test("32 hex digits parse to the UUID they spell, in either case, and nothing else does")
    func hex32() {
        var generator = SeededGenerator(seed: 5)
        for _ in 0..<200 {
            let uuid = UUID.v7(now: Date(timeIntervalSince1970: Double(UInt32.random(in: 0...UInt32.max, using: &generator))))
            #expect(UUID(hex32: Substring(uuid.hex32)) == uuid)
            #expect(UUID(hex32: Substring(uuid.hex32.uppercased())) == uuid)
            #expect(uuid.hex32 == uuid.uuidString.lowercased().replacingOccurrences(of: "-", with: ""))
        }
        for bad in ["", "0123", String(repeating: "0", count: 31), String(repeating: "0", count: 33), String(repeating: "g", count: 32),
                    "0192f3c4-7b1e-7c3a-9f2d-0123456789"] {
            #expect(UUID(hex32: Substring(bad)) == nil)
        }
    }
}
