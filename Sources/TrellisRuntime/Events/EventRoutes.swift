import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOConcurrencyHelpers
import NIOWebSocket
import ServiceLifecycle
import TrellisContract
import WSCore

/// `GET /v1/events`: the caller's workspace's events as Server-Sent Events (DESIGN.md §5.1).
///
/// Needs `events:read` and, for each topic (`?topics=agents,messages`: resource paths), that
/// resource's read scope; without `topics`, every resource with events whose read scope the
/// caller holds. Frames: `id: <stream id>`, `event: <type>`, `data: <event JSON>`; a comment
/// (`: heartbeat`) after each ``Realtime/heartbeat`` without a frame; the stream ends after
/// ``Realtime/maxDuration`` (reconnect with `Last-Event-ID`). `Last-Event-ID` resumes
/// after that event within the history (``EventHistory``); if events since then have left it,
/// an `event: reset` frame says so first (refetch what you show). The stream ends within about a
/// heartbeat of its credential being refused (revoked, logged out, expired). A client that stops reading
/// is disconnected by the connection's write timeout (`TRELLIS_HTTP_WRITE_TIMEOUT`); nothing
/// is buffered for it, since each stream reads Redis only as fast as it writes.
struct EventRoutes: Sendable {
    let services: TrellisServices
    /// The topics a stream may carry, each with the read scope it needs: the paths of the
    /// resources with `events: true`, and `jobs` (job progress) when the API has job types.
    let topicScopes: [String: String]

    init(services: TrellisServices, topicScopes: [String: String]) {
        self.services = services
        self.topicScopes = topicScopes
    }

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.get("events", use: events)
        v1.get("realtime", use: webSocket)
    }

    @Sendable func events(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: "events:read")
        let topics = try self.topics(request, identity: identity)
        let resume = try resumePoint(request)
        let realtime = try services.realtimeOrProblem()
        let start: EventStreamStart
        switch await EventStreamStart.open(realtime, workspace: identity.workspaceID, resume: resume) {
        case let .success(opened): start = opened
        case let .failure(failure): throw failure.problem
        }
        let authenticator = services.authenticator
        let token = String(request.bearerToken)
        let logger = context.logger
        var headers = HTTPFields()
        headers[.contentType] = "text/event-stream"
        headers[.cacheControl] = "no-cache"
        headers[.xAccelBuffering] = "no"
        let body = ResponseBody { writer in
            let session = EventStreamSession(
                realtime: realtime, start: start, topics: topics,
                stillAccepted: { await authenticator.accepts(bearer: token, logger: logger) })
            // An error is the client gone, or its connection cut: nothing to answer.
            _ = try? await session.run(opening: { try await writer.write(ByteBuffer(string: "retry: 2000\n\n")) }) { items in
                try await writer.write(ByteBuffer(string: items.map(EventFrames.serverSent).joined()))
            }
            try? await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// `GET /v1/realtime`: the same stream as ``events(_:context:)`` over a WebSocket. Checked
    /// like any request (credential, `events:read`, topics, `last_event_id`), then upgraded; each
    /// message is a JSON text frame (``EventFrames``): `ready` first (with the id to resume
    /// after), then `event` and `reset`. The client's messages are read and ignored; pings keep
    /// the connection alive and find dead peers. The server closes with 1000 after the stream's
    /// maximum duration, 1001 when it shuts down, 4401 when the credential is refused
    /// (revoked, logged out, expired), 1013 when the instance has no room, 1011 when Redis fails.
    @Sendable func webSocket(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: "events:read")
        let topics = try self.topics(request, identity: identity)
        let resume = try resumePoint(request)
        guard let offer = context.webSocket else { throw Problem.upgradeRequired("/v1/realtime") }
        let realtime = try services.realtimeOrProblem()
        guard realtime.hub.openStreams < realtime.hub.maxStreams else { throw EventStreamStart.Failure.full.problem }
        let authenticator = services.authenticator
        let token = String(request.bearerToken)
        let logger = context.logger
        let workspace = identity.workspaceID
        offer.accept { inbound, outbound, _ in
            let start: EventStreamStart
            switch await EventStreamStart.open(realtime, workspace: workspace, resume: resume) {
            case let .success(opened): start = opened
            case let .failure(failure):
                try await outbound.close(failure.closeCode, reason: failure.reason)
                return
            }
            let session = EventStreamSession(
                realtime: realtime, start: start, topics: topics,
                stillAccepted: { await authenticator.accepts(bearer: token, logger: logger) })
            let end = try await Self.untilClientLeaves(inbound) {
                try await session.run(opening: { try await outbound.writeTextMessage(EventFrames.ready(after: start.last, topics: topics)) }) {
                    items in
                    for item in items {
                        if let message = EventFrames.webSocket(item) { try await outbound.writeTextMessage(message) }
                    }
                }
            }
            if let end { try await outbound.close(end.closeCode, reason: end.reason) }
        }
        return Response(status: .ok)
    }

    /// Runs `stream` until it ends (its reason) or the client closes or leaves (nil); the
    /// client's own messages are read and dropped.
    static func untilClientLeaves(
        _ inbound: WebSocketInboundStream, _ stream: @escaping @Sendable () async throws -> EventStreamEnd
    ) async throws -> EventStreamEnd? {
        try await withThrowingTaskGroup(of: EventStreamEnd?.self) { group in
            group.addTask {
                for try await _ in inbound.messages(maxSize: WebSocketLimits.defaultMaxMessageBytes) {}
                return nil
            }
            group.addTask { try await stream() }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
    }

    /// `Last-Event-ID` (header) or `last_event_id` (query, for clients that cannot set headers).
    private func resumePoint(_ request: Request) throws -> StreamID? {
        let header = request.headers[.lastEventID]
        let query = queryParameters(of: request).first { $0.0 == "last_event_id" }?.1
        guard let text = header ?? query else { return nil }
        guard let id = StreamID(text) else {
            throw Problem.validationFailed([FieldProblem(
                path: header != nil ? "/headers/last-event-id" : "/query/last_event_id", code: .format,
                message: "must be the id of an event of this stream (<ms>-<n>)")])
        }
        return id
    }

    /// The resource paths to stream: `topics`, each checked against the caller's scopes, or
    /// every resource with events the caller may read.
    func topics(_ request: Request, identity: Identity) throws -> Set<String> {
        var requested: [String]?
        var problems: [FieldProblem] = []
        for (name, value) in queryParameters(of: request) where name != "last_event_id" {
            guard name == "topics" else {
                problems.append(FieldProblem(path: "/query/\(name.prefix(64))", code: .unknownField, message: "is not a parameter of this operation"))
                continue
            }
            let names = value.split(separator: ",").map(String.init)
            for topic in names where topicScopes[topic] == nil {
                problems.append(FieldProblem(
                    path: "/query/topics", code: .enum,
                    message: "'\(topic.prefix(64))' is not a topic of this API; one of \(topicScopes.keys.sorted().joined(separator: ", "))"))
            }
            requested = (requested ?? []) + names
        }
        if let requested, requested.isEmpty {
            problems.append(FieldProblem(path: "/query/topics", code: .format, message: "must name at least one resource"))
        }
        if !problems.isEmpty { throw Problem.invalidQuery(problems) }
        return try Self.topics(requested, of: topicScopes, identity: identity)
    }

    /// `requested` (topics of `scopes`), each checked against the caller's scopes, or without
    /// it every topic whose scope the caller holds.
    static func topics(_ requested: [String]?, of scopes: [String: String], identity: Identity) throws -> Set<String> {
        guard let requested else {
            return Set(scopes.filter { identity.scopes.allows($0.value) }.keys)
        }
        for topic in requested {
            let scope = scopes[topic]!
            guard identity.scopes.allows(scope) else {
                throw Problem.insufficientScope("The '\(topic)' topic needs the '\(scope)' scope, which this credential does not have", scope: scope)
            }
        }
        return Set(requested)
    }
}

/// Where a new stream starts: its registration with the hub, the id it reads after, and
/// whether events since a resume point have left the history.
struct EventStreamStart: Sendable {
    let registration: EventHub.Registration
    let last: String
    let lost: Bool

    enum Failure: Error {
        /// The instance has ``EventHub/maxStreams`` open.
        case full
        /// Redis did not answer.
        case redis

        var problem: Problem {
            switch self {
            case .full: Problem.serviceUnavailable("This instance has as many event streams open as it allows; try again shortly")
            case .redis: Problem.serviceUnavailable("Realtime events are kept in Redis, which did not answer; try again shortly")
            }
        }

        var closeCode: WebSocketErrorCode {
            switch self {
            case .full: .init(codeNumber: 1013)
            case .redis: .unexpectedServerError
            }
        }

        var reason: String {
            switch self {
            case .full: "too many streams on this instance; try again shortly"
            case .redis: "event history unavailable; try again shortly"
            }
        }
    }

    /// Registers a stream of `workspace`, starting after `resume` or, without it, after the newest event.
    static func open(_ realtime: Realtime, workspace: UUID, resume: StreamID?) async -> Result<EventStreamStart, Failure> {
        guard let registration = await realtime.hub.open(workspace) else { return .failure(.full) }
        do {
            if let resume {
                let lost = try await realtime.stream.hasLostEvents(of: workspace, after: resume)
                return .success(EventStreamStart(registration: registration, last: resume.description, lost: lost))
            }
            return .success(EventStreamStart(registration: registration, last: try await realtime.stream.latestID(of: workspace), lost: false))
        } catch {
            await realtime.hub.close(registration)
            return .failure(.redis)
        }
    }
}

/// What a stream hands its transport each round.
enum EventStreamItem: Sendable {
    case event(StreamedEvent)
    /// Some events have left the history unread: what the client shows may be stale.
    case reset
    /// Nothing happened for a heartbeat interval.
    case heartbeat
}

/// Why a stream ended (other than its client leaving).
enum EventStreamEnd: Sendable {
    /// It reached ``Realtime/maxDuration``.
    case expired
    /// The server is shutting down.
    case shutdown
    /// Its credential is no longer accepted.
    case credentialRefused

    var closeCode: WebSocketErrorCode {
        switch self {
        case .expired: .normalClosure
        case .shutdown: .goingAway
        case .credentialRefused: .init(codeNumber: 4401)
        }
    }

    var reason: String {
        switch self {
        case .expired: "max_duration: reconnect with last_event_id"
        case .shutdown: "server shutting down: reconnect with last_event_id"
        case .credentialRefused: "credential_refused"
        }
    }
}

/// One client's stream: reads its workspace's Redis stream from where it left off each time it
/// is woken (a new event, a resubscription, a heartbeat), and hands its transport the events of
/// its topics (``EventStreamItem``), whatever the transport: SSE, a WebSocket, a GraphQL subscription.
struct EventStreamSession: Sendable {
    let realtime: Realtime
    let start: EventStreamStart
    let topics: Set<String>
    /// Whether the credential that opened the stream is still accepted; asked once per
    /// heartbeat interval, and the stream ends when it is not (a revoked key, an ended session,
    /// an expired JWT), within about one heartbeat.
    let stillAccepted: @Sendable () async -> Bool
    /// Events read from Redis per round.
    static let batch = 100

    init(realtime: Realtime, start: EventStreamStart, topics: Set<String>, stillAccepted: @escaping @Sendable () async -> Bool = { true }) {
        self.realtime = realtime
        self.start = start
        self.topics = topics
        self.stillAccepted = stillAccepted
    }

    /// Sends `opening`, then streams until the stream expires, the server shuts down or the
    /// credential is refused (returning which), or `deliver` throws (the client left). Either
    /// way the stream's registration with the hub ends here: the transports never close it.
    func run(opening: () async throws -> Void = {}, deliver: ([EventStreamItem]) async throws -> Void) async throws -> EventStreamEnd {
        do {
            try await opening()
            let end = try await stream(deliver: deliver)
            await realtime.hub.close(start.registration)
            return end
        } catch {
            await realtime.hub.close(start.registration)
            throw error
        }
    }

    private func stream(deliver: ([EventStreamItem]) async throws -> Void) async throws -> EventStreamEnd {
        let registration = start.registration
        var last = start.last
        if start.lost { try await deliver([.reset]) }
        var lastWrite = ContinuousClock.now
        var lastCheck = ContinuousClock.now
        let wake = registration.wake
        let heartbeat = realtime.heartbeat
        let maxDuration = realtime.maxDuration
        let ending = NIOLockedValueBox(EventStreamEnd.expired)
        // Read once at the start: a resumed stream sends what it missed without waiting for news.
        wake.yield()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                while !Task.isCancelled {
                    try await Task.sleep(for: heartbeat)
                    wake.yield()
                }
            }
            group.addTask {
                try await Task.sleep(for: maxDuration)
                wake.finish()
            }
            try await withGracefulShutdownHandler {
                for await _ in registration.wakes {
                    if ContinuousClock.now - lastCheck >= heartbeat {
                        guard await stillAccepted() else {
                            ending.withLockedValue { $0 = .credentialRefused }
                            break
                        }
                        lastCheck = .now
                    }
                    var items: [EventStreamItem] = []
                    while true {
                        let events = try await realtime.stream.events(of: registration.workspace, after: last, count: Self.batch)
                        for event in events where topics.contains(event.resource) {
                            items.append(.event(event))
                        }
                        guard let newest = events.last else { break }
                        if events.count == Self.batch, let at = StreamID(last),
                            try await realtime.stream.hasLostEvents(of: registration.workspace, after: at)
                        {
                            items.append(.reset)
                        }
                        last = newest.id
                        if events.count < Self.batch { break }
                        if items.count >= Self.batch {
                            try await deliver(items)
                            items = []
                        }
                    }
                    if items.isEmpty, ContinuousClock.now - lastWrite >= heartbeat {
                        items = [.heartbeat]
                    }
                    if !items.isEmpty {
                        try await deliver(items)
                        lastWrite = .now
                    }
                }
            } onGracefulShutdown: {
                ending.withLockedValue { $0 = .shutdown }
                wake.finish()
            }
            group.cancelAll()
        }
        return ending.withLockedValue { $0 }
    }
}

/// The frames of each transport.
enum EventFrames {
    /// Server-Sent Events: `id:`, `event:` and `data:` lines; `event: reset`; a `: heartbeat` comment.
    static func serverSent(_ item: EventStreamItem) -> String {
        switch item {
        case let .event(event): "id: \(event.id)\nevent: \(event.type)\ndata: \(event.payload)\n\n"
        case .reset: "event: reset\ndata: " + resetJSON + "\n\n"
        case .heartbeat: ": heartbeat\n\n"
        }
    }

    /// `GET /v1/realtime`'s JSON messages: `{"type":"event","id","event","data"}` and
    /// `{"type":"reset",…}`; nil for a heartbeat (the WebSocket pings instead).
    static func webSocket(_ item: EventStreamItem) -> String? {
        switch item {
        case let .event(event): "{\"type\":\"event\",\"id\":\"\(event.id)\",\"event\":\"\(event.type)\",\"data\":\(event.payload)}"
        case .reset: resetJSON
        case .heartbeat: nil
        }
    }

    /// The first message of `GET /v1/realtime`: the id to resume after should the connection drop
    /// before any event, and the topics streamed (resource paths: no escaping needed).
    static func ready(after id: String, topics: Set<String>) -> String {
        "{\"type\":\"ready\",\"last_event_id\":\"\(id)\",\"topics\":[" + topics.sorted().map { "\"\($0)\"" }.joined(separator: ",") + "]}"
    }

    /// Some events since the client's `Last-Event-ID` (or since the last it read) have left the
    /// history: what it shows may be stale.
    static let resetJSON = "{\"type\":\"reset\",\"reason\":\"history_exceeded\",\"detail\":\"Some events since the one you named are no longer kept; fetch the current state again\"}"
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}

extension TrellisServices {
    /// The realtime services, or the 503 that says why there are none.
    func realtimeOrProblem() throws(Problem) -> Realtime {
        guard let realtime else {
            throw Problem.serviceUnavailable("Realtime events need Redis, and this server runs without it (REDIS_URL, TRELLIS_EVENTS)")
        }
        return realtime
    }
}

extension APIDefinition {
    /// The event topics with the read scope each needs: the paths of the resources with
    /// `events: true`, and `jobs` (job progress) when the API has job types. The event stream
    /// and webhook fan-out both check them.
    public var eventTopicScopes: [String: String] {
        var topics = Dictionary(uniqueKeysWithValues: resources.map(\.descriptor).filter(\.events).map { ($0.path, $0.readScope) })
        if !jobs.isEmpty { topics[JobQueue.topic] = JobRoutes.read }
        return topics
    }
}
