import Crypto

/// A Lua script and its SHA-1, for ``RedisClient/evaluate(_:keys:arguments:)``.
///
/// Make each script once (a `static let`): the hash is computed in `init`.
public struct RedisScript: Sendable, Hashable {
    /// The Lua source.
    public let source: String
    /// The lowercase hex SHA-1 of the source: the name `EVALSHA` knows it by.
    public let sha1: String

    /// Wraps `source` and computes its SHA-1.
    public init(_ source: String) {
        self.source = source
        let digest = Insecure.SHA1.hash(data: Array(source.utf8))
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(40)
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0f)])
        }
        self.sha1 = String(decoding: text, as: UTF8.self)
    }
}

extension RedisClient {
    /// Runs `script` with `EVALSHA`; if the server does not have it (`NOSCRIPT`: first use, or
    /// after a restart or `SCRIPT FLUSH`), loads it with `SCRIPT LOAD` and retries once.
    ///
    /// - Throws: ``RedisError/server(_:)`` for a Lua error, and whatever `send` throws.
    public func evaluate(_ script: RedisScript, keys: [RedisArgument] = [], arguments: [RedisArgument] = []) async throws -> RedisValue {
        var command: [RedisArgument] = ["EVALSHA", .string(script.sha1), .integer(Int64(keys.count))]
        command.append(contentsOf: keys)
        command.append(contentsOf: arguments)
        do {
            return try await send(command)
        } catch RedisError.server(let message) where message.hasPrefix("NOSCRIPT") {
            _ = try await send(["SCRIPT", "LOAD", .string(script.source)])
            return try await send(command)
        }
    }
}
