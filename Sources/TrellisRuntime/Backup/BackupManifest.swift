import Crypto
import Foundation

/// `manifest.json`, beside the dump in a backup folder: what a restore checks before it touches
/// the target database and after it has restored. Written last, so a folder without one is an
/// unfinished backup.
public struct BackupManifest: Codable, Sendable, Hashable {
    /// The manifest's own format; a restore refuses others.
    public static let currentFormat = "trellis-backup/1"
    public static let fileName = "manifest.json"

    public struct Migration: Codable, Sendable, Hashable {
        public var version: String
        public var name: String
        public var checksum: String
    }

    public struct Dump: Codable, Sendable, Hashable {
        /// The dump's file name in the folder.
        public var file: String
        /// `pg_dump --format=custom`.
        public var format: String
        /// Size and SHA-256 (lowercase hex) of the file as stored (sealed, when encrypted).
        public var bytes: Int64
        public var sha256: String
        /// `AES-256-GCM` (see ``SealedStream``) or nil for a plain dump.
        public var encryption: String?
        /// The ``BackupKey/fingerprint`` of the key that sealed it.
        public var keyFingerprint: String?

        enum CodingKeys: String, CodingKey {
            case file, format, bytes, sha256, encryption
            case keyFingerprint = "key_fingerprint"
        }
    }

    public var format: String
    /// A random id; also the additional data of every sealed chunk.
    public var id: String
    public var createdAt: String
    /// The source database's name and server version, for the reader.
    public var database: String
    public var serverVersion: String
    /// The last applied migration's version.
    public var schemaVersion: String
    public var migrations: [Migration]
    /// Rows per table in the `public` schema, counted in the dump's own snapshot.
    public var rowCounts: [String: Int64]
    /// Extensions the source had (besides plpgsql); the target must have them before a restore.
    public var extensions: [String]
    public var dump: Dump
    /// For a sealed backup: HMAC-SHA256 of the rest of the manifest under a key derived from the
    /// backup key (``sign(with:)``), so a manifest edited after the fact is refused before a
    /// restore writes anything. Nil for a plain backup, which has no key to sign with.
    public var mac: String?

    enum CodingKeys: String, CodingKey {
        case format, id, database, migrations, extensions, dump, mac
        case createdAt = "created_at"
        case serverVersion = "server_version"
        case schemaVersion = "schema_version"
        case rowCounts = "row_counts"
    }

    /// Reads `folder/manifest.json`.
    public static func read(from folder: URL) throws -> BackupManifest {
        let url = folder.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw BackupError("\(url.path) does not exist: not a Trellis backup folder, or its backup never finished")
        }
        let manifest: BackupManifest
        do {
            manifest = try JSONDecoder().decode(BackupManifest.self, from: data)
        } catch let DecodingError.keyNotFound(key, _) {
            throw BackupError("\(url.path): field '\(key.stringValue)' is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw BackupError("\(url.path): field '\(path)' has the wrong type")
        } catch {
            throw BackupError("\(url.path) is not valid JSON")
        }
        guard manifest.format == currentFormat else {
            throw BackupError("\(url.path): format '\(manifest.format)' is not \(currentFormat), the one this trellis reads")
        }
        guard !manifest.dump.file.contains("/"), !manifest.dump.file.hasPrefix(".") else {
            throw BackupError("\(url.path): dump.file must be a file name in the backup folder, got '\(manifest.dump.file)'")
        }
        return manifest
    }

    /// The manifest with ``mac`` set for `key`.
    public func signed(with key: BackupKey) throws -> BackupManifest {
        var copy = self
        copy.mac = try authenticationCode(key)
        return copy
    }

    /// Whether ``mac`` is the code of this manifest under `key`.
    public func isAuthentic(under key: BackupKey) throws -> Bool {
        guard let mac else { return false }
        return try authenticationCode(key) == mac
    }

    /// HMAC-SHA256 of the manifest without its `mac`, as compact JSON with sorted keys.
    private func authenticationCode(_ key: BackupKey) throws -> String {
        var unsigned = self
        unsigned.mac = nil
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let code = HMAC<SHA256>.authenticationCode(for: try encoder.encode(unsigned), using: key.manifestKey)
        return code.map { String(format: "%02x", $0) }.joined()
    }

    /// Writes `folder/manifest.json` atomically (sorted keys, so two backups diff cleanly).
    public func write(to folder: URL) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        var data = try encoder.encode(self)
        data.append(0x0A)
        try data.write(to: folder.appendingPathComponent(Self.fileName), options: .atomic)
    }
}
