import Crypto
import Foundation
import Logging

/// The HMAC-SHA256 keys that sign list cursors, so a client can only send back a cursor
/// this API made. The first key signs; every key verifies, which is how a key is rotated
/// without breaking pages a client has open: put the new key first, keep the old one
/// second for a grace period, then drop it.
///
/// Configured with `TRELLIS_CURSOR_KEYS` (comma-separated, each at least 32 bytes). When
/// unset, the server makes a random key at start, so cursors do not survive a restart and
/// do not work across instances (docs/operations.md).
public struct CursorKeys: Sendable {
    /// Signs new cursors.
    let signing: SymmetricKey
    /// An HMAC already keyed with ``signing``: every cursor's tag starts from a copy, so the
    /// key's two hash blocks are not computed again per page (2% of decoding a list page).
    private let signer: HMAC<SHA256>
    /// Verify cursors: the signing key first, then the older ones.
    let verifying: [SymmetricKey]

    /// The shortest key accepted: 32 bytes, the size of an HMAC-SHA256 output.
    public static let minimumKeyBytes = 32

    /// The environment variable the server reads.
    public static let environmentVariable = "TRELLIS_CURSOR_KEYS"

    /// Keys from their text (UTF-8 bytes of each); the first signs.
    public init?(_ keys: [String]) {
        guard let first = keys.first, keys.allSatisfy({ $0.utf8.count >= Self.minimumKeyBytes }) else { return nil }
        signing = SymmetricKey(data: Array(first.utf8))
        signer = HMAC(key: signing)
        verifying = keys.map { SymmetricKey(data: Array($0.utf8)) }
    }

    /// A random key, valid for this process only.
    public static func ephemeral() -> CursorKeys {
        let key = SymmetricKey(size: .bits256)
        return CursorKeys(signing: key, verifying: [key])
    }

    private init(signing: SymmetricKey, verifying: [SymmetricKey]) {
        self.signing = signing
        signer = HMAC(key: signing)
        self.verifying = verifying
    }

    /// Parses `TRELLIS_CURSOR_KEYS`: nil when it is unset or empty; a problem (never the
    /// key itself) for an empty entry or a key shorter than 32 bytes. Spaces around each key
    /// are ignored.
    public static func fromEnvironment(_ env: [String: String], problems: inout [String]) -> CursorKeys? {
        guard let text = env[environmentVariable], !text.isEmpty else { return nil }
        // Spaces around a key are a copy-and-paste accident, never key material.
        let keys = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        for (index, key) in keys.enumerated() where key.utf8.count < minimumKeyBytes {
            problems.append(
                "\(environmentVariable): key \(index + 1) of \(keys.count) is \(key.utf8.count) bytes; each key must be at least "
                    + "\(minimumKeyBytes) bytes (e.g. `openssl rand -hex 32`), keys separated by commas")
        }
        return CursorKeys(keys)
    }

    /// The configured keys, or a random one with a warning that cursors will not outlive
    /// this process (the log never contains a key).
    public static func forServer(_ configured: CursorKeys?, logger: Logger) -> CursorKeys {
        if let configured { return configured }
        logger.warning(
            "\(environmentVariable) is not set: list cursors are signed with a random key made at start, so they stop working after a restart and are not accepted by other instances")
        return .ephemeral()
    }

    /// The HMAC-SHA256 tag of `payload` under the signing key.
    func sign(_ payload: [UInt8]) -> [UInt8] {
        var hmac = signer
        hmac.update(data: payload)
        return Array(hmac.finalize())
    }

    /// Whether `tag` is `payload`'s tag under any of the keys (constant-time per key).
    func verify(_ tag: [UInt8], for payload: [UInt8]) -> Bool {
        verifying.contains { HMAC<SHA256>.isValidAuthenticationCode(tag, authenticating: payload, using: $0) }
    }
}
