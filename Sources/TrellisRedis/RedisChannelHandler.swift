import NIOCore
import NIOSSL

/// A command, or a pipeline of commands, on its way to ``RedisChannelHandler``.
struct RedisRequest: Sendable {
    /// Where the reply goes: the waiting caller's continuation, for one value or the next
    /// `count` values collected in order; or nowhere (a keep-alive `PING`).
    ///
    /// A continuation, not an `EventLoopPromise`: no future, callback list or closures per
    /// command. It must be resumed exactly once, so a request has one owner at a time: the
    /// connection until the handler takes it (``RedisChannelHandler/write(context:data:promise:)``),
    /// then the handler, which either fails it at once or keeps it in its FIFO until the
    /// reply, the timeout or the connection's end removes it from there.
    enum Reply: Sendable {
        case one(UnsafeContinuation<RedisValue, any Error>)
        case many(count: Int, UnsafeContinuation<[RedisValue], any Error>)
        case discarded

        func fail(_ error: RedisError) {
            switch self {
            case .one(let continuation): continuation.resume(throwing: error)
            case .many(_, let continuation): continuation.resume(throwing: error)
            case .discarded: break
            }
        }
    }

    /// The encoded command(s), ready for the socket.
    var bytes: ByteBuffer
    var reply: Reply
    /// How long the reply may take, counted from when the handler writes the request.
    var timeout: TimeAmount
}

/// The RESP end of one Redis connection, confined to its event loop.
///
/// Outbound, it writes each request and appends its reply to a FIFO; inbound, it feeds the
/// hiredis reader and answers the oldest waiting request with each reply that arrives. Redis
/// answers in order, so any number of commands can be in flight at once (pipelining).
///
/// - A request whose reply is late fails with ``RedisError/timeout`` and the connection closes,
///   because a reply that came later would be taken for the next command's. One timer serves
///   the whole FIFO: it fires at the earliest deadline and re-arms itself.
/// - Past `maxPending` requests in flight, new ones fail with ``RedisError/overloaded``.
/// - When the channel closes or errors, every pending request fails (``RedisError/connectionClosed``,
///   or ``RedisError/protocol(_:)`` for bytes that are not RESP), and later writes fail at once.
/// - With `onPush` set (a pub/sub connection), `message` and `pmessage` arrays go to it instead of
///   to a promise; `subscribe` confirmations still answer the `SUBSCRIBE` that asked for them.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisRequest
    typealias OutboundOut = ByteBuffer

    private struct Pending {
        var reply: RedisRequest.Reply
        var collected: [RedisValue]
        var deadline: NIODeadline
    }

    private let maxPending: Int
    private let onPush: (@Sendable (RedisValue) -> Void)?
    private var reader: RESPReader?
    private var pending = CircularBuffer<Pending>(initialCapacity: 16)
    /// Set once the connection is going away; later writes fail with it.
    private var closedError: RedisError?
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?

    init(maxPending: Int, onPush: (@Sendable (RedisValue) -> Void)? = nil) {
        self.maxPending = maxPending
        self.onPush = onPush
    }

    func handlerAdded(context: ChannelHandlerContext) {
        reader = RESPReader()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        reader = nil  // frees the hiredis reader
        shut(failing: .connectionClosed)
    }

    // MARK: Outbound

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let request = unwrapOutboundIn(data)
        if let closedError {
            request.reply.fail(closedError)
            promise?.fail(closedError)
            return
        }
        guard pending.count < maxPending else {
            request.reply.fail(.overloaded)
            promise?.fail(RedisError.overloaded)
            return
        }
        let deadline = NIODeadline.now() + request.timeout
        pending.append(Pending(reply: request.reply, collected: [], deadline: deadline))
        armTimer(context: context, deadline: deadline)
        context.write(wrapOutboundOut(request.bytes), promise: promise)
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard closedError == nil, let reader else { return }
        do {
            try reader.feed(unwrapInboundIn(data))
            while closedError == nil, let value = try reader.next() {
                try deliver(value)
            }
        } catch {
            close(context: context, failing: error)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        shut(failing: .connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A TLS failure (a certificate the settings do not trust, a name it does not match)
        // says so; any other error, a TLS connection cut without its closing alert (a server
        // that died) included, is the connection closing under the commands.
        let failure: RedisError =
            switch error {
            case let error as RedisError: error
            case NIOSSLError.uncleanShutdown: .connectionClosed
            case is NIOSSLError, is BoringSSLError: .connectionFailed("TLS: \(error)")
            default: .connectionClosed
            }
        close(context: context, failing: failure)
    }

    private func deliver(_ value: RedisValue) throws(RedisError) {
        if let onPush, Self.isPushMessage(value) {
            onPush(value)
            return
        }
        guard let head = pending.first else {
            throw .protocol("a reply arrived with no command waiting for it")
        }
        switch head.reply {
        case .one(let continuation):
            pending.removeFirst()
            continuation.resume(returning: value)
        case .discarded:
            pending.removeFirst()
        case .many(let count, let continuation):
            let index = pending.startIndex
            pending[index].collected.append(value)
            // On a pub/sub connection an error ends a SUBSCRIBE early: the server sends no
            // per-channel confirmations after it.
            let ended = onPush != nil && value.errorMessage != nil
            if pending[index].collected.count == count || ended {
                let finished = pending.removeFirst()
                continuation.resume(returning: finished.collected)
            }
        }
    }

    /// `message` and `pmessage` arrays: what a subscribed connection receives unasked.
    static func isPushMessage(_ value: RedisValue) -> Bool {
        guard case .array(let items) = value, case .bulkString(let kind)? = items.first else { return false }
        return kind.elementsEqual("message".utf8) || kind.elementsEqual("pmessage".utf8)
    }

    // MARK: Closing and timeouts

    /// Fails everything in flight with `error`, closes the channel, and refuses later writes.
    private func close(context: ChannelHandlerContext, failing error: RedisError) {
        guard closedError == nil else { return }
        shut(failing: error)
        context.close(promise: nil)
    }

    private func shut(failing error: RedisError) {
        if closedError == nil { closedError = .connectionClosed }
        timer?.cancel()
        timer = nil
        timerDeadline = nil
        let failed = pending
        pending.removeAll()
        for entry in failed { entry.reply.fail(error) }
    }

    private func armTimer(context: ChannelHandlerContext, deadline: NIODeadline) {
        if let timerDeadline, timerDeadline <= deadline { return }
        timer?.cancel()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        timerDeadline = deadline
        timer = context.eventLoop.scheduleTask(deadline: deadline) {
            let (handler, context) = bound.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        timerDeadline = nil
        guard closedError == nil, !pending.isEmpty else { return }
        let now = NIODeadline.now()
        guard pending.contains(where: { $0.deadline <= now }) else {
            armTimer(context: context, deadline: pending.lazy.map(\.deadline).min()!)
            return
        }
        closedError = .connectionClosed
        let failed = pending
        pending.removeAll()
        for entry in failed { entry.reply.fail(entry.deadline <= now ? .timeout : .connectionClosed) }
        context.close(promise: nil)
    }
}
