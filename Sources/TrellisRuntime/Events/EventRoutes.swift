import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServiceLifecycle
import TrellisContract

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
    /// Resources with `events: true`, by path.
    let resources: [String: ResourceDescriptor]

    init(services: TrellisServices, resources: [ResourceDescriptor]) {
        self.services = services
        self.resources = Dictionary(uniqueKeysWithValues: resources.filter(\.events).map { ($0.path, $0) })
    }

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.get("events", use: events)
    }

    @Sendable func events(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: "events:read")
        let topics = try self.topics(request, identity: identity)
        var resume: StreamID?
        if let header = request.headers[.lastEventID] {
            guard let id = StreamID(header) else {
                throw Problem.validationFailed([FieldProblem(
                    path: "/headers/last-event-id", code: .format, message: "must be the id of an event of this stream (<ms>-<n>)")])
            }
            resume = id
        }
        guard let realtime = services.realtime else {
            throw Problem.serviceUnavailable("Realtime events need Redis, and this server runs without it (REDIS_URL, TRELLIS_EVENTS)")
        }
        let workspace = identity.workspaceID
        guard let registration = await realtime.hub.open(workspace) else {
            throw Problem.serviceUnavailable("This instance has as many event streams open as it allows; try again shortly")
        }
        let start: String
        let lost: Bool
        do {
            if let resume {
                start = resume.description
                lost = try await realtime.stream.hasLostEvents(of: workspace, after: resume)
            } else {
                start = try await realtime.stream.latestID(of: workspace)
                lost = false
            }
        } catch {
            await realtime.hub.close(registration)
            throw Problem.serviceUnavailable("Realtime events are kept in Redis, which did not answer; try again shortly")
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
                realtime: realtime, registration: registration, topics: topics, last: start, announceLoss: lost,
                stillAccepted: { await authenticator.accepts(bearer: token, logger: logger) })
            do {
                try await session.run(&writer)
            } catch {
                // The client went away, or its connection was cut: nothing to answer.
            }
            await realtime.hub.close(registration)
            try? await writer.finish(nil)
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The resource paths to stream: `topics`, each checked against the caller's scopes, or
    /// every resource with events the caller may read.
    private func topics(_ request: Request, identity: Identity) throws -> Set<String> {
        var requested: [String]?
        var problems: [FieldProblem] = []
        for (name, value) in queryParameters(of: request) {
            guard name == "topics" else {
                problems.append(FieldProblem(path: "/query/\(name.prefix(64))", code: .unknownField, message: "is not a parameter of this operation"))
                continue
            }
            let names = value.split(separator: ",").map(String.init)
            for topic in names where resources[topic] == nil {
                problems.append(FieldProblem(
                    path: "/query/topics", code: .enum,
                    message: "'\(topic.prefix(64))' is not a resource with events; one of \(resources.keys.sorted().joined(separator: ", "))"))
            }
            requested = (requested ?? []) + names
        }
        if let requested, requested.isEmpty {
            problems.append(FieldProblem(path: "/query/topics", code: .format, message: "must name at least one resource"))
        }
        if !problems.isEmpty { throw Problem.invalidQuery(problems) }
        guard let requested else {
            return Set(resources.values.filter { identity.scopes.allows($0.readScope) }.map(\.path))
        }
        for topic in requested {
            let scope = resources[topic]!.readScope
            guard identity.scopes.allows(scope) else {
                throw Problem.insufficientScope("The '\(topic)' topic needs the '\(scope)' scope, which this credential does not have", scope: scope)
            }
        }
        return Set(requested)
    }
}

/// One client's stream: reads its workspace's Redis stream from where it left off each time it
/// is woken (a new event, a resubscription, a heartbeat), and writes the frames of its topics.
struct EventStreamSession: Sendable {
    let realtime: Realtime
    let registration: EventHub.Registration
    let topics: Set<String>
    let last: String
    let announceLoss: Bool
    /// Whether the credential that opened the stream is still accepted; asked once per
    /// heartbeat interval, and the stream ends when it is not (a revoked key, an ended session,
    /// an expired JWT), within about one heartbeat.
    let stillAccepted: @Sendable () async -> Bool
    /// Events read from Redis per round.
    static let batch = 100

    init(
        realtime: Realtime, registration: EventHub.Registration, topics: Set<String>, last: String, announceLoss: Bool,
        stillAccepted: @escaping @Sendable () async -> Bool = { true }
    ) {
        self.realtime = realtime
        self.registration = registration
        self.topics = topics
        self.last = last
        self.announceLoss = announceLoss
        self.stillAccepted = stillAccepted
    }

    func run(_ writer: inout any ResponseBodyWriter) async throws {
        var last = self.last
        var opening = "retry: 2000\n\n"
        if announceLoss { opening += EventFrames.reset }
        try await writer.write(ByteBuffer(string: opening))
        var lastWrite = ContinuousClock.now
        var lastCheck = ContinuousClock.now
        let wake = registration.wake
        let heartbeat = realtime.heartbeat
        let maxDuration = realtime.maxDuration
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
                        guard await stillAccepted() else { break }
                        lastCheck = .now
                    }
                    var frames = ""
                    while true {
                        let events = try await realtime.stream.events(of: registration.workspace, after: last, count: Self.batch)
                        for event in events where topics.contains(event.resource) {
                            frames += EventFrames.event(event)
                        }
                        guard let newest = events.last else { break }
                        if events.count == Self.batch, let at = StreamID(last),
                            try await realtime.stream.hasLostEvents(of: registration.workspace, after: at)
                        {
                            frames += EventFrames.reset
                        }
                        last = newest.id
                        if events.count < Self.batch { break }
                        if frames.utf8.count > 64 * 1_024 {
                            try await writer.write(ByteBuffer(string: frames))
                            frames = ""
                        }
                    }
                    if frames.isEmpty, ContinuousClock.now - lastWrite >= heartbeat {
                        frames = ": heartbeat\n\n"
                    }
                    if !frames.isEmpty {
                        try await writer.write(ByteBuffer(string: frames))
                        lastWrite = .now
                    }
                }
            } onGracefulShutdown: {
                wake.finish()
            }
            group.cancelAll()
        }
    }
}

/// The text of Server-Sent Events frames.
enum EventFrames {
    static func event(_ event: StreamedEvent) -> String {
        "id: \(event.id)\nevent: \(event.type)\ndata: \(event.payload)\n\n"
    }

    /// Some events since the client's `Last-Event-ID` (or since the last it read) have left the
    /// history: what it shows may be stale.
    static let reset = "event: reset\ndata: {\"type\":\"reset\",\"reason\":\"history_exceeded\",\"detail\":\"Some events since the one you named are no longer kept; fetch the current state again\"}\n\n"
}

extension HTTPField.Name {
    static let lastEventID = Self("Last-Event-ID")!
    static let xAccelBuffering = Self("X-Accel-Buffering")!
}
