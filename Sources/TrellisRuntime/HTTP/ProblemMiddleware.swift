import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import TrellisContract
import TrellisTracing

/// The one boundary where errors become RFC 9457 responses. A ``Problem`` is sent as is;
/// Hummingbird's own errors keep their status; anything else is logged with the request
/// id and answered with a bare 500 that leaks nothing. A problem whose code and status are not
/// in the shared ``ProblemCatalogue`` (so not in the document) is logged as a warning.
public struct ProblemMiddleware: RouterMiddleware {
    public typealias Context = TrellisRequestContext

    /// Counts every problem sent, by code (nil: not counted).
    let problems: LabelledCounters?
    /// Where every 5xx is recorded for error tracking (nil: not recorded).
    let errors: ErrorTracker?

    public init() {
        problems = nil
        errors = nil
    }

    init(problems: LabelledCounters, errors: ErrorTracker?) {
        self.problems = problems
        self.errors = errors
    }

    public func handle(
        _ request: Request, context: Context, next: (Request, Context) async throws -> Response
    ) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let problem = Self.problem(for: error, logger: context.logger)
            problems?.increment(problem.code)
            if problem.status.code >= 500, let errors {
                // The signature of what was thrown (a PSQLError's SQLSTATE and query site), not of the problem it became.
                errors.record(ErrorOccurrence(
                    kind: .request, signature: ErrorSignature(error), location: context.endpointPath ?? "NotFound",
                    requestID: context.requestID, traceID: Traced.traceID))
            }
            if ProblemCatalogue.kind(code: problem.code)?.status != Int(problem.status.code) {
                // The OpenAPI document lists only catalogued problems: this one is undocumented.
                context.logger.warning("problem outside the catalogue", metadata: ["code": "\(problem.code)", "status": "\(problem.status.code)"])
            }
            return Self.response(problem, requestID: context.requestID, traceID: Traced.traceID)
        }
    }

    static func problem(for error: any Error, logger: Logger) -> Problem {
        switch error {
        case let problem as Problem:
            return problem
        case let http as HTTPError:
            // Hummingbird's own errors: an unknown path (404), an over-long body (413), …
            guard let kind = ProblemCatalogue.generic(status: Int(http.status.code)) else {
                return Problem(
                    uncatalogued: http.status, code: http.status.reasonPhrase.lowercased().replacingOccurrences(of: " ", with: "_"),
                    title: http.status.reasonPhrase, detail: http.body, headers: http.headers)
            }
            return Problem(kind, detail: http.body, headers: http.headers)
        case is CancellationError:
            return .serviceUnavailable("The request was cancelled")
        default:
            if let failure = DatabaseFailure(error) {
                return unavailableOrInternal(sqlState: failure.sqlState, failure.description, logger: logger)
            }
            logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            return .internalError
        }
    }

    /// Connection failures, and a server that ended the session (SQLSTATE class 08, or 57P:
    /// shut down, terminated, restarting), are 503 with Retry-After: retrying is safe because
    /// nothing of the transaction committed. So are the limits of ``Timeouts``: a statement
    /// cancelled by `statement_timeout` (57014) and a lock not granted within `lock_timeout`
    /// (55P03), and a transaction Postgres rolled back to break a deadlock or a serialization
    /// conflict (class 40): nothing of it committed, and the same request may well succeed
    /// next time. A data exception (class 22) left to this boundary is a 422. Anything else is a 500.
    /// (``TenantTransaction`` throws the statement's own error, never a wrapper.) `sqlState` is
    /// nil when no server answered (a connection failure), `described` what is logged.
    static func unavailableOrInternal(sqlState: String?, _ described: @autoclosure () -> String, logger: Logger) -> Problem {
        if sqlState == nil || sqlState?.hasPrefix("08") == true || sqlState?.hasPrefix("57P") == true {
            logger.error("database unavailable", metadata: ["error": "\(described())"])
            return .serviceUnavailable("The database is unavailable; try again shortly")
        }
        if sqlState == "57014" || sqlState == "55P03" || sqlState?.hasPrefix("40") == true {
            logger.warning("database limit reached", metadata: ["sqlstate": "\(sqlState ?? "")"])
            return .serviceUnavailable("The database did not finish this request in time; try again shortly")
        }
        if sqlState?.hasPrefix("22") == true {
            // A data exception (a value out of range or malformed for its type) comes from a
            // value the client sent; routes that know which one answer with its path first.
            logger.info("client value refused by the database", metadata: ["error": "\(described())"])
            return Problem(ProblemCatalogue.validationFailed, detail: "A value in the request is out of range or malformed for its type")
        }
        logger.error("database error", metadata: ["error": "\(described())"])
        return .internalError
    }

    /// `traceID`: the request's trace, sent in a 5xx body (nil: not traced).
    public static func response(_ problem: Problem, requestID: String, traceID: String? = nil) -> Response {
        var headers = problem.headers
        headers[.contentType] = "application/problem+json"
        headers[.xRequestID] = requestID
        let body = ByteBuffer(bytes: problem.json(requestID: requestID, traceID: traceID))
        return Response(status: problem.status, headers: headers, body: .init(byteBuffer: body))
    }
}
