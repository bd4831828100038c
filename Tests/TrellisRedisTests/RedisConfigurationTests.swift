import Testing
import TrellisTestSupport

@testable import TrellisRedis

/// REDIS_URL parsing and the backoff, without I/O.
@Suite struct RedisConfigurationTests {
    @Test func hostAloneGetsTheDefaults() throws {
        let configuration = try RedisConfiguration(url: "redis://cache.internal")
        #expect(configuration.host == "cache.internal")
        #expect(configuration.port == 6379)
        #expect(configuration.database == 0)
        #expect(configuration.username == nil)
        #expect(configuration.password == nil)
        #expect(configuration.poolSize == 4)
        #expect(configuration.connectTimeout == .seconds(1))
        #expect(configuration.commandTimeout == .seconds(1))
        #expect(configuration.maxPendingCommands == 1024)
        #expect(configuration.subscriberBufferSize == 1024)
    }

    @Test func userPasswordPortAndDatabase() throws {
        let configuration = try RedisConfiguration(url: "redis://app:p%40ss%3Aw%2Frd@10.0.0.5:6380/2")
        #expect(configuration.username == "app")
        #expect(configuration.password == "p@ss:w/rd")
        #expect(configuration.host == "10.0.0.5")
        #expect(configuration.port == 6380)
        #expect(configuration.database == 2)
    }

    @Test func passwordAloneAuthenticatesTheDefaultUser() throws {
        let configuration = try RedisConfiguration(url: "REDIS://:secret@localhost/")
        #expect(configuration.username == nil)
        #expect(configuration.password == "secret")
        #expect(configuration.database == 0)
    }

    @Test func unencodedSlashAndAtInThePasswordStayInThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis://:a/b@c?d@host:7000/1")
        #expect(configuration.password == "a/b@c?d")
        #expect(configuration.host == "host")
        #expect(configuration.port == 7000)
        #expect(configuration.database == 1)
    }

    @Test func ipv6HostInBrackets() throws {
        let configuration = try RedisConfiguration(url: "redis://[::1]:7001/3")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 7001)
        #expect(configuration.database == 3)
        #expect(configuration.description == "redis://[::1]:7001/3")
    }

    @Test func redissMeansTLSCheckingTheChainAndHostUnlessTheParametersSayOtherwise() throws {
        let plain = try RedisConfiguration(url: "redis://host")
        #expect(plain.tls == nil)
        let checked = try RedisConfiguration(url: "rediss://:pw@cache.example.com:6380/1")
        #expect(checked.tls == RedisTLS(verification: .full, caFile: nil))
        #expect(checked.host == "cache.example.com" && checked.port == 6380 && checked.database == 1 && checked.password == "pw")
        #expect(checked.description == "rediss://:***@cache.example.com:6380/1")
        let ownCA = try RedisConfiguration(url: "rediss://host?ssl_ca_certs=%2Fetc%2Fredis%2Fca.pem&ssl_cert_reqs=required")
        #expect(ownCA.tls == RedisTLS(verification: .full, caFile: "/etc/redis/ca.pem"))
        let unchecked = try RedisConfiguration(url: "REDISS://host?ssl_cert_reqs=none")
        #expect(unchecked.tls == RedisTLS(verification: .none, caFile: nil))
        // A password may hold '?': the user info runs to the last '@'.
        let odd = try RedisConfiguration(url: "rediss://:a?b@host?ssl_cert_reqs=none")
        #expect(odd.password == "a?b" && odd.host == "host" && odd.tls?.verification == RedisTLS.Verification.none)
    }

    @Test func descriptionMasksThePassword() throws {
        let configuration = try RedisConfiguration(url: "redis://app:hunter2@host:6380/2")
        #expect(configuration.description == "redis://app:***@host:6380/2")
        #expect(!"\(configuration)".contains("hunter2"))
    }

    @Test(arguments: [
        ("http://:hunter2@host", "scheme"),
        ("rediss://:hunter2@host?ssl_verify=no", "unknown parameter 'ssl_verify'"),
        ("rediss://:hunter2@host?ssl_cert_reqs=maybe", "ssl_cert_reqs must be required or none"),
        ("rediss://:hunter2@host?ssl_cert_reqs", "needs a value"),
        ("rediss://:hunter2@host?ssl_cert_reqs=none&ssl_cert_reqs=required", "twice"),
        ("rediss://:hunter2@host?hunter2=x", "not starting with ssl_"),
        ("rediss://:hunter2@host#frag", "fragments"),
        ("redis://:hunter2@host?ssl_ca_certs=/ca.pem", "only for rediss://"),
        ("redis:/:hunter2@host", "redis://"),
        ("redis://:hunter2@host:99999", "port"),
        ("redis://:hunter2@host:abc", "port"),
        ("redis://:hunter2@host:", "port"),
        ("redis://:hunter2", "host"),  // forgot the "@": the password must not come back as a port
        ("redis://:hunter2@host/db1", "path"),
        ("redis://:hunter2@host/-1", "path"),
        ("redis://:hunter2@/0", "host"),
        ("redis://:hunter2@ho st", "host"),
        ("redis://:hunter2@host?db=1", "query"),
        ("redis://hunter2@host", "user info"),
        ("redis://app:@host", "user name needs a password"),
        ("redis://:hunter2%zz@host", "password is not valid percent-encoding"),
        ("redis://:hunter2@host:1:2", "IPv6"),
        ("redis://:hunter2@[::1", "']'"),
    ])
    func badURLsNameThePartButNeverThePassword(url: String, part: String) {
        #expect {
            try RedisConfiguration(url: url)
        } throws: { error in
            guard case RedisError.invalidURL = error else { return false }
            let text = "\(error)"
            return text.contains(part) && !text.contains("hunter") && !text.contains("hunter2")
        }
    }

    @Test func backoffDoublesFromFiftyMillisecondsUpToTwoSecondsWithJitter() {
        let backoff = RedisBackoff()
        for _ in 0..<50 {
            let first = backoff.delay(attempt: 0)
            #expect(first <= .milliseconds(50) && first >= .milliseconds(40))
            let second = backoff.delay(attempt: 1)
            #expect(second <= .milliseconds(100) && second >= .milliseconds(80))
            let late = backoff.delay(attempt: 40)
            #expect(late <= .seconds(2) && late >= .milliseconds(1600))
        }
        #expect(RedisBackoff(jitter: 0).delay(attempt: 3) == .milliseconds(400))
    }
}
