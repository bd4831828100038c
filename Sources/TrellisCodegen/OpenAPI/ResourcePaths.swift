import OpenAPIKit
import TrellisContract
import TrellisSchema

extension OpenAPIGenerator {
    /// The `/v1` paths of one resource, for the operations it lists (DESIGN.md §5, §5.1).
    struct ResourcePaths {
        let resource: Resource
        let api: APISettings
        /// Another table references this one with `restrict` or `no_action`, so a delete can be
        /// refused as `still_referenced`.
        let isReferencedWithoutCascade: Bool

        init(resource: Resource, schema: SchemaModel) {
            self.resource = resource
            api = schema.api
            isReferencedWithoutCascade = schema.resources.contains { other in
                other.fields.contains { $0.references == resource.table && ($0.onDelete ?? .noAction) != .cascade && $0.onDelete != .setNull }
            }
        }

        static let json = OpenAPI.ContentType.json
        static let mergePatch = OpenAPI.ContentType(rawValue: "application/merge-patch+json")!
        /// Query parameters every list has; a `filter` field with one of these names gets no parameter.
        static let reservedQueryNames: Set<String> = ["limit", "cursor", "sort", "created_after", "created_before", "q"]

        var collectionPath: OpenAPI.Path { OpenAPI.Path(["v1"] + resource.path.split(separator: "/").map(String.init)) }
        var itemPath: OpenAPI.Path { OpenAPI.Path(collectionPath.components + ["{id}"]) }
        var searchPath: OpenAPI.Path { OpenAPI.Path(collectionPath.components + ["search"]) }

        /// `Agents` for `agents`, used by list and search operationIds.
        var pluralName: String { Naming.pascalCase(resource.path) }
        var modelName: String { ResourceSchemas.modelName(resource) }

        func has(_ operation: TrellisSchema.Operation) -> Bool { resource.operations.contains(operation) }

        /// The path items of the resource, keyed by path.
        func pathItems() -> [(path: OpenAPI.Path, item: OpenAPI.PathItem)] {
            var result: [(OpenAPI.Path, OpenAPI.PathItem)] = []
            if has(.list) || has(.create) {
                result.append((collectionPath, OpenAPI.PathItem(
                    get: has(.list) ? list() : nil,
                    post: has(.create) ? create() : nil
                )))
            }
            if has(.get) || has(.update) || has(.delete) {
                let id = OpenAPI.Parameter.path(
                    name: "id", schema: .string(format: .uuid),
                    description: "The \(resource.name)'s `id`."
                )
                result.append((itemPath, OpenAPI.PathItem(
                    parameters: [.parameter(id)],
                    get: has(.get) ? get() : nil,
                    delete: has(.delete) ? delete() : nil,
                    patch: has(.update) ? update() : nil
                )))
            }
            if has(.search) {
                result.append((searchPath, OpenAPI.PathItem(get: search())))
            }
            return result
        }

        // MARK: Operations

        func list() -> OpenAPI.Operation {
            let filters = filterFields
            var parameters: OpenAPI.Parameter.Array = [
                ProblemComponents.parameterRef("Limit"),
                ProblemComponents.parameterRef("Cursor"),
                .parameter(sortParameter()),
            ]
            for field in filters {
                parameters.append(.parameter(.query(
                    name: field.name,
                    schema: FieldSchemas.schema(for: field, in: resource, usage: .query),
                    description: "Only objects whose `\(field.name)` equals this value."
                )))
            }
            parameters.append(ProblemComponents.parameterRef("CreatedAfter"))
            parameters.append(ProblemComponents.parameterRef("CreatedBefore"))
            if resource.cache != nil { parameters.append(ProblemComponents.parameterRef("IfNoneMatch")) }
            parameters.append(ProblemComponents.parameterRef("XRequestID"))
            let filterText = filters.isEmpty
                ? ""
                : " Filter by equality on " + filters.map { "`\($0.name)`" }.joined(separator: ", ") + "."
            return operation(
                .list, id: "list\(pluralName)", summary: "List \(resource.path)",
                description: "Lists \(resource.name) objects, newest first by default (`sort=-created_at`, `id` breaks ties). Pages with an opaque keyset `cursor`.\(filterText) `created_after`/`created_before` are exclusive. Unknown or invalid query parameters are a 400 `invalid_query`.",
                parameters: parameters,
                success: (200, success("A page of \(resource.name) objects.", schema: ResourceSchemas.listName(resource),
                                       example: listExample(item: JSONValues.modelExample(for: resource)),
                                       headers: resource.cache == nil ? ["Link"] : ["Link", "ETag", "Cache-Control"]))
            )
        }

        func create() -> OpenAPI.Operation {
            operation(
                .create, id: "create\(resource.name)", summary: "Create \(Naming.withArticle(resource.name))",
                description: "Creates \(Naming.withArticle(resource.name)). Send `Idempotency-Key` to retry safely.",
                parameters: [ProblemComponents.parameterRef("IdempotencyKey"), ProblemComponents.parameterRef("XRequestID")],
                body: body(schema: ResourceSchemas.createName(resource), example: JSONValues.createExample(for: resource), types: [Self.json]),
                success: (201, success("The created \(resource.name).", schema: modelName, example: AnyCodable(JSONValues.modelExample(for: resource)),
                                       headers: ["Location", "ETag", "Idempotent-Replayed"]))
            )
        }

        func get() -> OpenAPI.Operation {
            operation(
                .get, id: "get\(resource.name)", summary: "Get \(Naming.withArticle(resource.name))",
                description: "Returns one \(resource.name) with its `ETag`; with `If-None-Match` set to that `ETag`, a 304 when it has not changed.",
                parameters: [ProblemComponents.parameterRef("IfNoneMatch"), ProblemComponents.parameterRef("XRequestID")],
                success: (200, success("The \(resource.name).", schema: modelName, example: AnyCodable(JSONValues.modelExample(for: resource)), headers: resource.cache == nil ? ["ETag"] : ["ETag", "Cache-Control"]))
            )
        }

        func update() -> OpenAPI.Operation {
            operation(
                .update, id: "update\(resource.name)", summary: "Update \(Naming.withArticle(resource.name))",
                description: "Applies a JSON merge patch (RFC 7396): only the fields sent change, `null` clears an optional field. With `If-Match`, a stale `ETag` is a 412.",
                parameters: [ProblemComponents.parameterRef("IfMatch"), ProblemComponents.parameterRef("XRequestID")],
                body: body(schema: ResourceSchemas.updateName(resource), example: JSONValues.updateExample(for: resource),
                           types: [Self.json, Self.mergePatch]),
                success: (200, success("The updated \(resource.name).", schema: modelName, example: AnyCodable(JSONValues.modelExample(for: resource)), headers: ["ETag"]))
            )
        }

        func delete() -> OpenAPI.Operation {
            operation(
                .delete, id: "delete\(resource.name)", summary: "Delete \(Naming.withArticle(resource.name))",
                description: "Deletes \(Naming.withArticle(resource.name)). With `If-Match`, a stale `ETag` is a 412.",
                parameters: [ProblemComponents.parameterRef("IfMatch"), ProblemComponents.parameterRef("XRequestID")],
                success: (204, OpenAPI.Response(description: "Deleted.", headers: successHeaders([])))
            )
        }

        func search() -> OpenAPI.Operation {
            let weighted = resource.searchFields.map { "`\($0.name)` (\($0.search?.rawValue ?? "D"))" }
            let fieldsText = weighted.isEmpty ? "" : " Searched fields and weights: " + weighted.joined(separator: ", ") + "."
            var item = JSONValues.modelExample(for: resource)
            item["rank"] = AnyCodable(0.0759)
            return operation(
                .search, id: "search\(pluralName)", summary: "Search \(resource.path)",
                description: "Full-text search (`websearch_to_tsquery`), best match first (`ts_rank` with the field weights).\(fieldsText) Pages with `cursor` like a list.",
                parameters: [ProblemComponents.parameterRef("SearchQuery"), ProblemComponents.parameterRef("Limit"),
                             ProblemComponents.parameterRef("Cursor"), ProblemComponents.parameterRef("XRequestID")],
                success: (200, success("A page of matches, each with its `rank`.", schema: ResourceSchemas.searchListName(resource),
                                       example: listExample(item: item), headers: []))
            )
        }

        // MARK: Building blocks

        /// Fields with `filter: true` that can be compared for equality in a query string.
        var filterFields: [Field] {
            resource.fields.filter { field in
                guard field.filter, !Self.reservedQueryNames.contains(field.name) else { return false }
                switch field.type {
                case .object, .array: return false
                default: return true
                }
            }
        }

        /// The allowed sort keys (`created_at` always), each ascending and descending.
        var sortValues: [String] {
            let keys = Set(resource.sort + ["created_at"]).sorted()
            return keys.flatMap { [$0, "-" + $0] }
        }

        func sortParameter() -> OpenAPI.Parameter {
            .query(
                name: "sort",
                schema: .string(allowedValues: sortValues.map { AnyCodable($0) }, defaultValue: AnyCodable("-created_at")),
                description: "Sort key; `-` for descending. `id` is always the tie-breaker."
            )
        }

        private func listExample(item: [String: AnyCodable]) -> AnyCodable {
            AnyCodable([
                "data": AnyCodable([AnyCodable(item)]),
                "next_cursor": AnyCodable(JSONValues.exampleCursor),
                "has_more": AnyCodable(true),
            ])
        }

        private func body(schema: String, example: [String: AnyCodable], types: [OpenAPI.ContentType]) -> OpenAPI.Request {
            var content = OpenAPI.Content.Map()
            for type in types {
                content[type] = .content(.init(schemaReference: .component(named: schema), example: AnyCodable(example)))
            }
            return OpenAPI.Request(content: content, required: true)
        }

        /// Headers of a success response: the common ones, `extra`, and the deprecation headers.
        private func successHeaders(_ extra: [String]) -> OpenAPI.Header.Map {
            var names = extra
            if resource.deprecated != nil {
                names += ["Deprecation", "Sunset", "Link"].filter { !names.contains($0) }
            }
            return ProblemComponents.v1Headers(adding: names)
        }

        private func success(_ description: String, schema: String, example: AnyCodable, headers: [String]) -> OpenAPI.Response {
            OpenAPI.Response(
                description: description,
                headers: successHeaders(headers),
                content: [Self.json: .content(.init(schemaReference: .component(named: schema), example: example))]
            )
        }

        private func operation(
            _ kind: TrellisSchema.Operation, id: String, summary: String, description: String,
            parameters: OpenAPI.Parameter.Array, body: OpenAPI.Request? = nil,
            success: (OpenAPI.Response.StatusCode, OpenAPI.Response)
        ) -> OpenAPI.Operation {
            var responses = OpenAPI.Response.Map()
            responses[success.0] = .response(success.1)
            if kind == .get || (kind == .list && resource.cache != nil) {
                responses[304] = ProblemComponents.responseRef("NotModified")
            }
            for (status, response) in ProblemComponents.errorResponses(problems(kind)) {
                responses[status] = response
            }
            return OpenAPI.Operation(
                tags: [resource.name],
                summary: summary,
                description: description + accessNote(kind) + deprecationNote,
                operationId: id,
                parameters: parameters,
                requestBody: body,
                responses: responses,
                deprecated: resource.deprecated != nil,
                vendorExtensions: resource.deprecated.map { ["x-sunset": AnyCodable($0.sunset)] } ?? [:]
            )
        }

        /// What the runtime answers besides success for `kind` (the shared contract).
        func problems(_ kind: TrellisSchema.Operation) -> [ProblemKind] {
            OperationContract.problems(
                for: ResourceOperation(rawValue: kind.rawValue)!, hasUniqueFields: resource.fields.contains(where: \.unique),
                isReferencedWithoutCascade: isReferencedWithoutCascade)
        }

        private func accessNote(_ kind: TrellisSchema.Operation) -> String {
            let readOnly: Set<TrellisSchema.Operation> = [.list, .get, .search]
            let scope = readOnly.contains(kind) ? resource.scopes.read : resource.scopes.write
            var note = " Requires scope `\(scope)`."
            if resource.tenancy == .global { note += " Platform admin keys only." }
            return note
        }

        private var deprecationNote: String {
            guard let deprecation = resource.deprecated else { return "" }
            var note = " Deprecated: \(resource.name) is sunset on \(deprecation.sunset); responses carry `Deprecation` and `Sunset` headers."
            if let link = deprecation.link { note += " Migration guide: \(link)." }
            return note
        }
    }
}
