import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Reads a request body as JSON with the API's size limit and media-type rules.
enum JSONBody {
    static func read(_ request: Request, limit: Int, mediaTypes: [String]) async throws -> JSONValue {
        let contentType = request.headers[.contentType]?
            .split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased() ?? ""
        guard mediaTypes.contains(contentType) else {
            throw Problem.unsupportedMediaType(expected: mediaTypes)
        }
        if let length = request.headers[.contentLength].flatMap({ Int($0) }), length > limit {
            throw Problem.payloadTooLarge(limit: limit)
        }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw Problem.payloadTooLarge(limit: limit)
        }
        do {
            return try JSONValue(parsing: buffer.readableBytesView)
        } catch {
            throw Problem.malformedJSON("The body is not valid JSON: \(error.description)")
        }
    }
}

/// JSON responses written with ``JSONWriter``.
enum JSONResponse {
    static func make(_ status: HTTPResponse.Status, _ bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        make(status, ByteBuffer(bytes: bytes), headers: headers)
    }

    static func make(_ status: HTTPResponse.Status, _ body: ByteBuffer, headers: HTTPFields = [:]) -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        return Response(status: status, headers: headers, body: .init(byteBuffer: body))
    }
}

extension TrellisRequestContext {
    /// The UUID in path parameter `name`; anything else names no such `what` (a 404, as an
    /// unknown id is: docs/deviations.md).
    func pathID(_ name: String, naming what: String) throws -> UUID {
        guard let text = parameters.get(name), let id = UUID(hyphenated: text) else {
            throw Problem.notFound("No \(what) with id \(parameters.get(name)?.prefix(64) ?? "")")
        }
        return id
    }
}
