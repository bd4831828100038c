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

extension UUID {
    /// 32 lowercase hex digits, no dashes.
    var hex32: String {
        withUnsafeBytes(of: uuid) { raw in
            var high: UInt64 = 0
            var low: UInt64 = 0
            for index in 0..<8 { high = high << 8 | UInt64(raw[index]) }
            for index in 8..<16 { low = low << 8 | UInt64(raw[index]) }
            return String(unsafeUninitializedCapacity: 32) { buffer in
                ASCIIDigits.hex(high, digits: 16, into: buffer, at: 0)
                ASCIIDigits.hex(low, digits: 16, into: buffer, at: 16)
                return 32
            }
        }
    }

    /// Parses 32 hex digits (either case), no dashes, byte by byte.
    init?(hex32 text: Substring) {
        var bytes = [UInt8](repeating: 0, count: 16)
        var index = 0
        for byte in text.utf8 {
            guard index < 32, let nibble = ASCIIDigits.hexValue(byte) else { return nil }
            bytes[index / 2] |= index % 2 == 0 ? nibble << 4 : nibble
            index += 1
        }
        guard index == 32 else { return nil }
        self.init(uuid: (bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
                         bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]))
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
