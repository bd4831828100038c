import NIOCore
import NIOSSL
import NIOTLS

/// The opening of a connection that may speak TLS: an `SSLRequest`, the server's one-byte
/// answer (`S` yes, `N` no), and on `S` a TLS client in front of everything read and written
/// after it (protocol.html, "SSL Session Encryption").
///
/// The answer must be that one byte and nothing more: bytes after an `S` would be read as if
/// they had come through TLS, although anyone on the path could have put them there
/// (CVE-2021-23222), so any such byte fails the connection.
enum TLSRequest {
    /// Asks for TLS as `tls` wants it and adds the TLS client on `S`; returns when the
    /// connection is ready for the startup message. Throws `connectionFailed` when TLS is
    /// required and refused, when the answer is anything but one `S` or `N`, or when none
    /// comes within `timeout`.
    static func negotiate(
        _ tls: PostgresPipeline.Configuration.TLS, on channel: any Channel, host: String, timeout: TimeAmount
    ) async throws(PostgresPipelineError) {
        let (configuration, required): (TLSConfiguration, Bool)
        switch tls {
        case .disable: return
        case let .prefer(settings): (configuration, required) = (settings, false)
        case let .require(settings): (configuration, required) = (settings, true)
        }
        let target = "\(host):\(channel.remoteAddress?.port.map(String.init) ?? "?")"
        let context: NIOSSLContext
        do {
            context = try NIOSSLContext(configuration: configuration)
        } catch {
            throw .connectionFailed("\(target): the TLS settings cannot be used: \(error)")
        }
        let loop = channel.eventLoop
        let answer = loop.makePromise(of: UInt8.self)
        let handshake = loop.makePromise(of: Void.self)
        do {
            try await loop.submit {
                try channel.pipeline.syncOperations.addHandler(AnswerHandler(answer: answer))
                var request = channel.allocator.buffer(capacity: 8)
                request.writeSSLRequest()
                channel.writeAndFlush(request, promise: nil)
                answer.failUnlessDone(within: timeout, "\(target) did not answer the TLS request")
            }.get()
            let byte = try await answer.futureResult.get()
            try await loop.submit {
                let handler = try channel.pipeline.syncOperations.handler(type: AnswerHandler.self)
                channel.pipeline.syncOperations.removeHandler(handler, promise: nil)
                switch byte {
                case UInt8(ascii: "S"):
                    // SNI and hostname checks take a name, never an address (as postgres-nio does).
                    let name = (try? SocketAddress(ipAddress: host, port: 0)) == nil ? host : nil
                    let watcher = HandshakeHandler(done: handshake)
                    try channel.pipeline.syncOperations.addHandler(watcher)
                    try channel.pipeline.syncOperations.addHandler(
                        NIOSSLClientHandler(context: context, serverHostname: name), position: .before(watcher))
                    handshake.failUnlessDone(within: timeout, "\(target) did not finish the TLS handshake")
                    let bound = NIOLoopBound(watcher, eventLoop: loop)
                    handshake.futureResult.whenComplete { _ in channel.pipeline.syncOperations.removeHandler(bound.value, promise: nil) }
                case UInt8(ascii: "N") where !required:
                    handshake.succeed()
                case UInt8(ascii: "N"):
                    throw PostgresPipelineError.connectionFailed("\(target) does not accept TLS, which the connection's sslmode requires")
                default:
                    throw PostgresPipelineError.connectionFailed("\(target) answered the TLS request with byte \(byte), neither S nor N")
                }
            }.get()
            // The handshake (certificate checks included) ends before the startup message is sent.
            try await handshake.futureResult.get()
        } catch {
            // Every promise is completed, whichever step failed (a second completion is ignored).
            let failure = error as? PostgresPipelineError ?? .connectionFailed("\(target): \(error)")
            answer.fail(failure)
            handshake.fail(failure)
            throw failure
        }
    }

    /// Completes `done` when the TLS handshake ends: with success, or with its error (a
    /// certificate the settings do not trust, a name it does not match).
    final class HandshakeHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<Void>

        init(done: EventLoopPromise<Void>) {
            self.done = done
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if case TLSUserEvent.handshakeCompleted = event { done.succeed() }
            context.fireUserInboundEventTriggered(event)
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            done.fail(PostgresPipelineError.connectionFailed("the TLS handshake failed: \(error)"))
            context.fireErrorCaught(error)
        }

        func channelInactive(context: ChannelHandlerContext) {
            done.fail(PostgresPipelineError.connectionFailed("the server closed the connection during the TLS handshake"))
            context.fireChannelInactive()
        }
    }

    /// Reads the answer: exactly one byte. Anything read after it, before the TLS client
    /// takes over, closes the connection.
    final class AnswerHandler: ChannelInboundHandler, RemovableChannelHandler {
        typealias InboundIn = ByteBuffer
        let answer: EventLoopPromise<UInt8>
        private var answered = false

        init(answer: EventLoopPromise<UInt8>) {
            self.answer = answer
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var bytes = unwrapInboundIn(data)
            guard !answered else {
                context.close(promise: nil)
                return
            }
            answered = true
            guard bytes.readableBytes == 1, let byte = bytes.readInteger(as: UInt8.self) else {
                answer.fail(
                    PostgresPipelineError.connectionFailed(
                        "the server answered the TLS request with \(bytes.readableBytes) bytes, not one: refused, as bytes before the TLS handshake could be anyone's"))
                return
            }
            answer.succeed(byte)
        }

        func channelInactive(context: ChannelHandlerContext) {
            answer.fail(PostgresPipelineError.connectionFailed("the server closed the connection before answering the TLS request"))
            context.fireChannelInactive()
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            answer.fail(PostgresPipelineError.connectionFailed("the TLS request failed: \(error)"))
        }
    }
}

extension EventLoopPromise {
    /// Fails the promise with `connectionFailed("<what> within <timeout> ms")` if it is still
    /// pending after `timeout`; the timer ends when the promise completes. Each step of a
    /// connection's opening (the TLS answer, the handshake, the login) is bounded this way.
    func failUnlessDone(within timeout: TimeAmount, _ what: String) {
        let timer = futureResult.eventLoop.scheduleTask(in: timeout) {
            self.fail(PostgresPipelineError.connectionFailed("\(what) within \(timeout.nanoseconds / 1_000_000) ms"))
        }
        futureResult.whenComplete { _ in timer.cancel() }
    }
}
