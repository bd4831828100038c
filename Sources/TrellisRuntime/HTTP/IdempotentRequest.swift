import Foundation
import HTTPTypes
import Hummingbird

/// A `POST` that honours `Idempotency-Key` (DESIGN.md §5): resource creates and job enqueues
/// share this, so the key means the same everywhere. Without a key the operation simply runs.
/// With one, the key is claimed in the operation's own transaction; a repeat with the same body
/// replays the first answer byte for byte (`Idempotent-Replayed: true`), a repeat with another
/// body is a 422, and a refusal below 500 is kept and replayed like a success.
struct IdempotentRequest {
    let key: String?

    /// Reads and checks the request's `Idempotency-Key`, before its body is read.
    init(_ headers: HTTPFields) throws {
        key = try headers[.idempotencyKey].map(IdempotencyKeys.validate)
    }

    private enum Outcome<Value: Sendable>: Sendable {
        case ran(Value)
        case refused(Problem)
        case replayed(IdempotencyKeys.StoredResponse)
    }

    /// Runs `operation` in one tenant transaction for `identity`, once per key: returns its
    /// value, or the earlier answer to send again. `stored` gives the response to keep for the
    /// key (called only when there is one).
    func run<Value: Sendable>(
        _ request: Request, body: JSONValue, context: TrellisRequestContext, services: TrellisServices, as identity: Identity,
        stored: (Value) -> IdempotencyKeys.StoredResponse,
        _ operation: (TenantTransaction) async throws -> Value
    ) async throws -> Result<Value, Replay> {
        guard let key else {
            return .success(try await context.transaction(request, on: services, as: identity, operation))
        }
        let fingerprint = IdempotencyKeys.fingerprint(method: "POST", path: request.uri.path, body: body)
        let requestID = context.requestID
        let outcome: Outcome<Value> = try await context.transaction(request, on: services, as: identity) { tx in
            switch try await IdempotencyKeys.claim(key, fingerprint: fingerprint, in: tx) {
            case .reused:
                throw IdempotencyKeys.reusedProblem
            case let .replay(stored):
                return .replayed(stored)
            case .claimed:
                do {
                    let value = try await tx.savepoint { try await operation(tx) }
                    try await IdempotencyKeys.store(stored(value), for: key, in: tx)
                    return .ran(value)
                } catch let problem as Problem where problem.status.code < 500 {
                    // The operation ran and was refused (409, 422): that answer is kept too.
                    try await IdempotencyKeys.store(
                        .init(status: Int(problem.status.code), location: nil, body: problem.json(requestID: requestID)), for: key, in: tx)
                    return .refused(problem)
                }
            }
        }
        switch outcome {
        case let .ran(value): return .success(value)
        case let .refused(problem): throw problem
        case let .replayed(stored): return .failure(Replay(stored: stored))
        }
    }

    /// A stored answer to send again.
    struct Replay: Error {
        let stored: IdempotencyKeys.StoredResponse

        var response: Response {
            var headers = HTTPFields()
            headers[.contentType] = stored.status >= 400 ? "application/problem+json" : "application/json"
            headers[.idempotentReplayed] = "true"
            if let location = stored.location { headers[.location] = location }
            return Response(
                status: HTTPResponse.Status(code: stored.status), headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: stored.body)))
        }
    }
}
