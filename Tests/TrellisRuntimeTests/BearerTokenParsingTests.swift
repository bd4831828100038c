import Foundation
import Testing

@testable import TrellisRuntime

@Suite("Bearer headers and API keys parse byte by byte as they did by character")
struct BearerTokenParsingTests {
    @Test("the scheme is 'Bearer' in any case, then one space or more; the token is the rest")
    func bearerScheme() {
        #expect(AuthenticationMiddleware.bearerToken("Bearer abc") == "abc")
        #expect(AuthenticationMiddleware.bearerToken("bearer abc") == "abc")
        #expect(AuthenticationMiddleware.bearerToken("BEARER    abc def") == "abc def")
        #expect(AuthenticationMiddleware.bearerToken("bEaReR trk_é") == "trk_é")
        // Spaces only after the scheme: an empty credential, refused later as malformed.
        #expect(AuthenticationMiddleware.bearerToken("Bearer   ") == "")
        for refused in ["", "Bearer", "Bearer ", "Bearerabc", "Basic abc", "Bearer\tabc", "Bearér abc", " Bearer abc", "Bear"] {
            #expect(AuthenticationMiddleware.bearerToken(refused) == nil, "\(refused)")
        }
    }

    @Test("a key is trk_, 32 hex digits, an underscore and a 16 to 128 byte secret; nothing else is")
    func apiKeys() throws {
        let key = APIKeyToken.generate()
        let parsed = try #require(APIKeyToken(parsing: Substring(key.text)))
        #expect(parsed == key)
        let hex = key.id.hex32
        let upper = try #require(APIKeyToken(parsing: Substring("trk_\(hex.uppercased())_\(key.secret)")))
        #expect(upper.id == key.id)
        #expect(APIKeyToken(parsing: Substring("trk_\(hex)_\(String(repeating: "s", count: 16))"))?.secret == String(repeating: "s", count: 16))
        #expect(APIKeyToken(parsing: Substring("trk_\(hex)_\(String(repeating: "s", count: 128))")) != nil)
        for refused in [
            "", "trk_", "trk_\(hex)", "trk_\(hex)_", "trk_\(hex)_\(String(repeating: "s", count: 15))",
            "trk_\(hex)_\(String(repeating: "s", count: 129))", "trk_\(hex)x\(key.secret)", "TRK_\(hex)_\(key.secret)",
            "trk_\(hex.dropLast())g_\(key.secret)", "trk_\(hex.dropLast())_\(key.secret)", "trs_\(hex)_\(key.secret)",
            "trk_é\(hex.dropFirst(2))_\(key.secret)",
        ] {
            #expect(APIKeyToken(parsing: Substring(refused)) == nil, "\(refused)")
        }
    }
}
