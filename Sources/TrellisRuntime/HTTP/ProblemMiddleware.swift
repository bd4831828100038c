import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import PostgresNIO

/// The one boundary where errors become RFC 9457 responses. A ``Problem`` is sent as is;
/// Hummingbird's own errors keep their status; anything else is logged with the request
/// id and answered with a bare 500 that leaks nothing.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = TrellisRequestContext

    /// Counts every problem sent, by code (nil: not counted).
    let problems: LabelledCounters?

    public init() { problems = nil }

    init(problems: LabelledCounters) { self.problems = problems }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error, logger: context.logger)
            problems?.increment(problem.code)
            return Self.response(problem, requestID: context.requestID)
        }
    }

    static func problem(for error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let http as HTTPError:
            return Problem(
                status: http.status, code: code(for: http.status), title: http.status.reasonPhrase,
                detail: http.body, headers: http.headers)
        case let psql as PSQLError:
            return unavailableOrInternal(psql, logger: logger)
        case is CancellationError:
            return .serviceUnavailable("The request was cancelled")
        default:
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    /// Connection failures, and a server that ended the session (SQLSTATE class 08, or 57P:
    /// shut down, terminated, restarting), are 503 with Retry-After: retrying is safe because
    /// nothing of the transaction committed. Anything else from Postgres is a 500.
    /// (``TenantTransaction`` throws the statement's own error, never a wrapper.)
    static func unavailableOrInternal(_ psql: PSQLError, logger: Logger) -> Problem {
        let sqlState = psql.serverInfo?[.sqlState]
        if psql.serverInfo == nil || sqlState?.hasPrefix("08") == true || sqlState?.hasPrefix("57P") == true {
            logger.error("database unavailable", metadata: ["error": "\(String(reflecting: psql))"])
            return .serviceUnavailable("The database is unavailable; try again shortly")
        }
        logger.error("database error", metadata: ["error": "\(String(reflecting: psql))"])
        return .internalError
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status {
        case .notFound: "not_found"
        case .methodNotAllowed: "method_not_allowed"
        case .contentTooLarge: "payload_too_large"
        case .badRequest: "bad_request"
        case .unauthorized: "unauthenticated"
        case .forbidden: "forbidden"
        default: status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_")
        }
    }

    public static func response(_ problem: Problem, requestID: String) -> Response {
        var headers = problem.headers
        headers[.contentType] = "application/problem+json"
        headers[.xRequestID] = requestID
        let body = ByteBuffer(bytes: problem.json(requestID: requestID))
        return Response(status: problem.status, headers: headers, body: .init(byteBuffer: body))
    }
}
