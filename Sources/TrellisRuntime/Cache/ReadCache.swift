import Foundation
import Logging
import Synchronization
import TrellisRedis

/// Cache-aside in Redis for `get` and `list` answers, shared by every instance, with the
/// guarantee of DESIGN.md §6: a read that starts after a write has returned never sees data
/// older than that write, from any instance.
///
/// How the guarantee holds:
/// - Each (workspace, table) has a generation in Redis. Every write through Trellis moves it
///   forward after its transaction commits and before the write's response is sent
///   (``invalidate(workspace:writes:)``).
/// - An entry records the generation that was current *before* its rows were read. A read
///   serves an entry only if that generation is still the current one; so the entry's rows
///   were read after every write that had returned when the read began.
/// - Generations only grow, even if Redis evicts or loses the key: a new value is
///   `max(old + 1, Redis's clock in µs)`, so no later generation repeats an earlier one.
/// - If a generation cannot be moved (Redis unreachable at that moment), this instance
///   reads that (workspace, table) from Postgres until a retry succeeds.
///
/// Misses of one key on one instance collapse into one Postgres read (``SingleFlight``; the
/// read first checks whether a read that just finished stored the entry); an
/// entry past its TTL but within stale-while-revalidate is served while one background read
/// replaces it. Whenever Redis fails (unreachable, a timeout, an error reply), the read goes
/// to Postgres and the request never sees the failure.
public final class ReadCache: Sendable {
    /// `KEYS`: generation keys of one workspace. Moves each to `max(old + 1, now in µs)` on
    /// Redis's clock. `%.0f`, because `tostring` would print 1.8e+15.
    static let bumpScript = RedisScript(
        """
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
        for _, key in ipairs(KEYS) do
          local next = (tonumber(redis.call('GET', key) or '') or 0) + 1
          if next < now then next = now end
          redis.call('SET', key, string.format('%.0f', next))
        end
        return #KEYS
        """
    )

    /// `KEYS[1]`: a generation key that has no value (never written, or evicted). Sets it to
    /// the time in µs unless a value appeared meanwhile; returns the value now held.
    static let startScript = RedisScript(
        """
        local held = redis.call('GET', KEYS[1])
        if held then return held end
        local clock = redis.call('TIME')
        local now = string.format('%.0f', tonumber(clock[1]) * 1000000 + tonumber(clock[2]))
        redis.call('SET', KEYS[1], now)
        return now
        """
    )

    /// How a read was answered, for `trellis_cache_reads{outcome}`.
    public enum Outcome: String, Sendable, CaseIterable {
        /// A fresh entry of the current generation.
        case hit
        /// An entry past its TTL, within stale-while-revalidate; a background read replaces it.
        case stale
        /// Read from Postgres and stored.
        case miss
        /// A miss that waited for another request's read of the same key, or found the entry
        /// that such a read had just stored.
        case collapsed
        /// Read from Postgres because Redis could not be used.
        case bypass
    }

    public let redis: RedisClient
    /// Table -> the tables whose rows deleting one of its rows can change (`on_delete:
    /// cascade` or `set_null` references to it, followed transitively).
    let dependents: [String: Set<String>]
    /// Tables of resources with a `cache` policy: only their generations are ever read.
    let cachedTables: Set<String>
    private let flights = SingleFlight<CachedBody>()
    /// Generation keys whose move failed: read from Postgres until a retry succeeds.
    private let unconfirmed = Mutex<Set<String>>([])
    private let observe: @Sendable (Outcome) -> Void
    private let logger: Logger

    public init(
        redis: RedisClient, resources: [ResourceDescriptor], logger: Logger,
        observe: @escaping @Sendable (Outcome) -> Void = { _ in }
    ) {
        self.redis = redis
        self.dependents = Self.dependents(of: resources)
        self.cachedTables = Set(resources.filter { $0.cache != nil }.map(\.table))
        self.logger = logger
        self.observe = observe
    }

    /// What Redis holds for a key, found before anything is read from Postgres.
    enum Probe: Sendable {
        /// A fresh entry of the current generation: the answer.
        case fresh(CachedBody)
        /// An entry of the current generation past its TTL, within stale-while-revalidate.
        case stale(CachedBody, generation: [UInt8])
        /// No usable entry; the generation the read must be stored under.
        case missing(generation: [UInt8])
        /// Redis cannot be used for this key: read Postgres.
        case bypass
    }

    /// The answer for `key`: from Redis when an entry of the current generation is there,
    /// otherwise `load()`'s (stored for the next read).
    func read(
        _ key: CacheKey, policy: ReadCachePolicy, load: @escaping @Sendable () async throws -> CachedBody
    ) async throws -> CachedBody {
        let probe = await probe(key, policy: policy)
        if case .fresh(let body) = probe { return body }
        return try await complete(key, policy: policy, probe: probe, load: load)
    }

    /// One `MGET` of the generation and the entry. A caller answers a ``Probe/fresh`` probe
    /// itself and hands any other to ``complete(_:policy:probe:load:)``, so the hot path (a
    /// hit) never builds the closure that would read Postgres.
    func probe(_ key: CacheKey, policy: ReadCachePolicy) async -> Probe {
        guard await confirmed(key.generation) else {
            observe(.bypass)
            return .bypass
        }
        do {
            let reply = try await redis.send(["MGET", .string(key.generation), .string(key.entry)])
            guard case .array(let values) = reply, values.count == 2 else { throw RedisError.protocol("MGET") }
            guard let current = values[0].bytes else {
                guard let started = try await redis.evaluate(Self.startScript, keys: [.string(key.generation)]).bytes else {
                    throw RedisError.protocol("the generation script answered no value")
                }
                return .missing(generation: started)
            }
            if let stored = values[1].bytes, let entry = CacheEntry(decoding: stored), entry.generation == current {
                let age = Self.nowMilliseconds() - entry.storedAtMilliseconds
                if age < policy.ttl.milliseconds {
                    observe(.hit)
                    return .fresh(entry.body)
                }
                if age < policy.lifetime.milliseconds { return .stale(entry.body, generation: current) }
            }
            return .missing(generation: current)
        } catch {
            logger.debug("cache read went to Postgres", metadata: ["error": "\(error)"])
            observe(.bypass)
            return .bypass
        }
    }

    /// The answer for a probe that found no fresh entry: the stale entry (while one background
    /// read replaces it), or `load()`'s, collapsed with this instance's other reads of the key.
    func complete(
        _ key: CacheKey, policy: ReadCachePolicy, probe: Probe, load: @escaping @Sendable () async throws -> CachedBody
    ) async throws -> CachedBody {
        let generation: [UInt8]
        switch probe {
        case let .fresh(body):
            return body
        case .bypass:
            return try await load()
        case let .stale(body, current):
            observe(.stale)
            flights.refresh(key.entry + "@" + String(decoding: current, as: UTF8.self)) { [self] in
                try await fill(key, generation: current, policy: policy, load: load)
            }
            return body
        case let .missing(current):
            generation = current
        }
        var storedMeanwhile = false
        let (body, role) = try await flights.run(key.entry + "@" + String(decoding: generation, as: UTF8.self)) {
            // A read of this key that finished between this request's MGET and now has stored
            // the entry: use it rather than read Postgres again.
            if let stored = try? await redis.send(["GET", .string(key.entry)]).bytes, let entry = CacheEntry(decoding: stored),
                entry.generation == generation
            {
                storedMeanwhile = true
                return entry.body
            }
            return try await fill(key, generation: generation, policy: policy, load: load)
        }
        observe(role == .led && !storedMeanwhile ? .miss : .collapsed)
        return body
    }

    /// Moves the generations of the tables `writes` changed in `workspace` (deletes also move
    /// their dependents'). Call it after the transaction ended and before answering; a
    /// failure is not the writer's: this instance bypasses those entries until a retry works.
    func invalidate(workspace: UUID, writes: WriteLog) async {
        let changed = writes.tables(expandingDeletesWith: dependents).intersection(cachedTables)
        guard !changed.isEmpty else { return }
        let keys = changed.sorted().map { CacheKey.generation(workspace: workspace, table: $0) }
        do {
            _ = try await redis.evaluate(Self.bumpScript, keys: keys.map { .string($0) })
        } catch {
            unconfirmed.withLock { $0.formUnion(keys) }
            logger.warning(
                "could not move cache generations after a write; this instance reads them from Postgres until Redis answers",
                metadata: ["error": "\(error)", "keys": "\(keys.count)"])
        }
    }

    /// Whether `generation` may be used: true unless its last move failed and a retry fails too.
    private func confirmed(_ generation: String) async -> Bool {
        guard unconfirmed.withLock({ !$0.isEmpty && $0.contains(generation) }) else { return true }
        do {
            _ = try await redis.evaluate(Self.bumpScript, keys: [.string(generation)])
            unconfirmed.withLock { _ = $0.remove(generation) }
            return true
        } catch {
            return false
        }
    }

    /// Reads through `load` and stores the answer under `generation` (read before `load` ran).
    private func fill(
        _ key: CacheKey, generation: [UInt8], policy: ReadCachePolicy, load: () async throws -> CachedBody
    ) async throws -> CachedBody {
        let body = try await load()
        let entry = CacheEntry(generation: generation, storedAtMilliseconds: Self.nowMilliseconds(), body: body)
        do {
            _ = try await redis.send([
                "SET", .string(key.entry), .bytes(entry.encoded()), "PX", .integer(policy.lifetime.milliseconds),
            ])
        } catch {
            logger.debug("could not store a cache entry", metadata: ["error": "\(error)"])
        }
        return body
    }

    private static func nowMilliseconds() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func dependents(of resources: [ResourceDescriptor]) -> [String: Set<String>] {
        var referencedBy: [String: Set<String>] = [:]
        for resource in resources {
            for target in Set(resource.references.values) where target != resource.table {
                referencedBy[target, default: []].insert(resource.table)
            }
        }
        var closure: [String: Set<String>] = [:]
        for table in referencedBy.keys {
            var seen: Set<String> = []
            var queue = Array(referencedBy[table] ?? [])
            while let next = queue.popLast() {
                guard seen.insert(next).inserted else { continue }
                queue += referencedBy[next] ?? []
            }
            closure[table] = seen
        }
        return closure
    }
}
