import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTPTypes

// HTTP/1.1 with the connection limits of ``Timeouts`` (DESIGN.md §6): a connection
// waiting for its next request is closed after `httpIdle`; a request's header must arrive
// within `httpHeader` of its first byte, and its body within `httpBody` of the header; a
// client that stops reading for `httpWrite` is cut off. Slow-header, slow-body, idle and
// stalled sockets are closed instead of holding the server.
//
// Two handlers share one per-connection clock (``WebSocketUpgradeChannel`` installs them): one
// in front of the HTTP decoder (it sees a request's first byte), one behind it (it sees the
// header and the end of each request, and the end of each response).

/// Where a connection is, and the one timer that closes it if it stays there too long.
/// Confined to the channel's event loop.
///
/// A phase change only moves the deadline; the timer is rescheduled only when the new
/// deadline is earlier than the pending one. When it fires early it re-arms for the current
/// deadline. So a busy keep-alive connection costs one timer every `httpHeader` or so, not
/// several per request, and still closes no later than each phase's limit.
final class ConnectionClock: @unchecked Sendable {
    enum Phase {
        /// Waiting for a request's first byte.
        case idle
        /// Reading a request's header.
        case header
        /// Reading a request's body.
        case body
        /// The request is being answered: the request deadline applies, not these.
        case responding
    }

    private let timeouts: Timeouts
    private let eventLoop: any EventLoop
    private(set) var phase: Phase = .idle
    /// When the current phase has lasted too long (nil while responding).
    private var deadline: NIODeadline?
    private var timer: Scheduled<Void>?
    private var timerFiresAt: NIODeadline?
    private var stopped = false
    /// Armed while the channel is not writable (its send buffer past the high-water mark).
    private var stallTimer: Scheduled<Void>?
    /// Told when a stalled connection is closed (the server's metrics).
    var onStall: (@Sendable () -> Void)?
    /// Requests read but not yet answered (HTTP/1.1 pipelining).
    private var inFlight = 0
    var context: ChannelHandlerContext?

    init(timeouts: Timeouts, eventLoop: any EventLoop) {
        self.timeouts = timeouts
        self.eventLoop = eventLoop
    }

    func enter(_ phase: Phase) {
        eventLoop.assertInEventLoop()
        self.phase = phase
        let limit: Duration? =
            switch phase {
            case .idle: timeouts.httpIdle
            case .header: timeouts.httpHeader
            case .body: timeouts.httpBody
            case .responding: nil
            }
        guard let limit, !stopped else {
            deadline = nil
            return
        }
        let deadline = NIODeadline.now() + .milliseconds(limit.milliseconds)
        self.deadline = deadline
        if let timerFiresAt, timerFiresAt <= deadline { return }
        arm(at: deadline)
    }

    private func arm(at instant: NIODeadline) {
        timer?.cancel()
        timerFiresAt = instant
        timer = eventLoop.scheduleTask(deadline: instant) { [self] in self.fire() }
    }

    private func fire() {
        timer = nil
        timerFiresAt = nil
        guard let deadline, !stopped else { return }
        if deadline <= .now() {
            context?.close(promise: nil)
        } else {
            arm(at: deadline)
        }
    }

    func firstByte() {
        if phase == .idle { enter(.header) }
    }

    func requestHead() { enter(.body) }

    func requestEnd() {
        inFlight += 1
        enter(.responding)
    }

    func responseEnd() {
        inFlight = max(0, inFlight - 1)
        if inFlight == 0, phase == .responding { enter(.idle) }
    }

    /// The channel stopped or resumed accepting writes: a client that reads nothing for
    /// `httpWrite` while a response waits to be sent is cut off.
    func writabilityChanged(_ writable: Bool) {
        eventLoop.assertInEventLoop()
        if writable {
            stallTimer?.cancel()
            stallTimer = nil
        } else if stallTimer == nil, !stopped {
            stallTimer = eventLoop.scheduleTask(in: .milliseconds(timeouts.httpWrite.milliseconds)) { [self] in
                self.stallTimer = nil
                guard !self.stopped else { return }
                self.onStall?()
                self.context?.close(promise: nil)
            }
        }
    }

    /// The connection became a WebSocket: no more requests to time, so the read timeouts stop
    /// (the WebSocket's pings find a dead peer); the write timeout stays.
    func upgraded() {
        eventLoop.assertInEventLoop()
        phase = .responding
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
        deadline = nil
    }

    func stop() {
        stallTimer?.cancel()
        stallTimer = nil
        stopped = true
        timer?.cancel()
        timer = nil
        timerFiresAt = nil
        deadline = nil
        context = nil
    }
}

/// In front of the HTTP decoder: notes a request's first byte.
final class FirstByteHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    let clock: ConnectionClock

    init(clock: ConnectionClock) {
        self.clock = clock
    }

    func handlerAdded(context: ChannelHandlerContext) {
        clock.context = context
        if context.channel.isActive { clock.enter(.idle) }
    }

    func channelActive(context: ChannelHandlerContext) {
        clock.enter(.idle)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.firstByte()
        context.fireChannelRead(data)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        clock.stop()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        clock.writabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        clock.stop()
        context.fireChannelInactive()
    }
}

/// Behind the HTTP decoder: notes each request's header and end, and each response's end.
///
/// It also coalesces a response's flushes. When handlers run on the connection's event loop
/// (``TrellisServer/useEventLoopsAsGlobalExecutor()``), Hummingbird's head, body and end
/// writes each arrive with a flush of their own, and each flush would be a `writev` (on
/// loopback, the costliest syscall of a request). A flush that follows the end of a response goes out at once; a
/// flush in the middle of one is deferred to the end of this event-loop turn, by which
/// time the rest of a buffered response has usually been written and flushed with it, while
/// a streamed response still goes out without delay.
final class RequestPhaseHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let clock: ConnectionClock
    /// Whether the last part written ended a response.
    private var betweenResponses = true
    private var deferredFlush = false

    init(clock: ConnectionClock) {
        self.clock = clock
    }

    func flush(context: ChannelHandlerContext) {
        if betweenResponses {
            deferredFlush = false
            context.flush()
            return
        }
        guard !deferredFlush else { return }
        deferredFlush = true
        context.eventLoop.assumeIsolated().execute { [self] in
            guard self.deferredFlush else { return }
            self.deferredFlush = false
            context.flush()
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head: clock.requestHead()
        case .end: clock.requestEnd()
        case .body: break
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) {
            clock.responseEnd()
            betweenResponses = true
        } else {
            betweenResponses = false
        }
        context.write(data, promise: promise)
    }
}
