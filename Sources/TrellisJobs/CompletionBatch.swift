import Foundation
import NIOConcurrencyHelpers

/// Records completed attempts in batches, as a database "group commit" does: the first job to
/// complete while no batch is being written writes every completion that arrives until none is
/// left; the others only add theirs and return. An idle worker writes each completion at once
/// (a batch of one); a busy one writes many per round trip.
final class CompletionBatch: Sendable {
    struct Completion: Sendable {
        var id: UUID
        /// JSON text, or empty for none.
        var result: String
    }

    private struct State {
        var pending: [Completion] = []
        var writing = false
    }

    private let state = NIOLockedValueBox(State())
    /// The most completions one write takes.
    let limit: Int

    init(limit: Int = 1000) {
        self.limit = limit
    }

    /// Adds `completion`; when no batch is being written, writes batches with `write` until
    /// none is left.
    func add(_ completion: Completion, write: ([Completion]) async -> Void) async {
        let writes = state.withLockedValue { state -> Bool in
            state.pending.append(completion)
            if state.writing { return false }
            state.writing = true
            return true
        }
        guard writes else { return }
        while true {
            let batch: [Completion] = state.withLockedValue { state in
                guard !state.pending.isEmpty else {
                    state.writing = false
                    return []
                }
                let taken = Array(state.pending.prefix(limit))
                state.pending.removeFirst(taken.count)
                return taken
            }
            if batch.isEmpty { return }
            await write(batch)
        }
    }
}
