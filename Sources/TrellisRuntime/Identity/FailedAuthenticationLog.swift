import Foundation
import NIOConcurrencyHelpers

/// Bounds what a flood of bad credentials costs the audit log: at most one audit row per
/// source (the API key id a token named, or else the client IP) per ``window``. Further
/// failures in the window are counted, and the count is written with the source's next row
/// or by ``takeSuppressed(now:)``, which the refresher calls every few seconds.
public final class FailedAuthenticationLog: Sendable {
    /// One row per source per this long.
    public static let window: Duration = .seconds(10)
    /// Sources remembered at once; past it, new sources share one overflow count.
    public static let capacity = 10_000

    /// Who failed, as far as the request says.
    public struct Source: Hashable, Sendable {
        public var keyID: UUID?
        public var ip: String?
    }

    /// A count of failures not written yet.
    public struct Suppressed: Sendable, Equatable {
        public var source: Source
        /// The first failure's reason (`various` for the overflow count).
        public var reason: String
        public var attempts: Int
    }

    private struct Entry {
        var windowStart: ContinuousClock.Instant
        var reason: AuthenticationFailure.Reason
        var suppressed: Int
    }

    private struct State {
        var entries: [Source: Entry] = [:]
        var overflow = 0
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// Whether this failure gets its own audit row now, and how many earlier failures of
    /// the same source that row also stands for.
    func admit(_ source: Source, reason: AuthenticationFailure.Reason, now: ContinuousClock.Instant = .now) -> (record: Bool, earlier: Int) {
        state.withLockedValue { state in
            if var entry = state.entries[source] {
                if now - entry.windowStart < Self.window {
                    entry.suppressed += 1
                    state.entries[source] = entry
                    return (false, 0)
                }
                state.entries[source] = Entry(windowStart: now, reason: reason, suppressed: 0)
                return (true, entry.suppressed)
            }
            if state.entries.count >= Self.capacity {
                state.entries = state.entries.filter { now - $0.value.windowStart < Self.window || $0.value.suppressed > 0 }
                if state.entries.count >= Self.capacity {
                    state.overflow += 1
                    return (false, 0)
                }
            }
            state.entries[source] = Entry(windowStart: now, reason: reason, suppressed: 0)
            return (true, 0)
        }
    }

    /// The counts of sources whose window has ended (and the overflow count, as a source
    /// with neither key nor IP), forgetting those sources.
    func takeSuppressed(now: ContinuousClock.Instant = .now) -> [Suppressed] {
        state.withLockedValue { state in
            var out: [Suppressed] = []
            for (source, entry) in state.entries where now - entry.windowStart >= Self.window {
                if entry.suppressed > 0 { out.append(Suppressed(source: source, reason: entry.reason.rawValue, attempts: entry.suppressed)) }
                state.entries[source] = nil
            }
            if state.overflow > 0 {
                out.append(Suppressed(source: Source(keyID: nil, ip: nil), reason: "various", attempts: state.overflow))
                state.overflow = 0
            }
            return out
        }
    }
}
