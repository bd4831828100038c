extension RedisConfiguration {
    /// Reads `REDIS_URL`: `redis://[[user]:password@]host[:port][/db]`, or `rediss://` for TLS.
    ///
    /// - The user name and password are percent-decoded (`%40` for `@`, `%3A` for `:`); a user name
    ///   needs a password (`redis://:password@host` authenticates the default user).
    /// - The port defaults to 6379, the database index to 0. An IPv6 host goes in brackets.
    /// - `rediss://` checks the server's certificate chain and host name against the system's
    ///   roots. Two query parameters, named as redis-py names them, change that:
    ///   `ssl_ca_certs=/path/ca.pem` trusts that PEM file's roots instead, and
    ///   `ssl_cert_reqs=none` checks nothing (`required` is the default). Any other parameter,
    ///   or any parameter on `redis://`, is an error.
    /// - Anything else fails with ``RedisError/invalidURL(_:)``, whose message names the part at
    ///   fault and never repeats any text of the URL, so a mistyped URL cannot leak its password
    ///   into logs.
    ///
    /// The other settings (pool size, timeouts…) keep their defaults; set them on the result.
    public init(url: String) throws(RedisError) {
        guard let schemeEnd = url.firstRange(of: "://") else {
            throw .invalidURL("it must start with redis://")
        }
        var tls: RedisTLS?
        switch url[..<schemeEnd.lowerBound].lowercased() {
        case "redis": break
        case "rediss": tls = RedisTLS()
        default: throw .invalidURL("the scheme must be redis:// or rediss:// (TLS)")
        }
        var rest = url[schemeEnd.upperBound...]

        // The user info runs to the LAST '@', so a password with an unencoded '/', '?' or '@'
        // still never reaches the host, port or path parsers (and their messages).
        var username: String?
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else {
                throw .invalidURL("the user info needs a ':' before the password (redis://:password@host for the default user)")
            }
            guard let user = Self.percentDecoded(userInfo[..<colon]) else {
                throw .invalidURL("the user name is not valid percent-encoding")
            }
            guard let secret = Self.percentDecoded(userInfo[userInfo.index(after: colon)...]) else {
                throw .invalidURL("the password is not valid percent-encoding")
            }
            username = user.isEmpty ? nil : user
            password = secret.isEmpty ? nil : secret
            if username != nil, password == nil {
                throw .invalidURL("a user name needs a password")
            }
        }
        if rest.contains("#") { throw .invalidURL("fragments are not supported") }
        if let question = rest.firstIndex(of: "?") {
            let query = rest[rest.index(after: question)...]
            rest = rest[..<question]
            guard tls != nil else {
                throw .invalidURL("query parameters are only for rediss:// (ssl_ca_certs, ssl_cert_reqs)")
            }
            try Self.readTLSParameters(query, into: &tls!)
        }

        var path: Substring = ""
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }

        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw .invalidURL("the IPv6 host has no closing ']'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw .invalidURL("only ':port' may follow the IPv6 host") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.firstIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
            if portText!.contains(":") { throw .invalidURL("an IPv6 host must be written in brackets") }
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw .invalidURL("the host is missing") }
        guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-._:%".contains($0)) }) else {
            throw .invalidURL("the host has characters a host name cannot have")
        }

        var port = 6379
        if let portText {
            guard portText.count <= 5, portText.allSatisfy(\.isASCIIDigit), let value = Int(portText), (1...65535).contains(value) else {
                throw .invalidURL("the port must be a number from 1 to 65535")
            }
            port = value
        }

        var database = 0
        if !path.isEmpty {
            guard path.count <= 9, path.allSatisfy(\.isASCIIDigit), let value = Int(path) else {
                throw .invalidURL("the path must be a database index, a whole number from 0 (e.g. /2)")
            }
            database = value
        }

        self.init(host: String(host), port: port, username: username, password: password, database: database)
        self.tls = tls
    }

    /// `ssl_ca_certs` and `ssl_cert_reqs`, each at most once; an error names the parameter,
    /// never its value.
    private static func readTLSParameters(_ query: Substring, into tls: inout RedisTLS) throws(RedisError) {
        var seen: Set<Substring> = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let name = pair.prefix { $0 != "=" }
            guard pair.count > name.count, let value = percentDecoded(pair.dropFirst(name.count + 1)), !value.isEmpty else {
                throw .invalidURL("the parameter \(Self.safeName(name)) needs a value (name=value)")
            }
            guard seen.insert(name).inserted else { throw .invalidURL("the parameter \(Self.safeName(name)) is given twice") }
            switch name {
            case "ssl_ca_certs":
                tls.caFile = value
            case "ssl_cert_reqs":
                switch value {
                case "required": tls.verification = .full
                case "none": tls.verification = .none
                default: throw .invalidURL("ssl_cert_reqs must be required or none")
                }
            default:
                throw .invalidURL("unknown parameter \(Self.safeName(name)) (rediss:// takes ssl_ca_certs and ssl_cert_reqs)")
            }
        }
    }

    /// A parameter's name for a message: itself when it looks like a TLS setting (`ssl_` and
    /// letters or `_`), else a placeholder, so that a password pasted in the wrong place is
    /// never echoed.
    private static func safeName(_ name: Substring) -> String {
        let plain = name.count <= 32 && name.hasPrefix("ssl_") && name.allSatisfy { $0.isASCII && ($0.isLetter || $0 == "_") }
        return plain ? "'\(name)'" : "(a name not starting with ssl_)"
    }

    /// `%XX` sequences to bytes, then UTF-8; nil if a `%` is not followed by two hex digits or the
    /// result is not UTF-8. `+` stays `+` (this is not form encoding).
    static func percentDecoded(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        let decoded = String(decoding: bytes, as: UTF8.self)
        return decoded.utf8.elementsEqual(bytes) ? decoded : nil
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Character {
    fileprivate var isASCIIDigit: Bool { isASCII && isNumber }
}
