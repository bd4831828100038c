import Foundation
import Testing
import TrellisTestSupport

@testable import TrellisRedis

/// `rediss://` against a real `redis-server` listening with TLS, using the self-signed
/// `localhost` certificate `scripts/test` makes for PostgreSQL (`TRELLIS_TEST_PG_CA_FILE`, its key
/// beside it).
@Suite(.timeLimit(.minutes(2))) struct RedisTLSTests {
    static func certificate() throws -> (certificate: String, key: String) {
        guard let path = ProcessInfo.processInfo.environment["TRELLIS_TEST_PG_CA_FILE"], !path.isEmpty else {
            throw TestEnvironmentError("TRELLIS_TEST_PG_CA_FILE is not set: run the tests through scripts/test, which makes the certificate")
        }
        return (path, URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent("server.key").path)
    }

    /// A private server with TLS on a second port (its plain port is for the start-up probe only).
    static func withTLSServer(password: String? = nil, _ body: (_ tlsPort: Int) async throws -> Void) async throws {
        try await withTLSServer(password: password) { _, port in try await body(port) }
    }

    static func withTLSServer(password: String? = nil, _ body: (PrivateRedisServer, _ tlsPort: Int) async throws -> Void) async throws {
        let (certificate, key) = try certificate()
        let tlsPort = try freeLocalPort()
        var arguments = ["--tls-port", "\(tlsPort)", "--tls-cert-file", certificate, "--tls-key-file", key, "--tls-auth-clients", "no"]
        if let password { arguments += ["--requirepass", password] }
        try await withPrivateRedisServer(arguments) { server in try await body(server, tlsPort) }
    }

    /// Connecting to `url` fails with `connectionFailed`, its reason containing each of `parts`.
    static func expectConnectFails(_ url: String, saying parts: String..., sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let configuration = try RedisConfiguration(url: url)
        await #expect(sourceLocation: sourceLocation) {
            _ = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
        } throws: { error in
            guard case let RedisError.connectionFailed(reason) = error else { return false }
            return parts.allSatisfy(reason.contains)
        }
    }

    @Test func commandsRunOverTLSWithThePasswordAndDatabaseWhenTheCAFileIsTrusted() async throws {
        let ca = try Self.certificate().certificate
        try await Self.withTLSServer(password: "s3cret") { port in
            let configuration = try RedisConfiguration(url: "rediss://:s3cret@localhost:\(port)/2?ssl_ca_certs=\(ca)")
            let connection = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
            #expect(try await connection.send("SET", "tls-key", "over tls") == .simpleString("OK"))
            #expect(try await connection.send("GET", "tls-key") == .bulkString(Array("over tls".utf8)))
            let info = try await connection.send("CLIENT", "INFO").string ?? ""
            #expect(info.contains(" db=2 "), "SELECT 2 went over the TLS connection: \(info)")
            await connection.close()
        }
    }

    @Test func aServerWhoseCertificateNoTrustedRootSignedIsAFailedConnectNamingTLS() async throws {
        try await Self.withTLSServer { port in
            try await Self.expectConnectFails("rediss://localhost:\(port)", saying: "TLS", "localhost:\(port)")
        }
    }

    @Test func anAddressTheCertificateDoesNotNameIsRefusedEvenWithItsCA() async throws {
        let ca = try Self.certificate().certificate
        try await Self.withTLSServer { port in
            // The certificate names `localhost` only.
            try await Self.expectConnectFails("rediss://127.0.0.1:\(port)?ssl_ca_certs=\(ca)", saying: "TLS")
        }
    }

    @Test func checkingNothingStillEncryptsAndConnects() async throws {
        try await Self.withTLSServer { port in
            let configuration = try RedisConfiguration(url: "rediss://localhost:\(port)?ssl_cert_reqs=none")
            let connection = try await RedisConnection.connect(configuration: configuration, logger: quietLogger)
            #expect(try await connection.send("PING") == .simpleString("PONG"))
            await connection.close()
        }
    }

    @Test func anUnreadableCAFileIsAFailedConnectNamingTheFile() async throws {
        try await Self.expectConnectFails("rediss://localhost:1?ssl_ca_certs=/nonexistent/ca.pem", saying: "/nonexistent/ca.pem")
    }

    @Test func thePoolReconnectsOverTLSAfterARestartAndMeanwhileFailsAsWithRedisDown() async throws {
        let ca = try Self.certificate().certificate
        try await Self.withTLSServer { server, port in
            let configuration = try RedisConfiguration(url: "rediss://localhost:\(port)?ssl_ca_certs=\(ca)")
            try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
                try await eventually("the pool to connect over TLS") {
                    (try? await client.send("SET", "k", "before")) == .simpleString("OK")
                }
                await server.stop()
                do {
                    _ = try await client.send("GET", "k")
                    Issue.record("a command succeeded while Redis was down")
                } catch let error as RedisError {
                    // The same errors as over plain TCP: a server that died is not a TLS failure.
                    #expect(error == .unavailable || error == .connectionClosed, "\(error)")
                }
                try await server.start()
                try await eventually("the pool to reconnect over TLS", within: .seconds(10)) {
                    (try? await client.send("SET", "k", "after")) == .simpleString("OK")
                }
            }
        }
    }

    @Test func thePoolConnectsOverTLSToo() async throws {
        let ca = try Self.certificate().certificate
        try await Self.withTLSServer { port in
            let configuration = try RedisConfiguration(url: "rediss://localhost:\(port)?ssl_ca_certs=\(ca)")
            try await withRedisClient(configuration: configuration, logger: quietLogger) { client async throws in
                try await eventually("the pool to connect over TLS") {
                    (try? await client.send("SET", "pooled", "1")) == .simpleString("OK")
                }
                #expect(try await client.send("GET", "pooled") == .bulkString(Array("1".utf8)))
            }
        }
    }
}
