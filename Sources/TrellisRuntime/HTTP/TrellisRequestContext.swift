import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// Per-request state shared by every Trellis route: the request id and the caller.
public struct TrellisRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Echoed from a sane `X-Request-ID`, otherwise generated.
    public var requestID: String
    /// Set by ``AuthenticationMiddleware`` on every `/v1` request. Held by reference so the
    /// outer request-log middleware sees who called.
    public var identity: Identity? {
        get { caller.withLockedValue { $0 } }
        nonmutating set { caller.withLockedValue { $0 = newValue } }
    }
    private let caller = NIOLockedValueBox<Identity?>(nil)

    /// The peer's address, for audit entries (nil in router tests).
    public var clientIP: String?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        requestID = ""
        clientIP = source.channel.remoteAddress?.ipAddress
    }

    /// The API's body limit (`api.yaml` `body_size`), on every route, hand-written ones
    /// included: set for each request by ``BodyLimitMiddleware``; 1 MiB until then.
    public var maxUploadSize: Int = 1 << 20
}
