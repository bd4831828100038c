import Foundation
import Testing
@testable import TrellisRuntime

@Suite("Password hashes (scrypt, PHC strings) and session tokens")
struct PasswordHasherTests {
    static let cheap = PasswordHasher.Cost(logN: 10, blockSize: 8, parallelism: 1)

    @Test func aHashVerifiesItsPasswordAndNoOther() async throws {
        let hasher = PasswordHasher(cost: Self.cheap)
        let stored = try await hasher.hash("correct horse battery staple")
        #expect(stored.hasPrefix("$scrypt$ln=10,r=8,p=1$"))
        #expect(try await hasher.verify("correct horse battery staple", against: stored))
        #expect(try await !hasher.verify("correct horse battery stapl", against: stored))
        #expect(try await !hasher.verify("", against: stored))
        // A fresh salt each time: the same password never hashes alike.
        #expect(try await hasher.hash("correct horse battery staple") != stored)
    }

    @Test func scryptMatchesTheRFC7914TestVector() async throws {
        // RFC 7914 §12, the second vector: P="password", S="NaCl", N=1024, r=8, p=16, dkLen=64 (first 32 bytes).
        // Seconds of CPU in a debug build: on the blocking pool, never on one of the (two) cooperative threads.
        let derived = try await PasswordHasher().derive(
            Array("password".utf8), salt: Array("NaCl".utf8), cost: .init(logN: 10, blockSize: 8, parallelism: 16))
        #expect(derived.hexString == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
    }

    @Test func aHashIsVerifiedWithTheCostItNamesSoTheConfiguredCostCanRise() async throws {
        let old = try await PasswordHasher(cost: Self.cheap).hash("an older password")
        let raised = PasswordHasher(cost: .init(logN: 11, blockSize: 8, parallelism: 1))
        #expect(try await raised.verify("an older password", against: old))
        #expect(try await raised.hash("x").hasPrefix("$scrypt$ln=11,r=8,p=1$"))
    }

    @Test func aMalformedOrOutOfBoundsStoredHashMatchesNothing() async throws {
        let hasher = PasswordHasher(cost: Self.cheap)
        let good = try await hasher.hash("pass phrase 1")
        let parts = good.split(separator: "$", omittingEmptySubsequences: false)
        for stored in [
            "", "plain text", "$scrypt$ln=10,r=8,p=1$", "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            // A tampered row asking for 2^30 rounds (128 GiB) is refused before any work.
            "$scrypt$ln=30,r=8,p=1$\(parts[3])$\(parts[4])",
            "$scrypt$ln=10,r=8,p=1,x=2$\(parts[3])$\(parts[4])",
            "$scrypt$ln=10,r=8,p=1$\(parts[3])$\(parts[4].dropLast(4))",
        ] {
            #expect(try await !hasher.verify("pass phrase 1", against: stored), "\(stored)")
        }
        #expect(PasswordHasher.Cost(parameters: "ln=21,r=8,p=1") == nil)
        #expect(PasswordHasher.Cost(parameters: "ln=15,r=8,p=3") == .standard)
    }

    @Test func derivationsBeyondThePendingCapAreBusyNotQueued() async throws {
        let hasher = PasswordHasher(cost: .init(logN: 12, blockSize: 8, parallelism: 1), maxPending: 2)
        let outcomes = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<8 {
                group.addTask {
                    do { _ = try await hasher.hash("x"); return true } catch is PasswordHasher.Busy { return false } catch { return true }
                }
            }
            return await group.reduce(into: [Bool]()) { $0.append($1) }
        }
        #expect(outcomes.contains(false), "eight at once with room for two: some must be refused")
        #expect(outcomes.contains(true))
    }

    @Test func aSessionTokenRoundTripsAndNothingElseParses() throws {
        let workspace = UUID()
        let token = SessionToken.generate(workspace: workspace)
        let parsed = try #require(SessionToken(parsing: token.text[...]))
        #expect(parsed == token)
        #expect(parsed.workspaceID == workspace)
        #expect(token.redisKey == "{\(workspace.uuidString.lowercased())}:s:\(token.id.hex32)")
        let text = token.text
        for bad in [
            "", "trs_", "trk_" + text.dropFirst(4), String(text.prefix(70)), text.replacingOccurrences(of: "_", with: "-"),
            "trs_" + String(repeating: "g", count: 32) + text.dropFirst(36), text + String(repeating: "x", count: 100),
        ] {
            #expect(SessionToken(parsing: bad[...]) == nil, "\(bad)")
        }
    }
}
