import Foundation
import HTTPTypes
import Hummingbird

/// `/v1/webhook-endpoints` and `/v1/webhook-deliveries` (issue 11 item 5): a workspace's
/// endpoints (`webhooks:write` to change, `webhooks:read` to see), their deliveries, and
/// redelivery. The rules live in ``WebhookEndpoints``; this only translates HTTP. A 503 says
/// so when this deployment has no webhook key.
struct WebhookRoutes: Sendable {
    let services: TrellisServices
    static let read = "webhooks:read"
    static let write = "webhooks:write"

    func register(on v1: RouterGroup<TrellisRequestContext>) {
        v1.post("webhook-endpoints", use: create)
        v1.get("webhook-endpoints", use: list)
        v1.get("webhook-endpoints/:id", use: get)
        v1.patch("webhook-endpoints/:id", use: update)
        v1.delete("webhook-endpoints/:id", use: delete)
        v1.get("webhook-endpoints/:id/deliveries", use: deliveries)
        v1.get("webhook-deliveries/:id", use: delivery)
        v1.post("webhook-deliveries/:id/redeliver", use: redeliver)
    }

    private func endpoints() throws -> WebhookEndpoints {
        guard let settings = services.webhooks else {
            throw Problem.serviceUnavailable("Webhooks are off on this server: it has no TRELLIS_WEBHOOK_KEY")
        }
        return WebhookEndpoints(settings: settings)
    }

    @Sendable func create(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let endpoints = try endpoints()
        let changes = try await changes(request, creating: true, policy: WebhookAddressPolicy(allowPrivate: endpoints.settings.allowPrivateAddresses))
        let created = try await context.transaction(request, on: services, as: identity) { try await endpoints.create(changes, in: $0) }
        var response = created.response(.created)
        response.headers[.location] = "/v1/webhook-endpoints/\(created.id.lowercasedString)"
        return response
    }

    @Sendable func list(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.read)
        let endpoints = try endpoints()
        let (limit, after) = try APIKeyRoutes.page(request, limits: services.pageLimits, keys: services.cursorKeys)
        let items = try await context.read(on: services, as: identity) { try await endpoints.list(limit: limit + 1, after: after, in: $0) }
        return APIKeyRoutes.listResponse(Array(items.prefix(limit)), hasMore: items.count > limit, keys: services.cursorKeys, id: \.id)
    }

    @Sendable func get(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.read)
        let endpoints = try endpoints()
        let id = try context.pathID("id", naming: "webhook endpoint")
        return try await context.read(on: services, as: identity) { try await endpoints.get(id, in: $0) }.response(.ok)
    }

    @Sendable func update(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let endpoints = try endpoints()
        let id = try context.pathID("id", naming: "webhook endpoint")
        let changes = try await changes(request, creating: false, policy: WebhookAddressPolicy(allowPrivate: endpoints.settings.allowPrivateAddresses))
        return try await context.transaction(request, on: services, as: identity) { try await endpoints.update(id, changes, in: $0) }.response(.ok)
    }

    @Sendable func delete(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let endpoints = try endpoints()
        let id = try context.pathID("id", naming: "webhook endpoint")
        try await context.transaction(request, on: services, as: identity) { try await endpoints.delete(id, in: $0) }
        return Response(status: .noContent)
    }

    @Sendable func deliveries(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.read)
        let endpoints = try endpoints()
        let id = try context.pathID("id", naming: "webhook endpoint")
        let (limit, after) = try APIKeyRoutes.page(request, limits: services.pageLimits, keys: services.cursorKeys)
        let items = try await context.transaction(request, on: services, as: identity, readOnlySnapshot: true) {
            try await endpoints.deliveries(of: id, limit: limit + 1, after: after, in: $0)
        }
        return APIKeyRoutes.listResponse(Array(items.prefix(limit)), hasMore: items.count > limit, keys: services.cursorKeys, id: \.id)
    }

    @Sendable func delivery(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.read)
        let endpoints = try endpoints()
        let id = try context.pathID("id", naming: "webhook delivery")
        return try await context.read(on: services, as: identity) { try await endpoints.delivery(id, in: $0) }.response(.ok)
    }

    @Sendable func redeliver(_ request: Request, context: TrellisRequestContext) async throws -> Response {
        let identity = try context.authorized(for: Self.write)
        let endpoints = try endpoints()
        let id = try context.pathID("id", naming: "webhook delivery")
        return try await context.transaction(request, on: services, as: identity) { try await endpoints.redeliver(id, in: $0) }
            .response(.accepted)
    }

    /// The body of a create (`url` and `events` required) or an update (any of them), every
    /// problem at once; the URL is checked against the address policy.
    private func changes(_ request: Request, creating: Bool, policy: WebhookAddressPolicy) async throws -> WebhookEndpoints.Changes {
        var body = try await KeyRequestBody.read(request, services: services, allowed: ["url", "events", "description", "enabled"])
        var changes = WebhookEndpoints.Changes()
        changes.url = body.string("url", maxLength: 2048, required: creating)
        changes.events = body.eventTypes("events", required: creating)
        if body.object["description"] == .null {
            changes.description = .some(nil)
        } else if let description = body.string("description", maxLength: 1000) {
            changes.description = .some(description)
        }
        changes.enabled = body.boolean("enabled")
        if let url = changes.url, let problem = await policy.problem(with: url) {
            body.fail("/url", code: .format, message: problem)
        }
        try body.finish()
        return changes
    }
}

extension KeyRequestBody {
    mutating func boolean(_ key: String) -> Bool? {
        switch object[key] {
        case nil, .null?: return nil
        case let .bool(value)?: return value
        default:
            fail("/" + key, code: .type, message: "must be true or false")
            return nil
        }
    }

    /// 1 to 100 event types: `<resource>.<verb>` (`agent.created`), `<resource>.*`, or `*`.
    mutating func eventTypes(_ key: String, required: Bool) -> [String]? {
        guard let value = object[key], value != .null else {
            if required { fail("/" + key, code: .required, message: "is required: an array of event types") }
            return nil
        }
        guard case let .array(items) = value, (1...100).contains(items.count) else {
            fail("/" + key, code: .type, message: "must be an array of 1 to 100 event types")
            return nil
        }
        var types: [String] = []
        for (i, item) in items.enumerated() {
            guard case let .string(text) = item, Self.isEventType(text) else {
                fail("/\(key)/\(i)", code: .format, message: "must be an event type such as agent.created, agent.*, or *")
                continue
            }
            if !types.contains(text) { types.append(text) }
        }
        return types
    }

    static func isEventType(_ text: String) -> Bool {
        if text == "*" { return true }
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, text.utf8.count <= 200 else { return false }
        return parts.allSatisfy { part in
            part == "*" && part.count == 1 || (!part.isEmpty && part.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 95 })
        } && parts[0] != "*"
    }

    mutating func fail(_ path: String, code: FieldProblem.Code, message: String) {
        problems.append(FieldProblem(path: path, code: code, message: message))
    }
}
