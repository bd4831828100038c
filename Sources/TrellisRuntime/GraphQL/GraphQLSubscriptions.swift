import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOWebSocket
import TrellisContract
import WSCore

/// The `graphql-transport-ws` protocol's names and limits (github.com/enisdenjo/graphql-ws, PROTOCOL.md).
enum GraphQLTransportWS {
    static let subprotocol = "graphql-transport-ws"
    /// The one route that speaks it (and so the one that may be reached without a header credential).
    static let path = "/v1/graphql"
    /// How long a client has to send `connection_init` after connecting.
    static let initTimeout: Duration = .seconds(10)
    /// The most subscriptions one connection runs at once.
    static let maxSubscriptions = 16
    /// The most `subscribe` messages one connection may send per ``subscribeWindow`` (each
    /// costs a document check, a Redis read and a registration; the upgrade itself was rate
    /// limited like any request, the messages after it are limited here).
    static let maxSubscribesPerWindow = 30
    static let subscribeWindow: Duration = .seconds(10)

    enum Close {
        static let badRequest = WebSocketErrorCode(codeNumber: 4400)
        static let unauthorized = WebSocketErrorCode(codeNumber: 4401)
        static let forbidden = WebSocketErrorCode(codeNumber: 4403)
        static let initTimeout = WebSocketErrorCode(codeNumber: 4408)
        static let duplicateSubscriber = WebSocketErrorCode(codeNumber: 4409)
        static let tooManyInits = WebSocketErrorCode(codeNumber: 4429)
    }
}

extension GraphQLEndpoint {
    /// `GET /v1/graphql` asking to upgrade: GraphQL subscriptions over `graphql-transport-ws`.
    /// The credential is the upgrade's `Authorization` header or, from a browser, the
    /// `connection_init` payload's `authorization` (`Bearer <credential>`).
    func subscriptions(_ offer: WebSocketOffer, _ request: Request, _ context: TrellisRequestContext) throws -> Response {
        guard offer.subprotocols.contains(GraphQLTransportWS.subprotocol) else {
            throw Problem.validationFailed([FieldProblem(
                path: "/headers/sec-websocket-protocol", code: .enum, message: "must offer graphql-transport-ws")])
        }
        let realtime = try services.realtimeOrProblem()
        let connection = GraphQLSubscriptionConnection(
            endpoint: self, realtime: realtime, authenticator: services.authenticator, logger: context.logger,
            upgradeCredential: context.identity.map { ($0, String(request.bearerToken)) })
        offer.accept(subprotocol: GraphQLTransportWS.subprotocol) { inbound, outbound, _ in
            try await connection.run(inbound, outbound)
        }
        return Response(status: .ok)
    }
}

/// One `graphql-transport-ws` connection: `connection_init` → `connection_ack`, then any number
/// of `subscribe` / `complete`, `ping` / `pong`. Each subscription is an ``EventStreamSession``
/// whose events are answered with the subscription's selection set as `next` messages.
struct GraphQLSubscriptionConnection: Sendable {
    let endpoint: GraphQLEndpoint
    let realtime: Realtime
    let authenticator: Authenticator
    let logger: Logger
    /// The identity and token of the upgrade's `Authorization` header, when it had one.
    let upgradeCredential: (Identity, String)?

    private struct State {
        var caller: (identity: Identity, token: String)?
        var initialised = false
        /// Running subscriptions, and how to end each (its registration's wake-up stream).
        var running: [String: AsyncStream<Void>.Continuation] = [:]
        /// `subscribe` messages in the current window, and when it started.
        var subscribes = 0
        var windowStart = ContinuousClock.now
    }

    /// Why the connection closes.
    private struct Closing: Error {
        let code: WebSocketErrorCode
        let reason: String
    }

    func run(_ inbound: WebSocketInboundStream, _ outbound: WebSocketOutboundWriter) async throws {
        let state = NIOLockedValueBox(State())
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                // A child task cannot end the loop below by throwing (nothing awaits it until the
                // loop ends): it closes the connection, which ends the loop.
                group.addTask {
                    try await Task.sleep(for: GraphQLTransportWS.initTimeout)
                    if !state.withLockedValue(\.initialised) {
                        try await outbound.close(GraphQLTransportWS.Close.initTimeout, reason: "Connection initialisation timeout")
                    }
                }
                for try await message in inbound.messages(maxSize: WebSocketLimits.defaultMaxMessageBytes) {
                    guard case let .text(text) = message, case let .object(members)? = try? JSONValue(parsing: text),
                        case let .string(type)? = members["type"]
                    else {
                        throw Closing(code: GraphQLTransportWS.Close.badRequest, reason: "Messages are JSON objects with a type")
                    }
                    switch type {
                    case "connection_init":
                        try await initialise(members["payload"], state: state)
                        try await outbound.writeTextMessage(#"{"type":"connection_ack"}"#)
                    case "ping": try await outbound.writeTextMessage(#"{"type":"pong"}"#)
                    case "pong": break
                    case "subscribe":
                        guard case let .string(id)? = members["id"], !id.isEmpty, id.utf8.count <= 128 else {
                            throw Closing(code: GraphQLTransportWS.Close.badRequest, reason: "subscribe needs an id")
                        }
                        guard let caller = state.withLockedValue(\.caller) else {
                            throw Closing(code: GraphQLTransportWS.Close.unauthorized, reason: "Unauthorized")
                        }
                        guard case let .object(payload)? = members["payload"] else {
                            throw Closing(code: GraphQLTransportWS.Close.badRequest, reason: "subscribe needs a payload")
                        }
                        try await subscribe(id, payload, caller: caller, state: state, outbound: outbound, group: &group)
                    case "complete":
                        if case let .string(id)? = members["id"] {
                            state.withLockedValue { $0.running.removeValue(forKey: id) }?.finish()
                        }
                    default:
                        throw Closing(code: GraphQLTransportWS.Close.badRequest, reason: "Unknown message type")
                    }
                }
                group.cancelAll()
            }
        } catch let closing as Closing {
            try await outbound.close(closing.code, reason: closing.reason)
        }
        for wake in state.withLockedValue({ $0.running.values }) { wake.finish() }
    }

    private func initialise(_ payload: JSONValue?, state: NIOLockedValueBox<State>) async throws {
        guard !state.withLockedValue(\.initialised) else {
            throw Closing(code: GraphQLTransportWS.Close.tooManyInits, reason: "Too many initialisation requests")
        }
        var caller = upgradeCredential
        if caller == nil {
            var header: String?
            if case let .object(members)? = payload {
                for key in ["authorization", "Authorization"] {
                    if case let .string(value)? = members[key] { header = value }
                }
            }
            guard let header, let token = AuthenticationMiddleware.bearerToken(header),
                let identity = try? await authenticator.authenticate(bearer: token, logger: logger)
            else {
                throw Closing(code: GraphQLTransportWS.Close.forbidden, reason: "Forbidden: connection_init needs payload.authorization: Bearer <credential>")
            }
            caller = (identity, String(token))
        }
        state.withLockedValue {
            $0.initialised = true
            $0.caller = caller
        }
    }

    private func subscribe(
        _ id: String, _ payload: JSONObject, caller: (identity: Identity, token: String), state: NIOLockedValueBox<State>,
        outbound: WebSocketOutboundWriter, group: inout ThrowingTaskGroup<Void, any Error>
    ) async throws {
        let allowed = state.withLockedValue { state -> Bool in
            if ContinuousClock.now - state.windowStart >= GraphQLTransportWS.subscribeWindow {
                state.windowStart = .now
                state.subscribes = 0
            }
            state.subscribes += 1
            return state.subscribes <= GraphQLTransportWS.maxSubscribesPerWindow
        }
        guard allowed else {
            try await outbound.writeTextMessage(Self.errorMessage(id, [GraphQLRequestError(
                "A connection may subscribe at most \(GraphQLTransportWS.maxSubscribesPerWindow) times per \(GraphQLTransportWS.subscribeWindow); try again shortly",
                code: "rate_limited")]))
            return
        }
        let prepared: (plan: GraphQLPlan, selection: GraphQLSelection, topics: Set<String>, resume: StreamID?, variables: JSONObject)
        do {
            prepared = try prepare(payload, identity: caller.identity)
        } catch {
            try await outbound.writeTextMessage(Self.errorMessage(id, [error]))
            return
        }
        let start: EventStreamStart
        switch await EventStreamStart.open(realtime, workspace: caller.identity.workspaceID, resume: prepared.resume) {
        case let .success(opened): start = opened
        case let .failure(failure):
            try await outbound.writeTextMessage(Self.errorMessage(id, [GraphQLRequestError(failure.reason, code: "SERVICE_UNAVAILABLE")]))
            return
        }
        let admitted = state.withLockedValue { state -> Bool? in
            guard state.running[id] == nil else { return nil }
            guard state.running.count < GraphQLTransportWS.maxSubscriptions else { return false }
            state.running[id] = start.registration.wake
            return true
        }
        guard admitted == true else {
            await realtime.hub.close(start.registration)
            guard admitted == false else {
                throw Closing(code: GraphQLTransportWS.Close.duplicateSubscriber, reason: "Subscriber for \(id) already exists")
            }
            try await outbound.writeTextMessage(Self.errorMessage(id, [GraphQLRequestError(
                "A connection runs at most \(GraphQLTransportWS.maxSubscriptions) subscriptions", code: "TOO_MANY_SUBSCRIPTIONS")]))
            return
        }
        let authenticator = authenticator
        let logger = logger
        let realtime = realtime
        let session = EventStreamSession(
            realtime: realtime, start: start, topics: prepared.topics,
            stillAccepted: { await authenticator.accepts(bearer: caller.token, logger: logger) })
        let selection = prepared.selection
        let variables = prepared.variables
        group.addTask {
            let end = try await session.run { items in
                for item in items {
                    guard let message = Self.next(id, item, selection: selection, variables: variables) else { continue }
                    try await outbound.writeTextMessage(message)
                }
            }
            // Ended by the client's `complete`: nothing more to say about it.
            guard state.withLockedValue({ $0.running.removeValue(forKey: id) }) != nil else { return }
            switch end {
            case .expired: try await outbound.writeTextMessage(#"{"id":"# + Self.quoted(id) + #","type":"complete"}"#)
            case .shutdown: try await outbound.close(.goingAway, reason: end.reason)
            case .credentialRefused: try await outbound.close(GraphQLTransportWS.Close.forbidden, reason: "Forbidden: credential_refused")
            }
        }
    }

    /// The subscription's plan, its one root field (`events`), topics and resume point.
    private func prepare(
        _ payload: JSONObject, identity: Identity
    ) throws -> (plan: GraphQLPlan, selection: GraphQLSelection, topics: Set<String>, resume: StreamID?, variables: JSONObject) {
        let envelope = try endpoint.envelope(payload)
        let plan = try endpoint.plan(envelope)
        guard plan.operation == .subscription else {
            throw GraphQLRequestError("Send queries and mutations with POST /v1/graphql; this connection runs subscriptions", code: "BAD_REQUEST")
        }
        let variables = envelope.variables
        guard let selection = plan.selections.first(where: { $0.name == "events" && $0.isIncluded(variables) }) else {
            throw GraphQLRequestError("A subscription asks for events", code: "BAD_REQUEST")
        }
        guard identity.scopes.allows("events:read") else {
            throw GraphQLRequestError("Subscribing needs the 'events:read' scope, which this credential does not have", code: "insufficient_scope")
        }
        var requested: [String]?
        switch selection.arguments["topics"]?.resolved(variables) {
        case nil, .null?: break
        case let .string(topic)?: requested = [topic]
        case let .array(values)?:
            requested = try values.map { value in
                guard case let .string(topic) = value else { throw GraphQLRequestError("topics lists EventTopic values", code: "BAD_USER_INPUT") }
                return topic
            }
        default: throw GraphQLRequestError("topics lists EventTopic values", code: "BAD_USER_INPUT")
        }
        let paths = try requested.map { names in
            try names.map { name in
                let path = name.lowercased()
                guard GraphQLNames.eventTopic(path: path) == name, endpoint.topicScopes[path] != nil else {
                    throw GraphQLRequestError("\"\(name.prefix(64))\" is not an EventTopic", code: "BAD_USER_INPUT")
                }
                return path
            }
        }
        let topics: Set<String>
        do {
            topics = try EventRoutes.topics(paths, of: endpoint.topicScopes, identity: identity)
        } catch let problem as Problem {
            throw GraphQLRequestError(problem.detail ?? problem.title, code: problem.code)
        } catch {
            throw error
        }
        var resume: StreamID?
        switch selection.arguments["after"]?.resolved(variables) {
        case nil, .null?: break
        case let .string(text)?:
            guard let id = StreamID(text) else { throw GraphQLRequestError("after must be an Event id (<ms>-<n>)", code: "BAD_USER_INPUT") }
            resume = id
        default: throw GraphQLRequestError("after must be an Event id (<ms>-<n>)", code: "BAD_USER_INPUT")
        }
        return (plan, selection, topics, resume, variables)
    }

    // MARK: Messages

    /// `{"id","type":"next","payload":{"data":{<key>:{…the fields asked for…}}}}`; nil for a heartbeat.
    static func next(_ id: String, _ item: EventStreamItem, selection: GraphQLSelection, variables: JSONObject) -> String? {
        let event: JSONObject
        var streamID = ""
        switch item {
        case .heartbeat: return nil
        case .reset: event = JSONObject([.init(key: "type", value: .string("reset"))])
        case let .event(streamed):
            streamID = streamed.id
            guard case let .object(members)? = try? JSONValue(parsing: streamed.payload) else { return nil }
            event = members
        }
        var fields = JSONObject()
        for field in selection.children where field.isIncluded(variables) {
            let value: JSONValue? =
                switch field.name {
                case "__typename": .string("Event")
                case "id": .string(streamID)
                case "type": event["type"]
                case "eventId": event["event_id"]
                case "resource": event["resource"]
                case "resourceId": event["resource_id"]
                case "workspaceId": event["workspace_id"]
                case "actor": event["actor"]
                case "occurredAt": event["occurred_at"]
                case "data": event["data"]
                default: nil
                }
            fields.set(field.responseKey, value ?? .null)
        }
        var w = JSONWriter(capacity: 512)
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("type"); w.value("next")
        w.key("payload"); w.beginObject()
        w.key("data"); w.beginObject()
        w.key(selection.responseKey); w.value(.object(fields))
        w.endObject(); w.endObject()
        w.endObject()
        return w.string
    }

    /// `{"id","type":"error","payload":[…]}`: the subscription did not start.
    static func errorMessage(_ id: String, _ errors: [any Error]) -> String {
        let errors = errors.map { $0 as? GraphQLRequestError ?? GraphQLRequestError("The subscription could not start", code: "INTERNAL_SERVER_ERROR") }
        var w = JSONWriter(capacity: 256)
        w.beginObject()
        w.key("id"); w.value(id)
        w.key("type"); w.value("error")
        w.key("payload")
        GraphQLEndpoint.write(errors, to: &w)
        w.endObject()
        return w.string
    }

    static func quoted(_ text: String) -> String {
        var w = JSONWriter(capacity: text.utf8.count + 2)
        w.value(text)
        return w.string
    }
}
