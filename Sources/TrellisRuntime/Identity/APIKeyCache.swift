import Foundation
import NIOConcurrencyHelpers

/// This instance's memory of verified API keys, so a key is looked up in Postgres at most
/// once per ``entryLifetime`` instead of on every request.
///
/// Revocation must still reach every instance within one second. ``APIKeyCacheRefresher``
/// asks Postgres every 250 ms which keys changed recently and evicts them; an entry is
/// trusted only while the last successful poll *started* less than ``trustWindow`` ago, so
/// a stalled poller (or none at all) makes every request verify against the database.
public final class APIKeyCache: Sendable {
    /// What a successful lookup proved about a key.
    struct Entry: Sendable {
        var workspaceID: UUID
        var secretHash: [UInt8]
        var scopes: ScopeSet
        var expiresAt: Date?
        var rateLimit: RateLimitPolicy? = nil
        var loadedAt: ContinuousClock.Instant
    }

    public static let pollInterval: Duration = .milliseconds(250)
    /// How far before the previous poll's mark each poll looks: covers a change whose
    /// commit-time stamp precedes the poll but which became visible just after it.
    static let pollOverlap: Duration = .seconds(2)
    static let trustWindow: Duration = .milliseconds(750)
    static let entryLifetime: Duration = .seconds(30)

    private struct State {
        var entries: [UUID: Entry] = [:]
        /// Bumped by every eviction; a lookup that began before one may not fill the cache.
        var generation: UInt64 = 0
        var lastPollStart: ContinuousClock.Instant?
        /// Keys used since the last flush of `last_used_at`.
        var used: Set<UUID> = []
        /// Key ids Postgres did not know, and when it said so: a flood of made-up ids costs
        /// one lookup each per ``unknownLifetime``, not one per request.
        var unknown: [UUID: ContinuousClock.Instant] = [:]
    }

    static let unknownLifetime: Duration = .seconds(60)
    static let unknownCapacity = 10_000

    private let state = NIOLockedValueBox(State())

    public init() {}

    /// The cached entry, if it may be trusted now.
    func trustedEntry(_ id: UUID, now: ContinuousClock.Instant = .now) -> Entry? {
        state.withLockedValue { state in
            guard let polled = state.lastPollStart, now - polled < Self.trustWindow,
                let entry = state.entries[id], now - entry.loadedAt < Self.entryLifetime
            else { return nil }
            return entry
        }
    }

    var generation: UInt64 { state.withLockedValue { $0.generation } }

    /// Remembers a lookup unless an eviction happened since it began.
    func insert(_ id: UUID, _ entry: Entry, lookedUpAt generation: UInt64) {
        state.withLockedValue { state in
            if state.generation == generation { state.entries[id] = entry }
        }
    }

    /// Applies one poll: drops the changed keys, then records when the poll started.
    func applyPoll(changed: [UUID], startedAt: ContinuousClock.Instant) {
        state.withLockedValue { state in
            if !changed.isEmpty {
                state.generation &+= 1
                for id in changed {
                    state.entries[id] = nil
                    state.unknown[id] = nil
                }
            }
            state.lastPollStart = startedAt
        }
    }

    /// Drops one key at once (revoked or rotated by this instance).
    public func evict(_ id: UUID) {
        state.withLockedValue { state in
            state.generation &+= 1
            state.entries[id] = nil
            state.unknown[id] = nil
        }
    }

    /// True when Postgres said recently that no key has this id.
    func isKnownUnknown(_ id: UUID, now: ContinuousClock.Instant = .now) -> Bool {
        state.withLockedValue { state in
            guard let since = state.unknown[id] else { return false }
            return now - since < Self.unknownLifetime
        }
    }

    /// Remembers a miss, unless a key changed since the lookup began (it may be this one).
    func rememberUnknown(_ id: UUID, lookedUpAt generation: UInt64, now: ContinuousClock.Instant = .now) {
        state.withLockedValue { state in
            guard state.generation == generation else { return }
            if state.unknown.count >= Self.unknownCapacity {
                state.unknown = state.unknown.filter { now - $0.value < Self.unknownLifetime }
                if state.unknown.count >= Self.unknownCapacity { state.unknown.removeAll(keepingCapacity: true) }
            }
            state.unknown[id] = now
        }
    }

    func recordUse(_ id: UUID) {
        _ = state.withLockedValue { $0.used.insert(id) }
    }

    /// The keys used since the last call.
    func takeUsed() -> [UUID] {
        state.withLockedValue { state in
            defer { state.used.removeAll(keepingCapacity: true) }
            return Array(state.used)
        }
    }
}
