import Hummingbird

/// Every `/v1` request has a deadline (DESIGN.md §6, ``Timeouts/request``): past it, whatever
/// the handler waits for (the workspace gate, a pooled connection, a query, a pipelined read)
/// gives up, and the client gets a 503 problem with `Retry-After`. Whatever the handler had not
/// committed is rolled back. The deadline is a task-local (``RequestDeadline``) that each wait
/// honours, not a child task per request.
struct RequestDeadlineMiddleware: RouterMiddleware {
    typealias Context = TrellisRequestContext

    let timeout: Duration

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try await RequestDeadline.$current.withValue(RequestDeadline(timeout: timeout)) {
            try await next(request, context)
        }
    }
}
