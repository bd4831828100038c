import Foundation
import NIOConcurrencyHelpers

/// Completed attempts not yet recorded. A job that completes adds itself here and tells its
/// queue loop, which records every pending completion with its next claim (one statement,
/// `trellis_jobs_complete_and_claim`) or, when it has no room to claim, on its own: a busy
/// queue records a batch of completions per round trip, an idle one each at once.
final class PendingCompletions: Sendable {
    struct Completion: Sendable {
        var id: UUID
        /// JSON text, or empty for none.
        var result: String
        /// Writes of it that failed so far.
        var failedWrites = 0
    }

    /// Writes a completion may fail before it is given up (its lease then expires and the job
    /// runs again, as after a lost worker).
    static let maxFailedWrites = 3

    private let pending = NIOLockedValueBox<[Completion]>([])
    /// The most completions one write takes.
    let limit: Int

    init(limit: Int = 1000) {
        self.limit = limit
    }

    func add(_ completion: Completion) {
        pending.withLockedValue { $0.append(completion) }
    }

    /// Up to ``limit`` of the pending completions, oldest first, no longer pending.
    func take() -> [Completion] {
        pending.withLockedValue { pending in
            let taken = Array(pending.prefix(limit))
            pending.removeFirst(taken.count)
            return taken
        }
    }

    /// Completions whose write failed, pending again; those that failed too often are returned
    /// instead (given up).
    func writeFailed(_ completions: [Completion]) -> [Completion] {
        var retry: [Completion] = [], givenUp: [Completion] = []
        for var completion in completions {
            completion.failedWrites += 1
            if completion.failedWrites < Self.maxFailedWrites { retry.append(completion) } else { givenUp.append(completion) }
        }
        pending.withLockedValue { $0.insert(contentsOf: retry, at: 0) }
        return givenUp
    }
}
