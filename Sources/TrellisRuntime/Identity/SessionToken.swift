import Crypto
import Foundation

/// A session as clients hold it: `trs_<workspace>_<id>_<secret>`, the workspace and session
/// ids as 32 lowercase hex digits each and the secret 32 random bytes in base64url. The
/// workspace is in the token so that the session's Redis key carries its workspace as a
/// hash tag (``redisKey``) without a lookup; only the SHA-256 of the secret is stored.
public struct SessionToken: Sendable, Hashable {
    public static let prefix = "trs_"

    public let workspaceID: UUID
    public let id: UUID
    public let secret: String

    /// A new session token for `workspace`, with a fresh id and a secret from the system's CSPRNG.
    public static func generate(workspace: UUID) -> SessionToken {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return SessionToken(workspaceID: workspace, id: UUID.v7(), secret: Base64URL.encode(bytes))
    }

    init(workspaceID: UUID, id: UUID, secret: String) {
        self.workspaceID = workspaceID
        self.id = id
        self.secret = secret
    }

    /// Parses `trs_<32 hex>_<32 hex>_<secret>`; nil for anything else.
    public init?(parsing text: Substring) {
        guard text.hasPrefix(Self.prefix) else { return nil }
        let rest = text.dropFirst(Self.prefix.count)
        guard rest.utf8.count > 66 else { return nil }
        let workspaceHex = rest.prefix(32)
        let afterWorkspace = rest.dropFirst(32)
        guard afterWorkspace.first == "_", let workspace = UUID(hex32: workspaceHex) else { return nil }
        let idHex = afterWorkspace.dropFirst().prefix(32)
        let afterID = afterWorkspace.dropFirst(33)
        guard afterID.first == "_", let id = UUID(hex32: idHex) else { return nil }
        let secret = afterID.dropFirst()
        guard (16...128).contains(secret.utf8.count) else { return nil }
        self.init(workspaceID: workspace, id: id, secret: String(secret))
    }

    /// The full token, shown to the user once, at login.
    public var text: String { Self.prefix + workspaceID.hex32 + "_" + id.hex32 + "_" + secret }

    /// What Redis stores.
    var secretHash: [UInt8] { APIKeyToken.hash(secret) }

    /// `{<workspace>}:s:<id>`: the workspace is the Redis Cluster hash tag, as for every key.
    var redisKey: String { Self.redisKey(workspace: workspaceID, id: id) }

    static func redisKey(workspace: UUID, id: UUID) -> String { "{" + workspace.lowercasedString + "}:s:" + id.hex32 }
}
