import Crypto

/// SHA-256 of a migration file, as lowercase hex: the fingerprint `trellis migrate` records
/// so that an applied file can never change unnoticed.
enum MigrationChecksum {
    static func sha256Hex<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let digest = SHA256.hash(data: Array(bytes))
        let hexDigits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func sha256Hex(_ string: String) -> String {
        sha256Hex(string.utf8)
    }
}
