import Crypto
import Foundation

/// How this deployment runs webhooks (environment variables in docs/operations.md
/// "Webhooks"). Without `TRELLIS_WEBHOOK_KEY` there are none: the endpoints' routes answer 503
/// and no delivery is made.
public struct WebhookSettings: Sendable {
    /// Seals the endpoints' signing secrets (AES-256-GCM).
    public var secrets: WebhookSecretBox
    /// Whether endpoint URLs may reach loopback, private, link-local and other non-public
    /// addresses (`TRELLIS_WEBHOOK_ALLOW_PRIVATE`, off: a tenant must not make the server call
    /// into its own network).
    public var allowPrivateAddresses = false
    /// How long one delivery may take, connecting included (`TRELLIS_WEBHOOK_TIMEOUT`, 10 s).
    public var timeout: Duration = WebhookSettings.defaultTimeout
    /// Straight failures that open an endpoint's circuit (`TRELLIS_WEBHOOK_CIRCUIT_FAILURES`, 5).
    public var circuitFailures = 5
    /// How long an open circuit makes no call before one probe (`TRELLIS_WEBHOOK_CIRCUIT_COOLDOWN`, 60 s).
    public var circuitCooldown: Duration = .seconds(60)
    /// Attempts per delivery and the wait between them: 15 attempts, 30 s doubling to at most
    /// 4 h, about 24 hours in all (`TRELLIS_WEBHOOK_RETRY_BASE` / `_CAP` in seconds, for tests
    /// and impatient staging). The worker that sends a delivery applies its own backoff.
    public var maxAttempts = WebhookSettings.defaultMaxAttempts
    public var backoff = WebhookSettings.defaultBackoff
    public static let defaultTimeout: Duration = .seconds(10)
    public static let defaultMaxAttempts = 15
    public static let defaultBackoff = JobBackoff(base: 30, cap: 14_400)
    /// Response bytes kept in a delivery's log.
    public static let responseExcerpt = 200
    /// Endpoints per workspace.
    public var maxEndpoints = 50

    public init(secrets: WebhookSecretBox) {
        self.secrets = secrets
    }

    /// The job that sends one delivery (not enqueueable through `/v1/jobs`).
    public static let jobType = "webhooks.deliver"
    public static let queue = "webhooks"

    /// From `TRELLIS_WEBHOOK_*`; nil without a key. One message per bad value.
    static func fromEnvironment(_ env: [String: String], problems: inout [String]) -> WebhookSettings? {
        guard let text = env["TRELLIS_WEBHOOK_KEY"], !text.isEmpty else { return nil }
        guard let key = Data(base64Encoded: text), key.count == 32 else {
            problems.append("TRELLIS_WEBHOOK_KEY must be 32 bytes in base64 (openssl rand -base64 32)")
            return nil
        }
        var settings = WebhookSettings(secrets: WebhookSecretBox(key: SymmetricKey(data: key)))
        settings.allowPrivateAddresses = ServerConfiguration.flag(
            "TRELLIS_WEBHOOK_ALLOW_PRIVATE", env, default: false, spelled: "on or off", problems: &problems)
        func number(_ name: String, in range: ClosedRange<Int>, default fallback: Int) -> Int {
            guard let text = env[name] else { return fallback }
            guard let value = Int(text), range.contains(value) else {
                problems.append("\(name) must be a number from \(range.lowerBound) to \(range.upperBound), got '\(text)'")
                return fallback
            }
            return value
        }
        settings.timeout = .seconds(number("TRELLIS_WEBHOOK_TIMEOUT", in: 1...120, default: 10))
        settings.circuitFailures = number("TRELLIS_WEBHOOK_CIRCUIT_FAILURES", in: 1...1000, default: 5)
        settings.circuitCooldown = .seconds(number("TRELLIS_WEBHOOK_CIRCUIT_COOLDOWN", in: 1...86_400, default: 60))
        settings.backoff = JobBackoff(
            base: number("TRELLIS_WEBHOOK_RETRY_BASE", in: 1...3600, default: 30),
            cap: number("TRELLIS_WEBHOOK_RETRY_CAP", in: 1...86_400, default: 14_400))
        return settings
    }
}

/// Seals and opens endpoint secrets with AES-256-GCM under the deployment's key, binding each
/// ciphertext to its endpoint's id (associated data), so a sealed secret copied onto another
/// endpoint's row does not open.
public struct WebhookSecretBox: Sendable {
    let key: SymmetricKey

    public init(key: SymmetricKey) {
        self.key = key
    }

    /// nonce ‖ ciphertext ‖ tag.
    public func seal(_ secret: String, endpoint: UUID) throws -> [UInt8] {
        let box = try AES.GCM.seal(Array(secret.utf8), using: key, authenticating: Array(endpoint.lowercasedString.utf8))
        guard let combined = box.combined else { throw WebhookSecretError.unsealable }
        return Array(combined)
    }

    public func open(_ sealed: [UInt8], endpoint: UUID) throws -> String {
        let box = try AES.GCM.SealedBox(combined: sealed)
        let plain = try AES.GCM.open(box, using: key, authenticating: Array(endpoint.lowercasedString.utf8))
        guard let secret = String(bytes: plain, encoding: .utf8) else { throw WebhookSecretError.unsealable }
        return secret
    }
}

enum WebhookSecretError: Error, CustomStringConvertible {
    case unsealable

    var description: String { "the endpoint's secret does not open with this server's TRELLIS_WEBHOOK_KEY" }
}
