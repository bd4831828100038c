import HTTPTypes
import Foundation
import Hummingbird
import Synchronization

extension HTTPField.Name {
    public static let xRequestID = Self("X-Request-ID")!
}

/// Assigns the request id (client's if sane: 1–128 of `[A-Za-z0-9._-]`), binds it as the
/// request's ``RequestLogScope`` (every log line of the request names it) and puts it on
/// every response, including error responses.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = TrellisRequestContext

    let ids = RequestIDGenerator()
    /// Its own table, not the connection handler's: with one shared table (the same executor
    /// object preferred twice) `/health/live` cost 6 µs more per request in four of four
    /// alternating pairs (Benchmarks/README.md, "One executor table per process: reverted").
    let executors = EventLoopTaskExecutors()

    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let id = request.headers[.xRequestID].flatMap { Self.isSane($0) ? $0 : nil } ?? ids.next()
        context.requestID = id
        var response = try await RequestLogScope.$current.withValue(RequestLogScope(requestID: id)) {
            if let loop = context.channel?.eventLoop {
                return try await withTaskExecutorPreference(executors.executor(for: loop)) {
                    try await next(request, context)
                }
            }
            return try await next(request, context)
        }
        response.headers[.xRequestID] = id
        return response
    }

    static func isSane(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }
}

/// Request ids `req_` + 32 lowercase hex digits: 12 of Unix milliseconds (so ids sort by
/// time, like the UUIDv7 they replaced), 10 drawn at random once per generator, 10 of a
/// counter. Unique within a process by the counter and, with 40 random bits per process,
/// across instances; made without a syscall, a `UUID` or Foundation string formatting.
/// Request ids name requests in logs; they are not secrets and need not be unguessable.
final class RequestIDGenerator: Sendable {
    private let instance: UInt64
    private let counter = Atomic<UInt64>(0)

    init() {
        var random = SystemRandomNumberGenerator()
        instance = random.next() & 0xFF_FFFF_FFFF
    }

    func next() -> String {
        let count = counter.add(1, ordering: .relaxed).newValue & 0xFF_FFFF_FFFF
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let millis = (UInt64(now.tv_sec) &* 1000 &+ UInt64(now.tv_nsec / 1_000_000)) & 0xFFFF_FFFF_FFFF
        return String(unsafeUninitializedCapacity: 36) { buffer in
            buffer[0] = UInt8(ascii: "r")
            buffer[1] = UInt8(ascii: "e")
            buffer[2] = UInt8(ascii: "q")
            buffer[3] = UInt8(ascii: "_")
            ASCIIDigits.hex(millis, digits: 12, into: buffer, at: 4)
            ASCIIDigits.hex(instance, digits: 10, into: buffer, at: 16)
            ASCIIDigits.hex(count, digits: 10, into: buffer, at: 26)
            return 36
        }
    }
}

extension HTTPField.Name {
    public static let link = Self("Link")!
}
