import Crypto
import Foundation

/// The key that seals backups: `TRELLIS_BACKUP_KEY`, 32 random bytes in base64
/// (`openssl rand -base64 32`). Keep it apart from the backups it seals.
public struct BackupKey: Sendable {
    let key: SymmetricKey
    /// The key that signs manifests: derived, so the sealing key is used for one purpose only.
    let manifestKey: SymmetricKey
    /// A short fingerprint written into the manifest, so a restore with the wrong key is refused
    /// by name before any decryption. A hash of the key under its own label: it reveals nothing.
    public let fingerprint: String

    public init(base64 text: String) throws {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw BackupError("TRELLIS_BACKUP_KEY must be 32 random bytes in base64 (openssl rand -base64 32)")
        }
        key = SymmetricKey(data: bytes)
        manifestKey = HKDF<SHA256>.deriveKey(
            inputKeyMaterial: key, info: Data("trellis-backup-manifest-v1".utf8), outputByteCount: 32)
        let digest = SHA256.hash(data: Data("trellis-backup-key-v1".utf8) + bytes)
        fingerprint = digest.prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}

/// AES-256-GCM over a stream, in chunks, so a dump of any size is sealed as it is read and never
/// held whole in memory.
///
/// Layout: the 16-byte magic `TRELLIS-AESGCM-1`, an 8-byte random nonce prefix, then chunks, each
/// a 4-byte big-endian length followed by that many bytes of ciphertext and its 16-byte tag. A
/// chunk's nonce is the prefix and its 4-byte big-endian index; its additional data is the
/// backup's id and one byte that is 1 on the last chunk only. So chunks cannot be reordered,
/// dropped, cut off at the end or moved into another backup without the open failing.
public enum SealedStream {
    static let magic = Array("TRELLIS-AESGCM-1".utf8)
    /// Plaintext bytes per chunk.
    public static let chunkSize = 1 << 20
    static let tagSize = 16

    /// Seals what ``write(_:)`` is given and hands the sealed bytes to `output`.
    public struct Writer {
        private let key: SymmetricKey
        private let context: [UInt8]
        private let prefix: [UInt8]
        private let output: ([UInt8]) throws -> Void
        private var pending: [UInt8] = []
        private var index: UInt32 = 0

        public init(key: BackupKey, context: String, output: @escaping ([UInt8]) throws -> Void) throws {
            self.key = key.key
            self.context = Array(context.utf8)
            var prefix = [UInt8](repeating: 0, count: 8)
            var generator = SystemRandomNumberGenerator()
            for i in prefix.indices { prefix[i] = generator.next() }
            self.prefix = prefix
            self.output = output
            pending.reserveCapacity(SealedStream.chunkSize)
            try output(SealedStream.magic + prefix)
        }

        public mutating func write(_ bytes: some Collection<UInt8>) throws {
            var rest = bytes[...]
            while !rest.isEmpty {
                let take = min(SealedStream.chunkSize - pending.count, rest.count)
                pending.append(contentsOf: rest.prefix(take))
                rest = rest.dropFirst(take)
                if pending.count == SealedStream.chunkSize { try seal(isLast: false) }
            }
        }

        /// Seals what is pending as the last chunk (possibly empty).
        public mutating func finish() throws {
            try seal(isLast: true)
        }

        private mutating func seal(isLast: Bool) throws {
            guard index < UInt32.max else { throw BackupError("the dump is too large to seal (over 4 PiB)") }
            let box = try AES.GCM.seal(
                pending, using: key, nonce: SealedStream.nonce(prefix, index),
                authenticating: SealedStream.additionalData(context, isLast: isLast))
            var framed = SealedStream.bigEndian(UInt32(box.ciphertext.count + SealedStream.tagSize))
            framed.append(contentsOf: box.ciphertext)
            framed.append(contentsOf: box.tag)
            try output(framed)
            pending.removeAll(keepingCapacity: true)
            index += 1
        }
    }

    /// Opens the sealed file at `input` and hands each chunk's plaintext to `sink`, in order.
    /// Throws if any chunk fails to authenticate, the last-chunk mark is missing, or bytes follow it.
    public static func open(
        _ input: URL, key: BackupKey, context: String, into sink: ([UInt8]) throws -> Void
    ) throws {
        let handle = try FileHandle(forReadingFrom: input)
        defer { try? handle.close() }
        let file = input.lastPathComponent
        guard let head = try handle.read(upToCount: magic.count + 8), head.count == magic.count + 8,
            Array(head.prefix(magic.count)) == magic
        else {
            throw BackupError("\(file) is not a sealed Trellis dump (no TRELLIS-AESGCM-1 header)")
        }
        let prefix = Array(head.suffix(8))
        let context = Array(context.utf8)
        var index: UInt32 = 0
        while true {
            guard let lengthBytes = try handle.read(upToCount: 4), lengthBytes.count == 4 else {
                throw BackupError("\(file) ends before its last chunk: the file was cut short")
            }
            let length = lengthBytes.reduce(0) { $0 << 8 | Int($1) }
            guard length >= tagSize, length <= chunkSize + tagSize else {
                throw BackupError("\(file): chunk \(index) has an impossible length (\(length) bytes): the file is damaged")
            }
            guard let body = try handle.read(upToCount: length), body.count == length else {
                throw BackupError("\(file) ends inside chunk \(index): the file was cut short")
            }
            let box = try AES.GCM.SealedBox(
                nonce: nonce(prefix, index), ciphertext: body.prefix(length - tagSize), tag: body.suffix(tagSize))
            // The last chunk authenticates only with the last-chunk mark: try the usual case first.
            let plain: Data
            var isLast = false
            if let opened = try? AES.GCM.open(box, using: key.key, authenticating: additionalData(context, isLast: false)) {
                plain = opened
            } else if let opened = try? AES.GCM.open(box, using: key.key, authenticating: additionalData(context, isLast: true)) {
                plain = opened
                isLast = true
            } else {
                throw BackupError(
                    "\(file): chunk \(index) does not authenticate: the file was altered, belongs to another backup, or the key is wrong")
            }
            try sink(Array(plain))
            if isLast {
                if let extra = try handle.read(upToCount: 1), !extra.isEmpty {
                    throw BackupError("\(file) has bytes after its last chunk: the file was altered")
                }
                return
            }
            guard index < UInt32.max else { throw BackupError("\(file) has too many chunks") }
            index += 1
        }
    }

    static func nonce(_ prefix: [UInt8], _ index: UInt32) throws -> AES.GCM.Nonce {
        try AES.GCM.Nonce(data: prefix + bigEndian(index))
    }

    static func additionalData(_ context: [UInt8], isLast: Bool) -> [UInt8] {
        context + [isLast ? 1 : 0]
    }

    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}
