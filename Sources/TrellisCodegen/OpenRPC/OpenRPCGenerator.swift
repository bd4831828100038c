import Foundation
import TrellisContract
import TrellisSchema

/// Builds the OpenRPC 1.3 document of `POST /v1/rpc`: one method per resource operation
/// (`agents.get`, …), its named params and result, and the errors it can answer with. The
/// schemas are the OpenAPI document's own (`components.schemas`, and the list's query
/// parameters), so the two documents cannot disagree on what a field is. The same schema
/// always gives the same document, byte for byte.
public enum OpenRPCGenerator {
    public static let version = "1.3.2"

    /// Problems an RPC call cannot meet: they belong to HTTP (media type, body size,
    /// credential), to headers RPC has no counterpart for, or to a JSON body RPC parses
    /// as a whole before any method runs.
    static let notOnRPC: Set<String> = [
        ProblemCatalogue.invalidIdempotencyKey.code, ProblemCatalogue.idempotencyKeyReused.code,
        ProblemCatalogue.payloadTooLarge.code, ProblemCatalogue.unsupportedMediaType.code,
        ProblemCatalogue.malformedJSON.code, ProblemCatalogue.preconditionFailed.code,
        ProblemCatalogue.unauthenticated.code,
    ]

    /// The document as pretty-printed JSON with sorted keys, ending with a newline.
    public static func json(for schema: SchemaModel) throws -> String {
        let data = try JSONSerialization.data(
            withJSONObject: try document(for: schema), options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes])
        let text = String(decoding: data, as: UTF8.self)
        return text.hasSuffix("\n") ? text : text + "\n"
    }

    /// The document as JSON-compatible values.
    public static func document(for schema: SchemaModel) throws -> [String: Any] {
        let openAPI = try openAPIValues(schema)
        let components = openAPI["components"] as? [String: Any] ?? [:]
        let schemas = components["schemas"] as? [String: Any] ?? [:]
        let parameters = components["parameters"] as? [String: Any] ?? [:]
        let paths = openAPI["paths"] as? [String: Any] ?? [:]

        var methods: [[String: Any]] = []
        for resource in schema.resources.sorted(by: { $0.path < $1.path }) {
            let restPaths = OpenAPIGenerator.ResourcePaths(resource: resource, schema: schema)
            for operation in ResourceOperation.allCases {
                guard let kind = TrellisSchema.Operation(rawValue: operation.rawValue), resource.operations.contains(kind) else {
                    continue
                }
                var method: [String: Any] = [
                    "name": "\(resource.path).\(operation.rawValue)",
                    "summary": summary(operation, resource),
                    "paramStructure": "by-name",
                    "params": params(operation, resource, schemas: schemas, parameters: parameters, paths: paths),
                    "result": result(operation, resource),
                    "tags": [["name": resource.name]],
                ]
                let kinds = restPaths.problems(kind)
                let errors = kinds.filter { !notOnRPC.contains($0.code) }.map { JSONRPCError.forProblem(code: $0.code) }
                var seen = Set<Int>()
                method["errors"] = ([JSONRPCError.invalidParams] + errors).filter { seen.insert($0.code).inserted }
                    .sorted { $0.code > $1.code }
                    .map { ["code": $0.code, "message": $0.message] }
                let scope = [.list, .get, .search].contains(operation) ? resource.scopes.read : resource.scopes.write
                method["description"] = description(operation, resource) + " Requires scope `\(scope)`."
                if let deprecation = resource.deprecated {
                    method["deprecated"] = true
                    method["x-sunset"] = deprecation.sunset
                }
                methods.append(method)
            }
        }
        if !schema.jobs.isEmpty { methods += jobMethods(schemas: schemas, parameters: parameters, paths: paths) }
        var info: [String: Any] = ["title": schema.api.title + " (JSON-RPC)", "version": schema.api.version]
        info["description"] = ProtocolEndpoint.jsonRPC.description + " Error codes: "
            + JSONRPCError.all.map { "\($0.code) \($0.message.lowercased())" }.joined(separator: ", ")
            + "; `error.data` carries the REST problem's `code`, `status`, `request_id` and, for -32602, `errors` (`{path, code, message}`, paths into `params`)."
        return [
            "openrpc": version,
            "info": info,
            "servers": [["name": "this server", "url": "/v1/rpc"]],
            "methods": methods,
            "components": ["schemas": schemas],
        ]
    }

    /// The OpenAPI document as plain JSON values.
    static func openAPIValues(_ schema: SchemaModel) throws -> [String: Any] {
        let data = Data(try OpenAPIGenerator.json(for: schema).utf8)
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    static func ref(_ name: String) -> [String: Any] { ["$ref": "#/components/schemas/\(name)"] }

    static var idParam: [String: Any] { [
        "name": "id", "required": true, "description": "The object's `id`.",
        "schema": ["type": "string", "format": "uuid"],
    ] }

    /// The members of the OpenAPI component `component` as by-name params.
    static func properties(_ component: String, requiredToo: Bool, schemas: [String: Any]) -> [[String: Any]] {
        guard let object = schemas[component] as? [String: Any], let members = object["properties"] as? [String: Any] else {
            return []
        }
        let required = Set(object["required"] as? [String] ?? [])
        return members.keys.sorted().map { name in
            var param: [String: Any] = ["name": name, "schema": members[name]!, "required": requiredToo && required.contains(name)]
            if let description = (members[name] as? [String: Any])?["description"] { param["description"] = description }
            return param
        }
    }

    /// The query parameters of the REST `GET path`, resolved, without headers.
    static func queryParameters(_ path: String, parameters: [String: Any], paths: [String: Any]) -> [[String: Any]] {
        let operation = (paths[path] as? [String: Any])?["get"] as? [String: Any]
        return (operation?["parameters"] as? [[String: Any]] ?? []).compactMap { entry in
            var parameter = entry
            if let reference = entry["$ref"] as? String {
                parameter = parameters[String(reference.split(separator: "/").last ?? "")] as? [String: Any] ?? [:]
            }
            guard parameter["in"] as? String == "query", let name = parameter["name"] as? String else { return nil }
            var param: [String: Any] = ["name": name, "schema": parameter["schema"] ?? [:], "required": parameter["required"] ?? false]
            if let description = parameter["description"] { param["description"] = description }
            return param
        }
    }

    /// `jobs.enqueue|get|list|cancel|retry`, documented from the REST operations they mirror.
    static func jobMethods(schemas: [String: Any], parameters: [String: Any], paths: [String: Any]) -> [[String: Any]] {
        let mirrors = [("enqueue", "enqueueJob"), ("get", "getJob"), ("list", "listJobs"), ("cancel", "cancelJob"), ("retry", "retryJob")]
        return mirrors.compactMap { name, operationID in
            guard let op = OperationContract.handWritten.first(where: { $0.operationID == operationID }) else { return nil }
            let params: [[String: Any]]
            let result: [String: Any]
            switch name {
            case "enqueue":
                params = properties("EnqueueJob", requiredToo: true, schemas: schemas)
                result = ["name": "job", "schema": ref("Job")]
            case "list":
                params = queryParameters("/v1/jobs", parameters: parameters, paths: paths)
                result = ["name": "page", "schema": ref("JobList")]
            default:
                params = [idParam]
                result = ["name": "job", "schema": ref("Job")]
            }
            let errors = op.problems.filter { !notOnRPC.contains($0.code) }.map { JSONRPCError.forProblem(code: $0.code) }
            var seen = Set<Int>()
            return [
                "name": "jobs." + name, "summary": op.summary, "paramStructure": "by-name", "params": params, "result": result,
                "tags": [["name": "Jobs"]],
                "description": op.description + " Requires scope `\(op.scope)`.",
                "errors": ([JSONRPCError.invalidParams] + errors).filter { seen.insert($0.code).inserted }
                    .sorted { $0.code > $1.code }.map { ["code": $0.code, "message": $0.message] },
            ]
        }
    }

    static func params(
        _ operation: ResourceOperation, _ resource: Resource, schemas: [String: Any], parameters: [String: Any],
        paths: [String: Any]
    ) -> [[String: Any]] {
        func properties(_ component: String, requiredToo: Bool) -> [[String: Any]] {
            Self.properties(component, requiredToo: requiredToo, schemas: schemas)
        }
        func queryParameters(_ path: String) -> [[String: Any]] {
            Self.queryParameters(path, parameters: parameters, paths: paths)
        }
        switch operation {
        case .get, .delete: return [idParam]
        case .create: return properties(resource.name + "Create", requiredToo: true)
        case .update: return [idParam] + properties(resource.name + "Update", requiredToo: false)
        case .list: return queryParameters("/v1/\(resource.path)")
        case .search: return queryParameters("/v1/\(resource.path)/search")
        }
    }

    static func result(_ operation: ResourceOperation, _ resource: Resource) -> [String: Any] {
        switch operation {
        case .get, .create, .update:
            return ["name": resource.name.lowercased(), "schema": ref(resource.name)]
        case .list:
            return ["name": "page", "schema": ref(resource.name + "List")]
        case .search:
            return ["name": "page", "schema": ref(resource.name + "SearchList")]
        case .delete:
            return ["name": "deleted", "schema": [
                "type": "object", "required": ["id", "deleted"], "additionalProperties": false,
                "properties": ["id": ["type": "string", "format": "uuid"], "deleted": ["const": true]],
            ] as [String: Any]]
        }
    }

    static func summary(_ operation: ResourceOperation, _ resource: Resource) -> String {
        switch operation {
        case .list: "List \(resource.path)"
        case .get: "Get \(article(resource.name))"
        case .create: "Create \(article(resource.name))"
        case .update: "Update \(article(resource.name))"
        case .delete: "Delete \(article(resource.name))"
        case .search: "Search \(resource.path)"
        }
    }

    static func description(_ operation: ResourceOperation, _ resource: Resource) -> String {
        let rest = "/v1/\(resource.path)"
        switch operation {
        case .list: return "`GET \(rest)` with its query parameters as params; the result is the same page `{data, next_cursor, has_more}`."
        case .get: return "`GET \(rest)/{id}`: `{\"id\"}`; another workspace's id is -32004, as on REST."
        case .create: return "`POST \(rest)`: params is the body; validation errors are -32602 with the same paths as REST's 422."
        case .update: return "`PATCH \(rest)/{id}`: `{\"id\", …merge patch}`; `null` clears a field."
        case .delete: return "`DELETE \(rest)/{id}`: `{\"id\"}`; the result is `{\"id\", \"deleted\": true}`."
        case .search: return "`GET \(rest)/search`: `{\"q\", \"limit\"?, \"cursor\"?}`; each item has its `rank`."
        }
    }

    static func article(_ name: String) -> String {
        ("AEIOU".contains(name.first ?? "x") ? "an " : "a ") + name
    }
}
