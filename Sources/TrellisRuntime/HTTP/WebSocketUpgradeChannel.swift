import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import NIOWebSocket
@_spi(WSInternal) import WSCore

/// The limits of a WebSocket connection (`GET /v1/realtime`, GraphQL subscriptions).
public struct WebSocketLimits: Sendable, Hashable {
    /// The largest message a client may send, and the largest frame either side sends (a
    /// longer server message goes out in several frames).
    public var maxMessageBytes = Self.defaultMaxMessageBytes
    /// 64 KiB: also what the WebSocket routes read a client message up to.
    public static let defaultMaxMessageBytes = 65_536
    /// A ping goes out this often; a client that has not answered the previous one by then is
    /// disconnected (`TRELLIS_EVENTS_HEARTBEAT`).
    public var pingInterval: Duration = .seconds(15)
    /// How long the server waits for the client's close frame after sending its own.
    public var closeTimeout: Duration = .seconds(5)

    public init(maxMessageBytes: Int = defaultMaxMessageBytes, pingInterval: Duration = .seconds(15), closeTimeout: Duration = .seconds(5)) {
        self.maxMessageBytes = maxMessageBytes
        self.pingInterval = pingInterval
        self.closeTimeout = closeTimeout
    }
}

/// What a WebSocket handler is given besides the connection's two directions.
public struct TrellisWebSocketContext: WebSocketContext {
    public let logger: Logger
}

/// Set on the context of a request that asks to become a WebSocket (``TrellisRequestContext/webSocket``).
/// A route that serves WebSockets checks the request as it would any other (credential, scopes,
/// parameters) and then ``accept(subprotocol:handler:)``s it; every other answer (a problem, or
/// a route that never accepts) goes back to the client as the HTTP response it is.
public final class WebSocketOffer: Sendable {
    public typealias Handler = WebSocketDataHandler<TrellisWebSocketContext>

    struct Acceptance: Sendable {
        let subprotocol: String?
        let handler: Handler
    }

    /// The subprotocols the client offered (`Sec-WebSocket-Protocol`), in its order.
    public let subprotocols: [String]
    private let acceptance = NIOLockedValueBox<Acceptance?>(nil)

    init(subprotocols: [String]) {
        self.subprotocols = subprotocols
    }

    /// Answers the upgrade with `101 Switching Protocols` (naming `subprotocol`, which must be
    /// one the client offered) once the route returns 200, and runs `handler` on the connection.
    public func accept(subprotocol: String? = nil, handler: @escaping Handler) {
        acceptance.withLockedValue { $0 = Acceptance(subprotocol: subprotocol, handler: handler) }
    }

    var accepted: Acceptance? { acceptance.withLockedValue { $0 } }

    /// Whether the client offers the `graphql-transport-ws` subprotocol, which authenticates in
    /// its first message (`connection_init`) rather than in a header browsers cannot set.
    var authenticatesInBand: Bool { subprotocols.contains(GraphQLTransportWS.subprotocol) }
}

/// HTTP/1.1 with the connection timeouts of ``Timeouts`` (idle, header, body, write), plus WebSocket upgrades.
///
/// The first request of a connection may ask to upgrade (`Upgrade: websocket`). It is then
/// answered by the same router and middleware as every request (request id, log, metrics,
/// rate limits, authentication, problems), with ``TrellisRequestContext/webSocket`` set: a
/// route that accepts turns the connection into a WebSocket; any other response is written
/// as the HTTP answer (a 401 or 403 problem, say) and the connection closes. An upgrade asked
/// later on a kept-alive connection reaches the route without an offer, and the route answers
/// 426. After an upgrade the connection's read timeouts stop (the WebSocket pings instead) and
/// its write timeout stays: a client that stops reading is disconnected, never buffered for.
public struct WebSocketUpgradeChannel: ServerChildChannel, HTTPChannelHandler {
    public typealias Upgrades = @Sendable (Request, TrellisRequestContext) async throws -> Response

    public enum Outcome: Sendable {
        case http(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>)
        case refused(NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, Response?)
        case webSocket(NIOAsyncChannel<WebSocketFrame, WebSocketFrame>, WebSocketOffer.Handler, Logger)
    }

    public struct Value: ServerChildChannelValue {
        let outcome: EventLoopFuture<Outcome>
        public let channel: any Channel
    }

    /// An upgrade's fate, decided while the upgrade request waits.
    private enum Decision: Sendable {
        case none
        case refused(Response?)
        case accepted(WebSocketOffer.Handler, Logger)
    }

    public let responder: HTTPChannelHandler.Responder
    let upgrades: Upgrades
    let timeouts: Timeouts
    let limits: WebSocketLimits
    let onStall: (@Sendable () -> Void)?
    let executors = EventLoopTaskExecutors()

    public init(
        responder: @escaping HTTPChannelHandler.Responder, upgrades: @escaping Upgrades, timeouts: Timeouts, limits: WebSocketLimits,
        onStall: (@Sendable () -> Void)? = nil
    ) {
        self.responder = responder
        self.upgrades = upgrades
        self.timeouts = timeouts
        self.limits = limits
        self.onStall = onStall
    }

    public func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            let clock = ConnectionClock(timeouts: timeouts, eventLoop: channel.eventLoop)
            clock.onStall = onStall
            try channel.pipeline.syncOperations.addHandler(FirstByteHandler(clock: clock), position: .first)
            let decision = NIOLockedValueBox(Decision.none)
            let upgrader = NIOTypedWebSocketServerUpgrader<Outcome>(
                maxFrameSize: limits.maxMessageBytes,
                enableAutomaticErrorHandling: true,
                shouldUpgrade: { channel, head in
                    let promise = channel.eventLoop.makePromise(of: HTTPHeaders?.self)
                    promise.completeWithTask {
                        let (decided, headers) = await decide(head, channel: channel, logger: logger)
                        decision.withLockedValue { $0 = decided }
                        return headers
                    }
                    return promise.futureResult
                },
                upgradePipelineHandler: { channel, _ in
                    channel.eventLoop.makeCompletedFuture {
                        clock.upgraded()
                        guard case let .accepted(handler, logger) = decision.withLockedValue({ $0 }) else {
                            throw ChannelError.inappropriateOperationForState
                        }
                        let webSocket = try NIOAsyncChannel<WebSocketFrame, WebSocketFrame>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        return .webSocket(webSocket, handler, logger)
                    }
                })
            let upgradeConfiguration = NIOTypedHTTPServerUpgradeConfiguration<Outcome>(
                upgraders: [upgrader],
                notUpgradingCompletionHandler: { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let pipeline = channel.pipeline.syncOperations
                        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
                        try pipeline.addHandler(RequestPhaseHandler(clock: clock))
                        try pipeline.addHandler(HTTPConnectionStateHandler(idleTimeout: nil, logger: logger))
                        let http = try NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                        switch decision.withLockedValue({ $0 }) {
                        case .none: return .http(http)
                        case let .refused(response): return .refused(http, response)
                        case .accepted: return .refused(http, nil)
                        }
                    }
                })
            var configuration = NIOUpgradableHTTPServerPipelineConfiguration(upgradeConfiguration: upgradeConfiguration)
            configuration.enablePipelining = false  // NIOAsyncChannel pipelines HTTP
            configuration.enableErrorHandling = false  // Hummingbird answers malformed requests
            configuration.enableResponseHeaderValidation = false  // HTTPTypes validated them
            let outcome = try channel.pipeline.syncOperations.configureUpgradableHTTPServerPipeline(configuration: configuration)
            return Value(outcome: outcome, channel: channel)
        }
    }

    /// Runs the upgrade request through the router with an offer on its context.
    private func decide(_ head: HTTPRequestHead, channel: any Channel, logger: Logger) async -> (Decision, HTTPHeaders?) {
        do {
            let request = Request(head: try HTTPRequest(head, secure: false, splitCookie: false), body: .init(buffer: ByteBuffer()))
            var context = TrellisRequestContext(source: .init(channel: channel, logger: logger))
            let offer = WebSocketOffer(subprotocols: Self.subprotocols(request.headers))
            context.webSocket = offer
            let response = try await upgrades(request, context)
            guard response.status == .ok, let accepted = offer.accepted else { return (.refused(response), nil) }
            var headers = response.headers
            headers[.contentLength] = nil
            headers[.contentType] = nil
            if let subprotocol = accepted.subprotocol { headers[.secWebSocketProtocol] = subprotocol }
            return (.accepted(accepted.handler, context.logger), HTTPHeaders(headers))
        } catch {
            return (.refused(nil), nil)
        }
    }

    static func subprotocols(_ headers: HTTPFields) -> [String] {
        headers[values: .secWebSocketProtocol].flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// Serves the connection with its task preferring the channel's event loop (see
    /// ``EventLoopTaskExecutor``): reading a request, running the router and writing the
    /// response all continue on the loop that owns the socket, with no hop between them.
    public func handle(value: Value, logger: Logger) async {
        await withTaskExecutorPreference(executors.executor(for: value.channel.eventLoop)) {
            await serve(value, logger: logger)
        }
    }

    private func serve(_ value: Value, logger: Logger) async {
        do {
            switch try await value.outcome.get() {
            case let .http(http):
                await handleHTTP(asyncChannel: http, logger: logger)
            case let .refused(http, response):
                await refuse(http, with: response)
            case let .webSocket(webSocket, handler, logger):
                do {
                    _ = try await WebSocketHandler.handle(
                        type: .server,
                        configuration: .init(
                            extensions: [], autoPing: .enabled(timePeriod: limits.pingInterval), closeTimeout: limits.closeTimeout,
                            validateUTF8: true, maxFrameSize: limits.maxMessageBytes),
                        asyncChannel: webSocket, context: TrellisWebSocketContext(logger: logger), handler: handler)
                } catch {
                    logger.debug("WebSocket ended with an error", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
                }
            }
        } catch {
            logger.debug("Connection set-up failed", metadata: ["error.type": "\(String(reflecting: type(of: error)))"])
        }
    }

    /// Writes the router's answer to a refused upgrade (a 400 when there is none) and closes.
    /// The body is streamed as the route writes it, never collected: a route that streams (the
    /// SSE of `GET /v1/events`, asked with `Upgrade: websocket`) is served as it would be
    /// without the upgrade, under the same write timeout.
    private func refuse(_ http: NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>, with response: Response?) async {
        try? await http.executeThenClose { _, outbound in
            guard let response else {
                let head = HTTPResponse(status: .badRequest, headerFields: [.connection: "close", .contentLength: "0"])
                try await outbound.write(contentsOf: [.head(head), .end(nil)])
                return
            }
            var head = response.head
            head.headerFields[.connection] = "close"
            if let length = response.body.contentLength { head.headerFields[.contentLength] = String(length) }
            try await outbound.write(.head(head))
            try await response.body.write(OutboundBodyWriter(outbound: outbound))
        }
    }
}

/// Writes a response body straight to the connection (a refused upgrade's answer).
private struct OutboundBodyWriter: ResponseBodyWriter {
    let outbound: NIOAsyncChannelOutboundWriter<HTTPResponsePart>

    mutating func write(_ buffer: ByteBuffer) async throws {
        try await outbound.write(.body(buffer))
    }

    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        try await outbound.write(.end(trailingHeaders))
    }
}

extension HTTPServerBuilder {
    /// HTTP/1.1 with Trellis's connection timeouts and WebSocket upgrades answered by `router`
    /// (the application's own, so an upgrade passes the same middleware) (``WebSocketUpgradeChannel``).
    public static func http1(
        timeouts: Timeouts, webSocket limits: WebSocketLimits, router: Router<TrellisRequestContext>,
        onStall: (@Sendable () -> Void)? = nil
    ) -> HTTPServerBuilder {
        let upgrades = router.buildResponder()
        return .init { responder in
            WebSocketUpgradeChannel(
                responder: responder, upgrades: { try await upgrades.respond(to: $0, context: $1) }, timeouts: timeouts, limits: limits,
                onStall: onStall)
        }
    }
}
