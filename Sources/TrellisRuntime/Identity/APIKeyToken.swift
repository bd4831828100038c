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

    /// Parses `trk_<32 hex>_<secret>`; nil for anything else. Byte by byte: every request
    /// with a key comes through here, and counting or slicing by `Character` cost 3% of a
    /// `get`'s CPU.
    public init?(parsing text: Substring) {
        let utf8 = text.utf8
        let prefixLength = Self.prefix.utf8.count
        guard utf8.count > prefixLength + 33, utf8.starts(with: Self.prefix.utf8) else { return nil }
        let hexStart = utf8.index(utf8.startIndex, offsetBy: prefixLength)
        let hexEnd = utf8.index(hexStart, offsetBy: 32)
        guard utf8[hexEnd] == UInt8(ascii: "_"), let id = UUID(hex32: utf8[hexStart..<hexEnd]) else { return nil }
        let secret = utf8[utf8.index(after: hexEnd)...]
        guard (16...128).contains(secret.count) else { return nil }
        self.id = id
        self.secret = String(Substring(secret))
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

    /// Parses 32 hex digits (either case), no dashes.
    init?(hex32 text: Substring) {
        self.init(hex32: text.utf8)
    }

    /// Parses 32 hex digits (either case), no dashes, byte by byte, without allocating.
    init?(hex32 bytes: some Sequence<UInt8>) {
        var high: UInt64 = 0
        var low: UInt64 = 0
        var count = 0
        for byte in bytes {
            guard count < 32, let nibble = ASCIIDigits.hexValue(byte) else { return nil }
            if count < 16 { high = high << 4 | UInt64(nibble) } else { low = low << 4 | UInt64(nibble) }
            count += 1
        }
        guard count == 32 else { return nil }
        let h = high.bigEndian, l = low.bigEndian
        var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &uuid) { raw in
            raw.storeBytes(of: h, toByteOffset: 0, as: UInt64.self)
            raw.storeBytes(of: l, toByteOffset: 8, as: UInt64.self)
        }
        self.init(uuid: uuid)
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
