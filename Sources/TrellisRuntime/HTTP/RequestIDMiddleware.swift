import HTTPTypes
import Foundation
import Hummingbird

extension HTTPField.Name {
    public static let xRequestID = Self("X-Request-ID")!
}

/// Assigns the request id (client's if sane: 1–128 of `[A-Za-z0-9._-]`), puts it in the
/// logger metadata and on every response, including error responses.
public struct RequestIDMiddleware: RouterMiddleware {
    public typealias Context = TrellisRequestContext

    public init() {}

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        var context = context
        let id = request.headers[.xRequestID].flatMap { Self.isSane($0) ? $0 : nil } ?? Self.generate()
        context.requestID = id
        context.logger[metadataKey: "request_id"] = .string(id)
        var response = try await next(request, context)
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

    static func generate() -> String {
        "req_" + UUID.v7().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
    }
}

extension HTTPField.Name {
    public static let link = Self("Link")!
}
