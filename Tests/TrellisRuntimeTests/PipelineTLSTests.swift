import Foundation
import NIOCore
import NIOPosix
import Testing
import TrellisRuntime
import TrellisTestSupport

@testable import TrellisPostgres

/// The pipelined connections speak TLS as the URL's `sslmode` asks, as the pool does: against
/// the test cluster, which `scripts/test` starts with TLS on (a self-signed certificate for
/// `localhost`, `TRELLIS_TEST_PG_CA_FILE`), and against a fake server for the answers a
/// real one does not give.
@Suite(.timeLimit(.minutes(2))) struct PipelineTLSTests {
    /// The test role's URL with `change` applied.
    static func url(_ change: (inout DatabaseURL) throws -> Void = { _ in }) throws -> DatabaseURL {
        var url = try DatabaseURL(try DatabaseTestEnvironment.url("TRELLIS_TEST_DATABASE_URL"))
        try change(&url)
        return url
    }

    static func caFile() throws -> String {
        guard let path = ProcessInfo.processInfo.environment["TRELLIS_TEST_PG_CA_FILE"], !path.isEmpty else {
            throw TestEnvironmentError(
                "TRELLIS_TEST_PG_CA_FILE is not set: run the tests through scripts/test, which starts PostgreSQL with TLS")
        }
        return path
    }

    /// Whether the server sees this statement's connection as encrypted.
    static func encrypted(_ url: DatabaseURL) async throws -> Bool {
        let connection = try await PipelinedConnection.connect(
            configuration: url.pipelineConfiguration(), on: MultiThreadedEventLoopGroup.singleton.next())
        defer { Task { await connection.close() } }
        let rows = try await connection.rows("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", named: nil, SQLBindings())
        return try rows[0].decode(Bool.self)
    }

    @Test func readsUseTLSWheneverTheServerOffersItUnlessTheURLDisablesIt() async throws {
        #expect(try await Self.encrypted(Self.url()), "sslmode=prefer, the default")
        #expect(try await Self.encrypted(Self.url { $0.sslMode = .require }))
        #expect(try await Self.encrypted(Self.url { $0.sslMode = .allow }))
        #expect(try await !Self.encrypted(Self.url { $0.sslMode = .disable }))
    }

    @Test func verifyFullConnectsToTheNameTheCertificateNamesWithItsCAAndOtherwiseFails() async throws {
        let ca = try Self.caFile()
        #expect(
            try await Self.encrypted(
                Self.url {
                    $0.sslMode = .verifyFull
                    $0.sslRootCertificates = ca
                    $0.host = "localhost"
                }))
        // The system's roots do not trust a self-signed certificate.
        await #expect {
            _ = try await Self.encrypted(Self.url { $0.sslMode = .verifyFull; $0.host = "localhost" })
        } throws: { error in
            guard case PostgresPipelineError.connectionFailed = error else { return false }
            return true
        }
        // The certificate names localhost, not the address.
        await #expect {
            _ = try await Self.encrypted(Self.url { $0.sslMode = .verifyFull; $0.sslRootCertificates = ca })
        } throws: { error in
            guard case PostgresPipelineError.connectionFailed = error else { return false }
            return true
        }
        // verify-ca checks the chain only: the address will do.
        #expect(try await Self.encrypted(Self.url { $0.sslMode = .verifyCA; $0.sslRootCertificates = ca }))
    }

    @Test func aServerWithoutTLSIsRefusedWhenTheURLRequiresItAndSpokenToInTheClearWhenItPrefersIt() async throws {
        try await FakeServer.withServer(answer: [UInt8(ascii: "N")]) { port in
            let refused = await #expect(throws: PostgresPipelineError.self) {
                _ = try await Self.encrypted(Self.url { $0.sslMode = .require; $0.port = port })
            }
            #expect("\(refused.map(String.init(describing:)) ?? "")".contains("does not accept TLS"))
            // prefer goes on to log in in the clear: the fake server then hangs up.
            let clear = await #expect(throws: PostgresPipelineError.self) {
                _ = try await Self.encrypted(Self.url { $0.port = port })
            }
            #expect(!"\(clear.map(String.init(describing:)) ?? "")".contains("TLS"))
        }
    }

    /// Bytes after the `S` would be taken as if they had come through TLS (CVE-2021-23222).
    @Test func bytesSentAfterTheServersYesAreRefused() async throws {
        try await FakeServer.withServer(answer: Array("SZ\0\0\0\u{5}I".utf8)) { port in
            let error = await #expect(throws: PostgresPipelineError.self) {
                _ = try await Self.encrypted(Self.url { $0.sslMode = .require; $0.port = port })
            }
            #expect("\(error.map(String.init(describing:)) ?? "")".contains("not one"))
        }
    }
}

/// A loopback server that answers the first 8 bytes it reads (an `SSLRequest`) with `answer`,
/// then closes the connection once the client writes again.
private enum FakeServer {
    final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let answer: [UInt8]
        var received = 0

        init(answer: [UInt8]) {
            self.answer = answer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            if received < 8 {
                received += bytes.readableBytes
                if received >= 8 { context.writeAndFlush(NIOAny(context.channel.allocator.buffer(bytes: answer)), promise: nil) }
                if received == 8 { return }
            }
            context.close(promise: nil)
        }
    }

    static func withServer(answer: [UInt8], _ body: (Int) async throws -> Void) async throws {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Handler(answer: answer)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        do {
            try await body(channel.localAddress?.port ?? 0)
        } catch {
            try? await channel.close()
            throw error
        }
        try await channel.close()
    }
}
