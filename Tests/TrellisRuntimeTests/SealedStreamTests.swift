import Foundation
import Testing
@testable import TrellisRuntime

/// The chunked AES-GCM stream that seals backups: what goes in comes out, and every way of
/// altering a sealed file (a flipped bit, a dropped or reordered chunk, a cut-off end, extra
/// bytes, another backup's file, another key) is refused.
@Suite struct SealedStreamTests {
    let key = try! BackupKey(base64: Data((0..<32).map { UInt8($0) }).base64EncodedString())

    /// 2.5 chunks of pseudo-random bytes, sealed under `context` into a new file; returns both.
    func sealed(context: String = "backup-1", size: Int = SealedStream.chunkSize * 5 / 2) throws -> ([UInt8], URL) {
        var generator = SystemRandomNumberGenerator()
        let plain = (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }
        var out: [UInt8] = []
        var writer = try SealedStream.Writer(key: key, context: context, output: { out += $0 })
        // Uneven pieces, as pg_dump's pipe delivers them.
        var rest = plain[...]
        while !rest.isEmpty {
            let piece = min(rest.count, Int.random(in: 1...200_000))
            try writer.write(rest.prefix(piece))
            rest = rest.dropFirst(piece)
        }
        try writer.finish()
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("sealed-\(UUID().uuidString)")
        try Data(out).write(to: url)
        return (plain, url)
    }

    func open(_ url: URL, context: String = "backup-1", key: BackupKey? = nil) throws -> [UInt8] {
        var out: [UInt8] = []
        try SealedStream.open(url, key: key ?? self.key, context: context) { out += $0 }
        return out
    }

    func expectRefusal(_ url: URL, mentioning words: String, context: String = "backup-1", key: BackupKey? = nil) {
        do {
            _ = try open(url, context: context, key: key)
            Issue.record("opened an altered file; expected a refusal mentioning '\(words)'")
        } catch {
            #expect("\(error)".contains(words), "\(error)")
        }
    }

    /// Chunk boundaries of a sealed file: (offset, length with its 4-byte header).
    func chunks(_ bytes: [UInt8]) -> [(Int, Int)] {
        var result: [(Int, Int)] = []
        var at = 24
        while at + 4 <= bytes.count {
            let length = bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) }
            result.append((at, 4 + length))
            at += 4 + length
        }
        return result
    }

    @Test func whatIsSealedOpensToTheSameBytesAndIsNotPlaintext() throws {
        let (plain, url) = try sealed()
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try open(url) == plain)
        let stored = [UInt8](try Data(contentsOf: url))
        #expect(chunks(stored).count == 3)
        // No 64-byte run of the plaintext appears in the file.
        let probe = Array(plain[1000..<1064])
        #expect(!stored.containsRun(probe))
    }

    @Test func anEmptyDumpSealsToOneFinalChunk() throws {
        let (plain, url) = try sealed(size: 0)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(plain.isEmpty)
        #expect(try open(url).isEmpty)
    }

    @Test func aFlippedBitAnotherBackupsContextOrAnotherKeyIsRefused() throws {
        let (_, url) = try sealed()
        defer { try? FileManager.default.removeItem(at: url) }
        expectRefusal(url, mentioning: "does not authenticate", context: "backup-2")
        expectRefusal(url, mentioning: "does not authenticate", key: try BackupKey(base64: Data(repeating: 7, count: 32).base64EncodedString()))
        var bytes = [UInt8](try Data(contentsOf: url))
        bytes[100_000] ^= 0x01
        try Data(bytes).write(to: url)
        expectRefusal(url, mentioning: "chunk 0 does not authenticate")
    }

    @Test func aDroppedReorderedOrCutOffChunkIsRefused() throws {
        let (_, url) = try sealed()
        defer { try? FileManager.default.removeItem(at: url) }
        let bytes = [UInt8](try Data(contentsOf: url))
        let parts = chunks(bytes)
        let header = Array(bytes[0..<24])
        func piece(_ i: Int) -> [UInt8] { Array(bytes[parts[i].0..<parts[i].0 + parts[i].1]) }

        // Without its last chunk: every chunk authenticates, but the end mark is missing.
        try Data(header + piece(0) + piece(1)).write(to: url)
        expectRefusal(url, mentioning: "cut short")
        // The first two chunks swapped.
        try Data(header + piece(1) + piece(0) + piece(2)).write(to: url)
        expectRefusal(url, mentioning: "chunk 0 does not authenticate")
        // The middle chunk dropped: the last chunk arrives with the wrong index.
        try Data(header + piece(0) + piece(2)).write(to: url)
        expectRefusal(url, mentioning: "chunk 1 does not authenticate")
        // Cut inside a chunk.
        try Data(Array(bytes.dropLast(10))).write(to: url)
        expectRefusal(url, mentioning: "ends inside chunk 2")
        // Bytes after the last chunk.
        try Data(bytes + [0]).write(to: url)
        expectRefusal(url, mentioning: "bytes after its last chunk")
        // Not a sealed file at all.
        try Data("PGDMP plain dump".utf8).write(to: url)
        expectRefusal(url, mentioning: "not a sealed Trellis dump")
    }

    @Test func aKeyMustBeThirtyTwoBytesOfBase64() {
        #expect(throws: BackupError.self) { try BackupKey(base64: "c2hvcnQ=") }
        #expect(throws: BackupError.self) { try BackupKey(base64: "not base64 at all!") }
        #expect(throws: Never.self) { try BackupKey(base64: Data(repeating: 1, count: 32).base64EncodedString() + "\n") }
    }
}

extension Array where Element == UInt8 {
    /// Whether `run` appears in these bytes, contiguously.
    fileprivate func containsRun(_ run: [UInt8]) -> Bool {
        guard let first = run.first, count >= run.count else { return false }
        for start in 0...(count - run.count) where self[start] == first && self[start..<start + run.count].elementsEqual(run) {
            return true
        }
        return false
    }
}
