/// Which address a request comes from, for the limits of callers without a credential.
///
/// The peer's address, unless the peer is one of the configured trusted proxies
/// (`TRELLIS_TRUSTED_PROXIES`): then the last address of `X-Forwarded-For` that is not itself
/// a trusted proxy (each proxy appends the address it received from, so entries to the left
/// of the last untrusted one are whatever the client wrote). Nothing a client sends can make
/// it another client unless a trusted proxy vouches for it.
public struct ClientAddress: Sendable {
    public let trustedProxies: Set<String>

    public init(trustedProxies: Set<String> = []) {
        self.trustedProxies = trustedProxies
    }

    /// At most this many `X-Forwarded-For` entries are read (from the right).
    static let maxForwardedEntries = 32

    public func resolve(peer: String?, forwardedFor: String?) -> String {
        guard let peer else { return "unknown" }
        guard trustedProxies.contains(peer), let forwardedFor else { return peer }
        let entries = forwardedFor.split(separator: ",").suffix(Self.maxForwardedEntries)
        for entry in entries.reversed() {
            let address = entry.trimmingCharacters(in: .whitespaces)
            guard !address.isEmpty, address.utf8.count <= 64 else { return peer }
            if !trustedProxies.contains(address) { return address }
        }
        return peer
    }
}
