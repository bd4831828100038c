import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOConcurrencyHelpers

/// Per-request state shared by every Trellis route: the request id and the caller.
public struct TrellisRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Echoed from a sane `X-Request-ID`, otherwise generated.
    public var requestID: String
    /// Set by ``AuthenticationMiddleware`` on every `/v1` request. Held by reference so the
    /// outer request-log middleware sees who called.
    public var identity: Identity? {
        get { caller.identity }
        nonmutating set { caller.identity = newValue }
    }
    private let caller = CallerSlot()

    /// The peer's address, for audit entries (nil in router tests). Read from the channel
    /// when asked: most requests never need it, and formatting it costs on every request.
    public var clientIP: String? { channel?.remoteAddress?.ipAddress }
    /// The connection (nil in router tests).
    let channel: (any Channel)?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = ""
        channel = source.channel
    }

    /// Set when this request asks to become a WebSocket and may (the first request of its
    /// connection): a route that serves WebSockets accepts it (``WebSocketOffer``). Nil otherwise.
    public var webSocket: WebSocketOffer?

    /// The API's body limit (`api.yaml` `body_size`), on every route, hand-written ones
    /// included: set for each request by ``BodyLimitMiddleware``; 1 MiB until then.
    public var maxUploadSize: Int = 1 << 20
}

/// Where the authentication middleware leaves the caller for the middleware outside it.
/// Unlocked on purpose: one request's middleware chain writes it and then reads it in
/// sequence (the write happens before the inner middleware returns, the read after), never
/// at the same time, so a lock per request would only cost time.
private final class CallerSlot: @unchecked Sendable {
    var identity: Identity?
}
