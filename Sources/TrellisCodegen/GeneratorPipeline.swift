import Foundation
import TrellisSchema

/// The whole schema -> code path: load and validate `schema/`, build the OpenAPI document,
/// render the Swift files, and write only what changed.
public enum GeneratorPipeline {
    public enum Failure: Error, CustomStringConvertible {
        case schema(SchemaError)
        case openAPI([String])
        case io(String)

        public var description: String {
            switch self {
            case let .schema(error): return error.description
            case let .openAPI(problems):
                return problems.map { "error: generated OpenAPI document is invalid: \($0)" }.joined(separator: "\n")
            case let .io(message): return "error: \(message)"
            }
        }
    }

    /// Everything generated from one schema, in memory.
    public struct Output: Sendable {
        public var swiftFiles: [(name: String, contents: String)]
        public var openAPIYAML: String
        public var openAPIJSON: String
        /// The OpenRPC document of `POST /v1/rpc` (committed at `openapi/openrpc.json`).
        public var openRPCJSON: String
        /// The GraphQL schema of `/v1/graphql` (committed at `openapi/schema.graphql`).
        public var graphQLSDL: String
    }

    public static func generate(schemaDirectory: URL, displayPrefix: String = "schema") throws(Failure) -> Output {
        let schema: SchemaModel
        do {
            schema = try SchemaLoader.load(directory: schemaDirectory, displayPrefix: displayPrefix)
        } catch let error as SchemaError {
            throw .schema(error)
        } catch {
            throw .io("cannot read \(displayPrefix): \(error)")
        }
        return try generate(schema)
    }

    public static func generate(_ schema: SchemaModel) throws(Failure) -> Output {
        let problems = OpenAPIGenerator.validate(OpenAPIGenerator.document(for: schema))
        guard problems.isEmpty else { throw .openAPI(problems) }
        let yaml: String
        let json: String
        let openRPC: String
        do {
            yaml = try OpenAPIGenerator.yaml(for: schema)
            json = try OpenAPIGenerator.json(for: schema)
            openRPC = try OpenRPCGenerator.json(for: schema)
        } catch {
            throw .openAPI(["\(error)"])
        }
        let sdl = GraphQLSDLGenerator.sdl(for: schema)
        let files = SwiftGenerator.generate(schema, openAPIJSON: json, openAPIYAML: yaml, openRPCJSON: openRPC, graphQLSDL: sdl)
        return Output(swiftFiles: files, openAPIYAML: yaml, openAPIJSON: json, openRPCJSON: openRPC, graphQLSDL: sdl)
    }

    /// Writes `contents` unless the file already holds exactly that, so an unchanged schema
    /// does not make SwiftPM recompile the app.
    public static func writeIfChanged(_ contents: String, to url: URL) throws(Failure) {
        let data = Data(contents.utf8)
        if let existing = try? Data(contentsOf: url), existing == data { return }
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try data.write(to: url, options: .atomic)
        } catch {
            throw .io("cannot write \(url.path): \(error.localizedDescription)")
        }
    }
}
