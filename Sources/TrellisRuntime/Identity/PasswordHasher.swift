import Crypto
import CryptoExtras
import Foundation
import NIOConcurrencyHelpers
import NIOPosix

/// Password hashes with scrypt (memory-hard, swift-crypto's `KDF.Scrypt`), stored as PHC
/// strings that carry their salt and cost: `$scrypt$ln=15,r=8,p=1$<salt>$<hash>` (standard
/// base64 without padding). A stored hash is verified with the cost it names, so the
/// configured cost can rise without invalidating older hashes.
///
/// Each derivation takes a third of a second of one core at the default cost and `128 × r ×
/// 2^ln` bytes (32 MiB), so it runs on NIO's blocking thread pool, never on an
/// event loop or the cooperative pool, and at most ``maxPending`` run or wait at once: more
/// is ``Busy`` (a 503 with `Retry-After`), not an unbounded queue.
public struct PasswordHasher: Sendable {
    /// scrypt's cost: `N = 2^logN` rounds, block size `r`, parallelism `p`.
    public struct Cost: Sendable, Hashable, CustomStringConvertible {
        public var logN: Int
        public var blockSize: Int
        public var parallelism: Int

        /// `ln=15,r=8,p=3`: the work of OWASP's scrypt minimum (`N=2^17, r=8, p=1`) in a quarter
        /// of its memory (32 MiB per derivation), as OWASP's equivalent settings allow. Measured
        /// in a release build on this project's 2-core machine (`TrellisBenchmarks password-hash`):
        /// 270 ms per login (p50; 111 ms at `p=1`), 7.5 logins a second with both cores hashing. Lower it with
        /// `TRELLIS_PASSWORD_COST` only knowingly.
        public static let standard = Cost(logN: 15, blockSize: 8, parallelism: 3)

        /// The bounds a stored or configured cost must keep: a hash naming more would let a
        /// tampered row make every login allocate gigabytes.
        public static let logNRange = 10...20
        public static let blockSizeRange = 1...32
        public static let parallelismRange = 1...16

        public init(logN: Int, blockSize: Int, parallelism: Int) {
            self.logN = logN
            self.blockSize = blockSize
            self.parallelism = parallelism
        }

        /// Parses `ln=15,r=8,p=1` (the PHC parameter list); nil outside the bounds.
        public init?(parameters text: Substring) {
            var values: [Substring: Int] = [:]
            for part in text.split(separator: ",", omittingEmptySubsequences: false) {
                let pair = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard pair.count == 2, pair[1].count <= 3, let value = Int(pair[1]), values[pair[0]] == nil else { return nil }
                values[pair[0]] = value
            }
            guard values.count == 3, let logN = values["ln"], let r = values["r"], let p = values["p"],
                Self.logNRange.contains(logN), Self.blockSizeRange.contains(r), Self.parallelismRange.contains(p)
            else { return nil }
            self.init(logN: logN, blockSize: r, parallelism: p)
        }

        public var description: String { "ln=\(logN),r=\(blockSize),p=\(parallelism)" }
        /// The bytes scrypt may allocate for one derivation (BoringSSL's bound: the lanes run
        /// one after another, but it checks `128 × r × N × p`).
        var memory: Int { 128 * blockSize * (1 << logN) * parallelism }
    }

    /// Too many derivations already running or waiting on this instance.
    public struct Busy: Error, Sendable {}

    /// Salt and derived-key lengths, in bytes.
    static let saltLength = 16
    static let hashLength = 32
    /// Passwords longer than this are refused before any hashing (`validation_failed`).
    public static let maxPasswordBytes = 1_024
    public static let minPasswordCharacters = 10

    /// The cost of new hashes.
    public let cost: Cost
    /// How many derivations may run or wait at once on this instance.
    public let maxPending: Int
    private let pending = NIOLockedValueBox(0)
    private let pool: NIOThreadPool

    public init(cost: Cost = .standard, maxPending: Int = 32, pool: NIOThreadPool = .singleton) {
        self.cost = cost
        self.maxPending = maxPending
        self.pool = pool
    }

    /// A new PHC string for `password` with a fresh random salt at ``cost``.
    public func hash(_ password: String) async throws -> String {
        var generator = SystemRandomNumberGenerator()
        let salt = (0..<Self.saltLength).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        let derived = try await derive(Array(password.utf8), salt: salt, cost: cost)
        return Self.encode(cost: cost, salt: salt, hash: derived)
    }

    /// Whether `password` matches `stored`, compared in constant time. A malformed `stored`
    /// matches nothing, but still costs one derivation at ``cost`` so that its answer takes
    /// as long as a real one.
    public func verify(_ password: String, against stored: String) async throws -> Bool {
        let parsed = Self.decode(stored)
        let cost = parsed?.cost ?? self.cost
        let salt = parsed?.salt ?? [UInt8](repeating: 0, count: Self.saltLength)
        let derived = try await derive(Array(password.utf8), salt: salt, cost: cost)
        guard let parsed else { return false }
        return constantTimeEquals(derived, parsed.hash)
    }

    /// Spends one derivation at ``cost`` and matches nothing: the answer for an unknown
    /// account, so that it takes as long as a wrong password for a real one.
    public func verifyNothing(_ password: String) async throws {
        _ = try await verify(password, against: "")
    }

    /// One derivation on the blocking pool, within ``maxPending``.
    func derive(_ password: [UInt8], salt: [UInt8], cost: Cost) async throws -> [UInt8] {
        try await run { try Self.derive(password, salt: salt, cost: cost) }
    }

    private func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        let admitted = pending.withLockedValue { count in
            guard count < maxPending else { return false }
            count += 1
            return true
        }
        guard admitted else { throw Busy() }
        defer { pending.withLockedValue { $0 -= 1 } }
        return try await pool.runIfActive(body)
    }

    static func derive(_ password: [UInt8], salt: [UInt8], cost: Cost) throws -> [UInt8] {
        let key = try KDF.Scrypt.deriveKey(
            from: password, salt: salt, outputByteCount: hashLength, rounds: 1 << cost.logN, blockSize: cost.blockSize,
            parallelism: cost.parallelism, maxMemory: cost.memory + 1_048_576)
        return key.withUnsafeBytes { Array($0) }
    }

    static func encode(cost: Cost, salt: [UInt8], hash: [UInt8]) -> String {
        "$scrypt$\(cost)$\(base64(salt))$\(base64(hash))"
    }

    /// The parts of a PHC string this hasher wrote; nil for anything else.
    static func decode(_ stored: String) -> (cost: Cost, salt: [UInt8], hash: [UInt8])? {
        let parts = stored.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt", let cost = Cost(parameters: parts[2]),
            let salt = unbase64(parts[3]), (8...64).contains(salt.count), let hash = unbase64(parts[4]), hash.count == hashLength
        else { return nil }
        return (cost, salt, hash)
    }

    private static func base64(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    private static func unbase64(_ text: Substring) -> [UInt8]? {
        guard text.count <= 128 else { return nil }
        let padded = String(text) + String(repeating: "=", count: (4 - text.count % 4) % 4)
        return Data(base64Encoded: padded).map(Array.init)
    }
}
