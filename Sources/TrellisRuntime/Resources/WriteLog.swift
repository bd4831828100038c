import Synchronization

/// What one transaction wrote, for the work that follows its commit: the tables, for
/// ``ReadCache/invalidate(workspace:writes:)``, and whether it left events in the outbox, to
/// wake the ``EventRelay``. Service calls record each write once its statement succeeded; the
/// record is kept even if the transaction then fails, because a failed COMMIT may still have
/// committed.
public final class WriteLog: Sendable {
    private let written = Mutex<[String: Bool]>([:])
    private let eventCount = Atomic<Int>(0)
    /// Whether writes of resources with `events: true` leave an event in the outbox: only
    /// where a relay publishes them (``TrellisServices/eventRelay``), so that an outbox no
    /// relay drains cannot grow.
    public let recordsEvents: Bool

    public init(recordsEvents: Bool = false) {
        self.recordsEvents = recordsEvents
    }

    /// Records a write to `table`; `deleting` when rows were deleted (their dependents change too).
    public func record(_ table: String, deleting: Bool) {
        written.withLock { $0[table] = ($0[table] ?? false) || deleting }
    }

    /// Records an event written to the outbox.
    public func recordEvent() {
        eventCount.add(1, ordering: .relaxed)
    }

    public var isEmpty: Bool { written.withLock { $0.isEmpty } }

    /// Events this transaction wrote to the outbox.
    public var events: Int { eventCount.load(ordering: .relaxed) }

    func tables(expandingDeletesWith dependents: [String: Set<String>]) -> Set<String> {
        written.withLock { written in
            var tables = Set(written.keys)
            for (table, deleted) in written where deleted {
                tables.formUnion(dependents[table] ?? [])
            }
            return tables
        }
    }
}
