import Foundation
import OpenAPIKit
import TrellisContract
import TrellisSchema

/// Builds the OpenAPI 3.1 document that describes a Trellis API: the `/v1` REST paths of every
/// resource (DESIGN.md §5), the shared problem responses, headers and parameters, and the
/// platform endpoints. The same schema always gives the same document, byte for byte.
public enum OpenAPIGenerator {
    /// Builds the OpenAPI 3.1 document for the schema.
    ///
    /// Components and paths are sorted by name, so the result does not depend on the order
    /// of the resources in `schema`.
    public static func document(for schema: SchemaModel) -> OpenAPI.Document {
        let resources = schema.resources.sorted { $0.name < $1.name }

        var paths: [(OpenAPI.Path, OpenAPI.PathItem)] = PlatformPaths.pathItems() + KeyManagementPaths.pathItems(api: schema.api)
            + ProtocolPaths.pathItems(api: schema.api)
        var schemas: [(String, JSONSchema)] = ProblemComponents.schemas() + PlatformPaths.schemas() + KeyManagementPaths.schemas()
            + ProtocolPaths.schemas()
        // One response component per group of problems some operation answers (shared contract).
        var problemSets = OperationContract.handWritten.map(\.problems) + ProtocolEndpoint.all.map(\.problems)
        for resource in resources {
            let resourcePaths = ResourcePaths(resource: resource, schema: schema)
            paths += resourcePaths.pathItems()
            schemas += ResourceSchemas.components(for: resource)
            problemSets += resource.operations.map(resourcePaths.problems)
        }
        let groups = Set(problemSets.flatMap(ProblemComponents.groups)).sorted {
            ProblemComponents.responseName($0) < ProblemComponents.responseName($1)
        }

        let components = OpenAPI.Components(
            schemas: sortedDictionary(schemas.map { (Naming.componentKey($0.0), $0.1) }),
            responses: sortedDictionary(ProblemComponents.responses(groups: groups, api: schema.api).map { (Naming.componentKey($0.name), .response($0.response)) }),
            parameters: sortedDictionary(ProblemComponents.parameters(api: schema.api).map { (Naming.componentKey($0.name), .parameter($0.parameter)) }),
            headers: sortedDictionary(ProblemComponents.headers(api: schema.api).map { (Naming.componentKey($0.name), .header($0.header)) }),
            securitySchemes: [Naming.componentKey(ProblemComponents.securitySchemeName): .securityScheme(ProblemComponents.securityScheme)]
        )

        var pathMap = OpenAPI.PathItem.Map()
        for (path, item) in paths.sorted(by: { $0.0.rawValue < $1.0.rawValue }) {
            pathMap[path] = .pathItem(item)
        }

        let tags = resources.map { resource in
            OpenAPI.Tag(name: resource.name, description: resource.description ?? "\(resource.name) objects at `/v1/\(resource.path)`.")
        } + [OpenAPI.Tag(name: PlatformPaths.tag, description: "Health checks, this document and the docs page; no credential needed.")]
            + KeyManagementPaths.tags + ProtocolPaths.tags

        return OpenAPI.Document(
            openAPIVersion: .v3_1_0,
            info: OpenAPI.Document.Info(
                title: schema.api.title,
                description: schema.api.description,
                version: schema.api.version
            ),
            servers: [thisServer] + schema.api.servers.compactMap(server),
            paths: pathMap,
            components: components,
            security: [[.component(named: ProblemComponents.securitySchemeName): []]],
            tags: tags.sorted { $0.name < $1.name }
        )
    }

    /// Validates it with OpenAPIKit's validator; returns human-readable problems (empty when valid).
    ///
    /// Runs the default validations (unique operationIds and parameters, resolvable
    /// references, …) and treats warnings, such as features newer than OpenAPI 3.1.0, as problems.
    public static func validate(_ document: OpenAPI.Document) -> [String] {
        do {
            _ = try document.validate()
            return []
        } catch let errors as ValidationErrorCollection {
            return errors.values.map(\.description)
        } catch {
            return [String(describing: error)]
        }
    }

    /// Deterministic renderings (sorted keys, same input -> byte-identical output), ending with a newline.
    ///
    /// The document as YAML, with mapping keys sorted.
    public static func yaml(for schema: SchemaModel) throws -> String {
        let text = try YAMLRendering.render(document(for: schema))
        return text.hasSuffix("\n") ? text : text + "\n"
    }

    /// The document as pretty-printed JSON with sorted keys, ending with a newline.
    public static func json(for schema: SchemaModel) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let data = try encoder.encode(document(for: schema))
        let text = String(decoding: data, as: UTF8.self)
        return text.hasSuffix("\n") ? text : text + "\n"
    }

    // MARK: Helpers

    private static func sortedDictionary<Value>(_ pairs: [(OpenAPI.ComponentKey, Value)]) -> OrderedDictionary<OpenAPI.ComponentKey, Value> {
        var result = OrderedDictionary<OpenAPI.ComponentKey, Value>()
        for (key, value) in pairs.sorted(by: { $0.0.rawValue < $1.0.rawValue }) where result[key] == nil {
            result[key] = value
        }
        return result
    }

    /// The server that serves the document, as a relative URL: "Try it out" in `/docs`
    /// then calls whatever host and port the reader loaded the page from.
    static let thisServer = OpenAPI.Server(
        urlTemplate: URLTemplate(rawValue: "/")!, description: "The server this document was served from")

    private static func server(_ entry: ServerEntry) -> OpenAPI.Server? {
        guard let template = URLTemplate(rawValue: entry.url) else { return nil }
        return OpenAPI.Server(urlTemplate: template, description: entry.description)
    }
}
