import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Which URLs a webhook endpoint may have: `https` (or `http`), a host, no credentials, and —
/// unless private addresses are allowed — a host whose every address is public. It is checked
/// when an endpoint is saved and again before each delivery, because a name's addresses can
/// change after it was saved. (A name that changes between this check and the connection is
/// not caught: see docs/deviations.md.)
public struct WebhookAddressPolicy: Sendable {
    public var allowPrivate: Bool

    public init(allowPrivate: Bool) {
        self.allowPrivate = allowPrivate
    }

    /// Why `text` is not an endpoint URL for this server, or nil when it is.
    public func problem(with text: String) async -> String? {
        guard text.utf8.count <= 2048, let url = URLComponents(string: text), let scheme = url.scheme?.lowercased(),
              let host = url.host, !host.isEmpty
        else { return "must be an absolute http or https URL of at most 2048 characters" }
        guard scheme == "https" || scheme == "http" else { return "must be an http or https URL" }
        guard url.user == nil, url.password == nil else { return "must not hold a user name or password" }
        guard url.fragment == nil else { return "must not have a fragment" }
        if allowPrivate { return nil }
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses: [String]
        do {
            addresses = try await Self.resolve(name)
        } catch {
            return "names a host that does not resolve (\(name))"
        }
        if addresses.isEmpty { return "names a host that does not resolve (\(name))" }
        if let blocked = addresses.first(where: { !Self.isPublic($0) }) {
            return "resolves to \(blocked), which is not a public address (loopback, private, link-local and the like are refused)"
        }
        return nil
    }

    /// Every address `host` resolves to, as text (off the event loops: resolution blocks).
    static func resolve(_ host: String) async throws -> [String] {
        try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { throw WebhookAddressError.unresolved }
            defer { freeaddrinfo(first) }
            var addresses: [String] = []
            var entry: UnsafeMutablePointer<addrinfo>? = first
            while let current = entry {
                if let address = current.pointee.ai_addr {
                    var text = [CChar](repeating: 0, count: Int(NI_MAXHOST))
                    if getnameinfo(address, current.pointee.ai_addrlen, &text, socklen_t(text.count), nil, 0, NI_NUMERICHOST) == 0 {
                        addresses.append(String(cString: text))
                    }
                }
                entry = current.pointee.ai_next
            }
            return addresses
        }
    }

    /// Whether `address` (numeric IPv4 or IPv6) is a globally routable unicast address.
    public static func isPublic(_ address: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, address, &v4) == 1 {
            return isPublicV4(UInt32(bigEndian: v4.s_addr))
        }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, address.split(separator: "%").first.map(String.init) ?? address, &v6) == 1 else { return false }
        let b = withUnsafeBytes(of: v6) { Array($0) }
        // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible forms: judge the IPv4 address.
        if b[0..<10].allSatisfy({ $0 == 0 }) && ((b[10] == 0xff && b[11] == 0xff) || (b[10] == 0 && b[11] == 0)) {
            let embedded = UInt32(b[12]) << 24 | UInt32(b[13]) << 16 | UInt32(b[14]) << 8 | UInt32(b[15])
            return isPublicV4(embedded)
        }
        if b[0] & 0xe0 != 0x20 { return false }  // only 2000::/3 is global unicast
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x0d && b[3] == 0xb8 { return false }  // 2001:db8::/32 documentation
        if b[0] == 0x20 && b[1] == 0x02 { return false }  // 6to4 may carry any IPv4 address
        if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] == 0 { return false }  // Teredo
        return true
    }

    static func isPublicV4(_ a: UInt32) -> Bool {
        func within(_ network: UInt32, _ bits: UInt32) -> Bool {
            let mask: UInt32 = bits == 0 ? 0 : ~UInt32(0) << (32 - bits)
            return a & mask == network & mask
        }
        let blocked: [(UInt32, UInt32)] = [
            (0x0000_0000, 8),  // 0.0.0.0/8 "this network"
            (0x0A00_0000, 8),  // 10/8
            (0x6440_0000, 10),  // 100.64/10 carrier-grade NAT
            (0x7F00_0000, 8),  // loopback
            (0xA9FE_0000, 16),  // link-local (cloud metadata at 169.254.169.254)
            (0xAC10_0000, 12),  // 172.16/12
            (0xC000_0000, 24),  // 192.0.0/24 protocol assignments
            (0xC000_0200, 24),  // 192.0.2/24 documentation
            (0xC0A8_0000, 16),  // 192.168/16
            (0xC612_0000, 15),  // 198.18/15 benchmarking
            (0xC633_6400, 24),  // 198.51.100/24 documentation
            (0xCB00_7100, 24),  // 203.0.113/24 documentation
            (0xE000_0000, 4),  // multicast
            (0xF000_0000, 4),  // reserved and broadcast
        ]
        return !blocked.contains { within($0.0, $0.1) }
    }
}

enum WebhookAddressError: Error {
    case unresolved
}
