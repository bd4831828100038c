import Crypto
import Foundation

/// An API key as clients hold it: `trk_<id>_<secret>`, where `<id>` is the key's UUID as 32
/// lowercase hex digits and `<secret>` is 32 random bytes in base64url. Only the SHA-256 of
/// the secret is stored, so a database leak does not leak usable keys.
public struct APIKeyToken: Sendable, Hashable {
    public static let prefix = "trk_"

    public let id: UUID
    public let secret: String

    /// A new key with a fresh id and a secret from the system's CSPRNG.
    public static func generate() -> APIKeyToken {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return APIKeyToken(id: UUID.v7(), secret: Base64URL.encode(bytes))
    }

    init(id: UUID, secret: String) {
        self.id = id
        self.secret = secret
    }

    /// Parses `trk_<32 hex>_<secret>`; nil for anything else.
    public init?(parsing text: Substring) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let rest = text.dropFirst(Self.prefix.count)
        guard rest.count > 33 else { return nil }
        let hex = rest.prefix(32)
        guard rest.dropFirst(32).first == "_", let id = UUID(hex32: hex) else { return nil }
        let secret = rest.dropFirst(33)
        guard (16...128).contains(secret.utf8.count) else { return nil }
        self.id = id
        self.secret = String(secret)
    }

    /// The full token, shown to the user once.
    public var text: String { Self.prefix + id.hex32 + "_" + secret }

    /// What the database stores.
    public var secretHash: [UInt8] { Self.hash(secret) }

    public static func hash(_ secret: String) -> [UInt8] { Array(SHA256.hash(data: Array(secret.utf8))) }
}

enum Base64URL {
    static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ text: Substring) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        guard !base64.contains("=") else { return nil }
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64).map { Array($0) }
    }
}

extension UUID {
    /// 32 lowercase hex digits, no dashes.
    var hex32: String { uuidString.lowercased().replacingOccurrences(of: "-", with: "") }

    init?(hex32 text: Substring) {
        guard text.utf8.count == 32, text.allSatisfy(\.isHexDigit) else { return nil }
        let s = Array(text)
        let dashed = String(s[0..<8]) + "-" + String(s[8..<12]) + "-" + String(s[12..<16]) + "-" + String(s[16..<20]) + "-" + String(s[20..<32])
        self.init(uuidString: dashed)
    }
}

/// Constant-time comparison of two digests, so the time taken says nothing about how many
/// leading bytes matched.
func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    var difference: UInt8 = 0
    for i in a.indices { difference |= a[i] ^ b[i] }
    return difference == 0
}
