import Crypto
import Foundation

/// SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL speaks it, without channel binding: the
/// client's side of the exchange, pure, so it is tested against the RFC's example without a
/// server. The server's final message is verified, so a server that does not know the
/// password cannot pass itself off as one that does.
struct SCRAMClient {
    let password: String
    let clientNonce: String
    /// The user name in the first message. Postgres ignores it (it uses the startup
    /// message's); the RFC's example names one.
    let username: String

    init(password: String, username: String = "", clientNonce: String = SCRAMClient.makeNonce()) {
        self.password = password
        self.username = username
        self.clientNonce = clientNonce
    }

    var clientFirstBare: String { "n=\(username),r=\(clientNonce)" }
    /// `n,,` (no channel binding) and the bare message.
    var clientFirst: String { "n,," + clientFirstBare }

    /// What the client proves and expects once it has the server's first message.
    struct Final {
        var message: String
        var expectedServerSignature: [UInt8]
    }

    /// The client's final message for `serverFirst` (`r=…,s=…,i=…`).
    func final(serverFirst: String) throws(PostgresPipelineError) -> Final {
        var attributes: [Character: Substring] = [:]
        for part in serverFirst.split(separator: ",") where part.count >= 2 && part.dropFirst().first == "=" {
            attributes[part.first!] = part.dropFirst(2)
        }
        guard let nonce = attributes["r"], nonce.hasPrefix(clientNonce), nonce.count > clientNonce.count,
            let saltText = attributes["s"], let salt = Data(base64Encoded: String(saltText)),
            let iterationsText = attributes["i"], let iterations = Int(iterationsText), (1...10_000_000).contains(iterations)
        else { throw .connectionFailed("the server's SCRAM-SHA-256 challenge is malformed") }
        let salted = Self.pbkdf2(password: Array(password.utf8), salt: Array(salt), iterations: iterations)
        let clientKey = Self.hmac(salted, "Client Key")
        let storedKey = Array(SHA256.hash(data: clientKey))
        let withoutProof = "c=biws,r=\(nonce)"
        let authMessage = clientFirstBare + "," + serverFirst + "," + withoutProof
        let signature = Self.hmac(storedKey, authMessage)
        let proof = zip(clientKey, signature).map { $0 ^ $1 }
        let serverKey = Self.hmac(salted, "Server Key")
        return Final(
            message: withoutProof + ",p=" + Data(proof).base64EncodedString(),
            expectedServerSignature: Self.hmac(serverKey, authMessage))
    }

    /// Checks the server's final message (`v=…`) against what a server knowing the password sends.
    static func verify(serverFinal: String, _ final: Final) throws(PostgresPipelineError) {
        guard serverFinal.hasPrefix("v="), let signature = Data(base64Encoded: String(serverFinal.dropFirst(2))),
            Array(signature) == final.expectedServerSignature
        else { throw .connectionFailed("the server's SCRAM-SHA-256 signature does not match: it does not know the password") }
    }

    static func makeNonce() -> String {
        var random = SystemRandomNumberGenerator()
        return Data((0..<18).map { _ in UInt8.random(in: 0...255, using: &random) }).base64EncodedString()
    }

    static func hmac(_ key: [UInt8], _ message: String) -> [UInt8] {
        hmac(key, Array(message.utf8))
    }

    static func hmac(_ key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: key)))
    }

    /// PBKDF2-HMAC-SHA256, one 32-byte block: `Hi()` of RFC 5802.
    static func pbkdf2(password: [UInt8], salt: [UInt8], iterations: Int) -> [UInt8] {
        let key = SymmetricKey(data: password)
        var block = Array(HMAC<SHA256>.authenticationCode(for: salt + [0, 0, 0, 1], using: key))
        var result = block
        for _ in 1..<iterations {
            block = Array(HMAC<SHA256>.authenticationCode(for: block, using: key))
            for index in 0..<result.count { result[index] ^= block[index] }
        }
        return result
    }
}

/// The `md5` password answer: `md5` + hex(md5(hex(md5(password + user)) + salt)).
func md5PasswordAnswer(user: String, password: String, salt: [UInt8]) -> String {
    func hex(_ digest: Insecure.MD5.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }
    let inner = hex(Insecure.MD5.hash(data: Array((password + user).utf8)))
    return "md5" + hex(Insecure.MD5.hash(data: Array(inner.utf8) + salt))
}
