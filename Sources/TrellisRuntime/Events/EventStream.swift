import Foundation
import TrellisRedis

/// How long and how much of each workspace's event history Redis keeps, for clients that
/// resume (`Last-Event-ID`): `TRELLIS_EVENTS_HISTORY` events and `TRELLIS_EVENTS_HISTORY_SECONDS`.
public struct EventHistory: Sendable, Hashable {
    /// The most events kept per workspace.
    public var events: Int
    /// The longest an event is kept, in seconds.
    public var seconds: Int

    public init(events: Int = 1_000, seconds: Int = 600) {
        self.events = max(events, 1)
        self.seconds = max(seconds, 1)
    }
}

/// One event as read back from a workspace's Redis stream.
public struct StreamedEvent: Sendable, Hashable {
    /// The stream entry id (`<ms>-<n>`), increasing per workspace: the SSE `id:` and what
    /// `Last-Event-ID` names.
    public var id: String
    /// The event JSON written by ``EventOutbox``.
    public var payload: String
    /// `resource` and `type`, read from the payload, for topic filters and frame names.
    public var resource: String
    public var type: String
}

/// Each workspace's event history in Redis: a stream `{workspace}:ev` of at most
/// ``EventHistory/events`` entries no older than ``EventHistory/seconds``, plus a pub/sub
/// channel that says "the stream grew" to every instance with a subscriber in that workspace.
/// Clients read the stream, never the channel's payload, so a message lost while a subscriber
/// reconnects delays an event and never drops it.
public struct EventStream: Sendable {
    public let redis: RedisClient
    public let history: EventHistory

    public init(redis: RedisClient, history: EventHistory = EventHistory()) {
        self.redis = redis
        self.history = history
    }

    /// `KEYS[1]`: the stream; `KEYS[2]`: the event's publication marker; `KEYS[3]`: the id of
    /// the newest entry trimmed from the stream (the "floor"). `ARGV`: payload, most entries,
    /// history in ms, channel. Appends the event unless its marker exists (a relay that died after
    /// publishing and before forgetting its batch: the next one republishes it), trims by count
    /// and by age while remembering the newest id it trimmed, keeps the keys for the history's
    /// span after the last event, and announces the new entry. Returns the entry id, or nil for
    /// a duplicate.
    static let publishScript = RedisScript(
        """
        if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then return false end
        local clock = redis.call('TIME')
        local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
        local id = redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])
        local floor = nil
        local excess = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[2])
        if excess > 0 then
          local old = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', excess)
          floor = old[#old][1]
          redis.call('XTRIM', KEYS[1], 'MAXLEN', ARGV[2])
        end
        local minid = string.format('%d', now - tonumber(ARGV[3]))
        local expired = redis.call('XRANGE', KEYS[1], '-', '(' .. minid)
        if #expired > 0 then
          floor = expired[#expired][1]
          redis.call('XTRIM', KEYS[1], 'MINID', minid)
        end
        if floor then redis.call('SET', KEYS[3], floor) end
        redis.call('PEXPIRE', KEYS[1], ARGV[3])
        redis.call('PEXPIRE', KEYS[3], ARGV[3])
        redis.call('PUBLISH', ARGV[4], id)
        return id
        """
    )

    /// `{workspace}:ev`.
    static func streamKey(_ workspace: UUID) -> String { "{" + workspace.lowercasedString + "}:ev" }

    /// The channel announcing new entries of `workspace`'s stream.
    public static func channel(_ workspace: UUID) -> String { "trellis:ev:" + workspace.lowercasedString }

    /// The workspace a ``channel(_:)`` names.
    static func workspace(ofChannel channel: String) -> UUID? {
        guard channel.hasPrefix("trellis:ev:") else { return nil }
        return UUID(uuidString: String(channel.dropFirst("trellis:ev:".count)))
    }

    /// Appends one event from the outbox; nil when it had been published before.
    func publish(workspace: UUID, eventID: UUID, payload: String) async throws -> String? {
        let reply = try await redis.evaluate(
            Self.publishScript,
            keys: [
                .string(Self.streamKey(workspace)), .string(Self.streamKey(workspace) + ":seen:" + eventID.lowercasedString),
                .string(Self.streamKey(workspace) + ":floor"),
            ],
            arguments: [
                .string(payload), .integer(Int64(history.events)), .integer(Int64(history.seconds) * 1_000),
                .string(Self.channel(workspace)),
            ])
        return reply.string
    }

    /// Up to `count` events of `workspace` after `id`, oldest first.
    public func events(of workspace: UUID, after id: String, count: Int = 100) async throws -> [StreamedEvent] {
        let reply = try await redis.send(["XRANGE", .string(Self.streamKey(workspace)), .string("(" + id), "+", "COUNT", .integer(Int64(count))])
        guard case .array(let entries) = reply else { return [] }
        return entries.compactMap { entry in
            guard case .array(let parts) = entry, parts.count == 2, let entryID = parts[0].string,
                case .array(let fields) = parts[1], fields.count == 2, let payload = fields[1].string
            else { return nil }
            return StreamedEvent(id: entryID, payload: payload, resource: Self.member("resource", of: payload), type: Self.member("type", of: payload))
        }
    }

    /// The id of `workspace`'s newest event, or `0-0` when it has none: where a client without
    /// `Last-Event-ID` starts (it receives what comes next).
    public func latestID(of workspace: UUID) async throws -> String {
        let reply = try await redis.send(["XREVRANGE", .string(Self.streamKey(workspace)), "+", "-", "COUNT", "1"])
        guard case .array(let entries) = reply, case .array(let parts)? = entries.first, let id = parts.first?.string else { return "0-0" }
        return id
    }

    /// Whether events after `id` may have left the history already: `id` is older than the
    /// history's span, or the stream has trimmed an entry newer than `id` (its floor). A client
    /// resuming from such an id is told to refetch (``EventFrames/reset``) instead of silently
    /// missing some.
    public func hasLostEvents(of workspace: UUID, after id: StreamID, now: Date = Date()) async throws -> Bool {
        let horizon = Int64((now.timeIntervalSince1970 - Double(history.seconds)) * 1_000)
        if id.milliseconds < horizon { return true }
        let floor = try await redis.send(["GET", .string(Self.streamKey(workspace) + ":floor")]).string.flatMap(StreamID.init)
        return floor.map { id < $0 } ?? false
    }

    /// A top-level string member of the event JSON (`"resource":"agents"`), which ``EventOutbox``
    /// writes before `data`; empty if absent.
    static func member(_ name: String, of payload: String) -> String {
        guard let range = payload.range(of: "\"" + name + "\":\"") else { return "" }
        let rest = payload[range.upperBound...]
        return String(rest.prefix { $0 != "\"" })
    }
}

/// A Redis stream entry id, `<milliseconds>-<sequence>`, ordered as Redis orders them.
public struct StreamID: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var milliseconds: Int64
    public var sequence: Int64

    /// Parses `123-4`; nil for anything else (`Last-Event-ID` is client input).
    public init?(_ text: String) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count <= 19, parts[1].count <= 19,
            let ms = Int64(parts[0]), let seq = Int64(parts[1]), ms >= 0, seq >= 0
        else { return nil }
        milliseconds = ms
        sequence = seq
    }

    public static func < (a: StreamID, b: StreamID) -> Bool {
        (a.milliseconds, a.sequence) < (b.milliseconds, b.sequence)
    }

    public var description: String { "\(milliseconds)-\(sequence)" }
}
