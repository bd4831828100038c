import Foundation
import Hummingbird
import TrellisContract

/// Where one GraphQL field's service call runs: the request, its caller and the services.
struct GraphQLCall: Sendable {
    let request: Request
    let context: TrellisRequestContext
    let services: TrellisServices
}

/// One resource as the GraphQL adapter sees it: its type name, how its GraphQL field names map
/// to columns, and its service calls, type-erased so the endpoint can hold every resource in
/// one table. Objects come back as JSON objects with the REST keys, written by the model's own
/// `writeJSON`, so GraphQL and REST serve the very same values.
struct GraphQLResourceOps: Sendable {
    let descriptor: ResourceDescriptor
    /// `systemPrompt` -> `system_prompt`, for every column the object type has.
    let columns: [String: String]
    let get: @Sendable (UUID, GraphQLCall) async throws -> JSONObject
    let create: @Sendable (JSONValue, GraphQLCall) async throws -> JSONObject
    let update: @Sendable (UUID, JSONValue, Int64?, GraphQLCall) async throws -> JSONObject
    let delete: @Sendable (UUID, Int64?, GraphQLCall) async throws -> Void

    var typeName: String { descriptor.name }

    init<R: Resource>(_ type: R.Type) {
        let d = R.descriptor
        descriptor = d
        columns = Dictionary(d.columns.map { (GraphQLNames.camel($0.name), $0.name) }, uniquingKeysWith: { a, _ in a })
        let service = ResourceService<R>()
        @Sendable func json(_ object: R) throws -> JSONObject {
            var w = JSONWriter()
            object.writeJSON(to: &w)
            guard case let .object(members) = try JSONValue(parsing: w.bytes) else { return JSONObject() }
            return members
        }
        get = { id, call in
            let identity = try call.context.authorized(for: d.readScope)
            return try json(try await call.context.read(on: call.services, as: identity) { try await service.get(id, in: $0) })
        }
        create = { input, call in
            let identity = try call.context.authorized(for: d.writeScope)
            let value: R.Create
            switch R.Create.validate(input) {
            case let .valid(valid): value = valid
            case let .invalid(problems): throw Problem.validationFailed(problems)
            }
            return try json(try await call.context.transaction(call.request, on: call.services, as: identity) {
                try await service.create(value, in: $0)
            })
        }
        update = { id, input, version, call in
            let identity = try call.context.authorized(for: d.writeScope)
            let patch: R.Patch
            switch R.Patch.validate(input) {
            case let .valid(valid): patch = valid
            case let .invalid(problems): throw Problem.validationFailed(problems)
            }
            return try json(try await call.context.transaction(call.request, on: call.services, as: identity) {
                try await service.update(id, patch, expectedVersion: version, in: $0)
            })
        }
        delete = { id, version, call in
            let identity = try call.context.authorized(for: d.writeScope)
            try await call.context.transaction(call.request, on: call.services, as: identity) {
                try await service.delete(id, expectedVersion: version, in: $0)
            }
        }
    }

    /// A GraphQL input object (camelCase keys) as the REST body the validators read.
    func restInput(_ input: JSONValue) -> JSONValue {
        guard case let .object(members) = input else { return input }
        return .object(JSONObject(members.members.map { JSONObject.Member(key: columns[$0.key] ?? $0.key, value: $0.value) }))
    }

    /// A REST path (`/system_prompt/2`) as a path into the GraphQL input (`/systemPrompt/2`).
    func graphQLPath(_ path: String) -> String {
        let parts = path.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count > 1 else { return path }
        let rest = parts[1].split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let first = GraphQLNames.camel(String(rest[0]))
        return "/" + first + (rest.count > 1 ? "/" + rest[1] : "")
    }
}

extension GraphQLNames {
    /// The Relay global id of an object: base64url of `<Type>:<uuid>`.
    static func nodeID(type: String, id: String) -> String {
        Base64URL.encode(Array((type + nodeIDSeparator + id).utf8))
    }

    /// The type and id a global id names, when it is one.
    static func decodeNodeID(_ text: String) -> (type: String, id: UUID)? {
        guard text.utf8.count <= 200, let bytes = Base64URL.decode(Substring(text)) else { return nil }
        let decoded = String(decoding: bytes, as: UTF8.self)
        guard let separator = decoded.firstIndex(of: Character(nodeIDSeparator)),
            let id = UUID(uuidString: String(decoded[decoded.index(after: separator)...]))
        else { return nil }
        return (String(decoded[..<separator]), id)
    }
}
