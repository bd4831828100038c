import Hummingbird

/// Every `/v1` request has a deadline (DESIGN.md §6, ``Timeouts/request``): past it, the
/// handler's task is cancelled (a pool wait or a query in flight stops) and the client gets
/// a 503 problem with `Retry-After`. Whatever the handler had not committed is rolled back.
struct RequestDeadlineMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let timeout = timeout
        return try await withDeadline(timeout, onTimeout: { Problem.deadlineExceeded(timeout) }) { _ in
            try await next(request, context)
        }
    }
}
