import Foundation
import JWTKit

/// Verifies bearer JWTs (DESIGN.md §6): the signature with jwt-kit (an HS256 secret or the
/// keys of a JWKS file), then `exp`, `nbf`, `iss`, `aud` with a small clock skew, then the
/// workspace from a configurable claim path and the scopes from `scope`.
///
/// Each failure names the check that failed and never echoes the token.
public struct JWTAuthenticator: Sendable {
    public struct Configuration: Sendable {
        public enum Keys: Sendable {
            case hmacSecret(String)
            case jwks(json: String)
        }

        public var keys: Keys
        /// When set, `iss` must equal it.
        public var issuer: String?
        /// When set, `aud` (a string or an array) must contain it.
        public var audience: String?
        /// Dotted path to the workspace id, e.g. `workspace_id` or `app_metadata.workspace_id`.
        public var workspaceClaim: [String]
        public var clockSkew: TimeInterval

        public init(
            keys: Keys, issuer: String? = nil, audience: String? = nil, workspaceClaim: String = "workspace_id",
            clockSkew: TimeInterval = 30
        ) {
            self.keys = keys
            self.issuer = issuer
            self.audience = audience
            self.workspaceClaim = workspaceClaim.split(separator: ".").map(String.init)
            self.clockSkew = clockSkew
        }
    }

    private let configuration: Configuration
    private let keys: JWTKeyCollection

    /// Loads the keys; a JWKS that cannot be read is a configuration error at start-up.
    public init(_ configuration: Configuration) async throws {
        self.configuration = configuration
        let keys = JWTKeyCollection()
        switch configuration.keys {
        case let .hmacSecret(secret):
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        case let .jwks(json):
            try await keys.add(jwksJSON: json)
        }
        self.keys = keys
    }

    /// True when the text has a JWT's shape: three dot-separated parts.
    static func looksLikeJWT(_ token: Substring) -> Bool {
        token.utf8.lazy.filter { $0 == UInt8(ascii: ".") }.count == 2
    }

    public func authenticate(_ token: Substring, now: Date = Date()) async throws(AuthenticationFailure) -> Identity {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3 else {
            throw AuthenticationFailure(.malformedToken, "the token is not three base64url parts separated by dots")
        }
        guard let header = Self.jsonObject(parts[0]) else {
            throw AuthenticationFailure(.malformedToken, "the token's header is not base64url-encoded JSON")
        }
        guard let claims = Self.jsonObject(parts[1]) else {
            throw AuthenticationFailure(.malformedToken, "the token's payload is not base64url-encoded JSON")
        }
        guard case let .string(alg)? = header["alg"], alg.lowercased() != "none" else {
            throw AuthenticationFailure(.invalidSignature, "unsigned tokens (alg 'none') are not accepted")
        }
        guard !parts[2].isEmpty else {
            throw AuthenticationFailure(.invalidSignature, "the token has no signature")
        }
        do {
            _ = try await keys.verify(String(token), as: SignatureOnly.self)
        } catch {
            throw AuthenticationFailure(.invalidSignature, "the token's signature does not verify with the configured \(alg) key")
        }
        try checkTimes(claims, now: now)
        if let issuer = configuration.issuer, claims["iss"] != .string(issuer) {
            throw AuthenticationFailure(.wrongIssuer, "the token's issuer (iss) is not the one this server accepts")
        }
        if let audience = configuration.audience, !Self.audiences(claims["aud"]).contains(audience) {
            throw AuthenticationFailure(.wrongAudience, "the token's audience (aud) does not include this API")
        }
        guard case let .string(subject)? = claims["sub"], !subject.isEmpty else {
            throw AuthenticationFailure(.missingClaim, "the token has no subject (sub)")
        }
        let path = configuration.workspaceClaim.joined(separator: ".")
        guard case let .string(text)? = Self.claim(at: configuration.workspaceClaim, in: claims), let workspace = UUID(uuidString: text),
            workspace != Workspaces.platformID
        else {
            throw AuthenticationFailure(.missingClaim, "the token has no workspace id (a UUID) at claim '\(path)'")
        }
        // A token is issued for a tenant: whatever it claims, it never holds `admin`, which
        // only platform-admin API keys carry (DESIGN.md §6).
        var scopes: [String] = []
        if case let .string(scope)? = claims["scope"] {
            scopes = scope.split(separator: " ").map(String.init).filter { $0 != ScopeSet.platformAdmin }
        }
        return Identity(workspaceID: workspace, kind: .jwt, credentialID: subject, scopes: ScopeSet(scopes))
    }

    private func checkTimes(_ claims: JSONObject, now: Date) throws(AuthenticationFailure) {
        let skew = configuration.clockSkew
        guard let exp = Self.seconds(claims["exp"]) else {
            throw AuthenticationFailure(.missingClaim, "the token has no expiry (exp)")
        }
        if now.timeIntervalSince1970 > exp + skew {
            throw AuthenticationFailure(.expired, "the token expired (exp is in the past)")
        }
        if let nbf = Self.seconds(claims["nbf"]), now.timeIntervalSince1970 + skew < nbf {
            throw AuthenticationFailure(.notYetValid, "the token is not valid yet (nbf is in the future)")
        }
    }

    static func jsonObject(_ part: Substring) -> JSONObject? {
        guard let bytes = Base64URL.decode(part), case let .object(object)? = try? JSONValue(parsing: bytes) else {
            return nil
        }
        return object
    }

    static func seconds(_ value: JSONValue?) -> Double? {
        switch value {
        case let .integer(i)?: Double(i)
        case let .double(d)?: d
        default: nil
        }
    }

    static func audiences(_ value: JSONValue?) -> [String] {
        switch value {
        case let .string(s)?: [s]
        case let .array(items)?: items.compactMap { if case let .string(s) = $0 { s } else { nil } }
        default: []
        }
    }

    static func claim(at path: [String], in claims: JSONObject) -> JSONValue? {
        var current: JSONValue = .object(claims)
        for key in path {
            guard case let .object(object) = current, let next = object[key] else { return nil }
            current = next
        }
        return current
    }
}

/// jwt-kit checks only the signature; claims are read from the same payload by
/// ``JWTAuthenticator`` so each failure can say which check failed.
private struct SignatureOnly: JWTPayload {
    init(from decoder: any Decoder) throws {}
    func encode(to encoder: any Encoder) throws {}
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
