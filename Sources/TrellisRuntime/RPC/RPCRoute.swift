import HTTPTypes
import Hummingbird
import NIOCore
import TrellisContract

extension HTTPField.Name {
    /// `Trellis-Atomic: true` runs a whole JSON-RPC batch in one transaction.
    public static let trellisAtomic = Self("Trellis-Atomic")!
}

/// `POST /v1/rpc`: JSON-RPC 2.0 over the same service calls as REST (DESIGN.md §5, §5.1).
/// A single call is answered with its response object, a batch with an array of them in the
/// calls' order (notifications, calls without an `id`, run but get no entry; a request with no
/// answer at all is a 204). Every answer is HTTP 200, but for the transport's own failures,
/// which are problems as on every route: a missing or refused credential (401, before this
/// handler), a body over the limit (413) or not sent as JSON (415).
///
/// Calls of a batch run one after the other, each on its own. With `Trellis-Atomic: true`
/// they share one transaction instead: the first failure stops the batch and rolls back
/// every call, and every entry reports that failure (`data.failed_call` is its index).
struct RPCRoute: Sendable {
    let services: TrellisServices
    let methods: [String: RPCMethod]
    /// The most calls one batch may hold (`api.yaml` `limits.rpc_batch`).
    let maxBatch: Int

    /// `methods` are the resources' (``ResourceRPC``); `rpc.discover` answers `openRPC`, the
    /// generated OpenRPC document, to any caller the endpoint lets in.
    init(services: TrellisServices, methods: [(String, RPCMethod)], maxBatch: Int, openRPC: String) {
        self.services = services
        var table = Dictionary(methods, uniquingKeysWith: { first, _ in first })
        let document = RawJSON(Array(openRPC.utf8))
        table["rpc.discover"] = RPCMethod { _, _ in document }
        self.methods = table
        self.maxBatch = maxBatch
    }

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post(RouterPath(ProtocolEndpoint.jsonRPC.path), use: handle)
    }

    /// One entry of the answer: a result to write, or an error; nil for a notification.
    private enum Outcome: Sendable {
        case result(JSONRPCCall.ID, any JSONWritable)
        case failure(JSONRPCFailure)
    }

    @Sendable func handle(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let body: JSONValue
        do {
            body = try await JSONBody.read(request, limit: services.maxBodySize, mediaTypes: ["application/json"])
        } catch let problem as Problem where problem.code == ProblemCatalogue.malformedJSON.code {
            return answer(.single(.failure(.init(.parseError, detail: problem.detail ?? "The body is not valid JSON", id: .null))), context)
        }
        guard case let .array(entries) = body else {
            return answer(.single(await run(JSONRPCCall.parse(body), request, context, transaction: nil)), context)
        }
        guard !entries.isEmpty else {
            return answer(.single(.failure(.init(.invalidRequest, detail: "A batch must hold at least one call", id: .null))), context)
        }
        guard entries.count <= maxBatch else {
            return answer(.single(.failure(.init(
                .invalidRequest, detail: "A batch may hold at most \(maxBatch) calls; this one holds \(entries.count)", id: .null))),
                context)
        }
        let calls = entries.map(JSONRPCCall.parse)
        if request.headers[.trellisAtomic]?.lowercased() == "true" {
            return answer(.batch(try await runAtomically(calls, request, context)), context)
        }
        var outcomes: [Outcome?] = []
        outcomes.reserveCapacity(calls.count)
        for call in calls { outcomes.append(await run(call, request, context, transaction: nil)) }
        return answer(.batch(outcomes), context)
    }

    /// Runs one parsed call; nil when it was a notification.
    private func run(
        _ parsed: Result<JSONRPCCall, JSONRPCFailure>, _ request: Request, _ context: TrellisRequestContext,
        transaction: TenantTransaction?
    ) async -> Outcome? {
        switch parsed {
        case let .failure(failure):
            return failure.isNotification ? nil : .failure(failure)
        case let .success(call):
            do {
                let result = try await invoke(call, request, context, transaction: transaction)
                return call.id.map { .result($0, result) }
            } catch {
                return call.id == nil ? nil : .failure(failure(error, call: call, context))
            }
        }
    }

    private func invoke(
        _ call: JSONRPCCall, _ request: Request, _ context: TrellisRequestContext, transaction: TenantTransaction?
    ) async throws -> any JSONWritable {
        guard let method = methods[call.method] else {
            throw JSONRPCFailure(
                .methodNotFound, detail: "No method \"\(call.method.count > 100 ? call.method.prefix(100) + "…" : call.method)\"",
                id: call.id ?? .null, isNotification: call.id == nil)
        }
        return try await method.run(
            call.params, RPCInvocation(request: request, context: context, services: services, transaction: transaction))
    }

    /// Every call in one transaction; the first failure rolls them all back.
    private func runAtomically(
        _ calls: [Result<JSONRPCCall, JSONRPCFailure>], _ request: Request, _ context: TrellisRequestContext
    ) async throws -> [Outcome?] {
        // An invalid entry fails the batch before anything runs.
        if let index = calls.firstIndex(where: { if case .failure = $0 { true } else { false } }),
            case let .failure(failure) = calls[index]
        {
            return everyEntry(reporting: failure, at: index, calls)
        }
        guard let identity = context.identity else {
            throw Problem.unauthenticated("This API needs a bearer credential", challenge: "Bearer")
        }
        struct BatchFailed: Error { var index: Int; var failure: JSONRPCFailure }
        do {
            return try await context.transaction(request, on: services, as: identity) { transaction in
                var outcomes: [Outcome?] = []
                for (index, parsed) in calls.enumerated() {
                    guard case let .success(call) = parsed else { continue }
                    do {
                        let result = try await invoke(call, request, context, transaction: transaction)
                        outcomes.append(call.id.map { .result($0, result) })
                    } catch {
                        // Thrown out of the transaction, whatever it was, so it rolls back.
                        throw BatchFailed(index: index, failure: failure(error, call: call, context))
                    }
                }
                return outcomes
            }
        } catch let failed as BatchFailed {
            return everyEntry(reporting: failed.failure, at: failed.index, calls)
        }
    }

    /// The answer of an atomic batch that failed at `index`: every call with an id gets the
    /// failure, with `data.failed_call`.
    private func everyEntry(
        reporting failure: JSONRPCFailure, at index: Int, _ calls: [Result<JSONRPCCall, JSONRPCFailure>]
    ) -> [Outcome?] {
        calls.map { parsed in
            let id: JSONRPCCall.ID?
            switch parsed {
            case let .success(call): id = call.id
            case let .failure(own): id = own.isNotification ? nil : own.id
            }
            guard let id else { return nil }
            var entry = failure
            entry.id = id
            entry.failedCall = index
            return .failure(entry)
        }
    }

    /// The error answer for whatever a call threw: a ``JSONRPCFailure`` as is, a problem by
    /// the shared table, anything else through the problem boundary's own mapping (logged,
    /// and never described to the client).
    private func failure(_ error: any Error, call: JSONRPCCall, _ context: TrellisRequestContext) -> JSONRPCFailure {
        if var failure = error as? JSONRPCFailure {
            failure.id = call.id ?? .null
            return failure
        }
        return JSONRPCFailure(ProblemMiddleware.problem(for: error, logger: context.logger), id: call.id)
    }

    /// A value already written as JSON (the OpenRPC document).
    private struct RawJSON: JSONWritable {
        let bytes: [UInt8]
        init(_ bytes: [UInt8]) { self.bytes = bytes }
        func writeJSON(to w: inout JSONWriter) { w.raw(bytes) }
    }

    private enum Answer {
        case single(Outcome?)
        case batch([Outcome?])
    }

    private func answer(_ answer: Answer, _ context: TrellisRequestContext) -> Response {
        var w = JSONWriter(capacity: 1024)
        func write(_ outcome: Outcome) {
            switch outcome {
            case let .result(id, result):
                w.beginObject()
                w.key("jsonrpc"); w.value("2.0")
                w.key("result"); result.writeJSON(to: &w)
                w.key("id"); id.write(to: &w)
                w.endObject()
            case let .failure(failure):
                failure.write(to: &w, requestID: context.requestID)
            }
        }
        switch answer {
        case let .single(outcome):
            guard let outcome else { return Response(status: .noContent) }
            write(outcome)
        case let .batch(outcomes):
            let answered = outcomes.compactMap { $0 }
            guard !answered.isEmpty else { return Response(status: .noContent) }
            w.beginArray()
            for outcome in answered { write(outcome) }
            w.endArray()
        }
        return JSONResponse.make(.ok, w.bytes)
    }
}
