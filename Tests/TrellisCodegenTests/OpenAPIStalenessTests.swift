import Foundation
import Testing
import TrellisSchema

@testable import TrellisCodegen

@Suite("Committed OpenAPI, OpenRPC and GraphQL documents")
struct OpenAPIStalenessTests {
    static let staleMessage = "openapi/openapi.yaml is stale: run `swift run trellis-codegen openapi schema openapi/openapi.yaml`"

    /// The package root, found from this file: Tests/TrellisCodegenTests/<this file>.
    static var repositoryRoot: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TrellisCodegenTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
    }

    @Test("openapi/openapi.yaml is what the generator makes from schema/")
    func committedDocumentIsFresh() throws {
        let root = Self.repositoryRoot
        let schema = try SchemaLoader.load(directory: root.appendingPathComponent("schema", isDirectory: true))
        let expected = try OpenAPIGenerator.yaml(for: schema)
        let committed = FileManager.default.contents(atPath: root.appendingPathComponent("openapi/openapi.yaml").path)
            .map { String(decoding: $0, as: UTF8.self) }
        if committed != expected {
            Issue.record(Comment(rawValue: Self.staleMessage))
        }
    }

    @Test("openapi/openrpc.json is what the generator makes from schema/")
    func committedOpenRPCDocumentIsFresh() throws {
        let root = Self.repositoryRoot
        let schema = try SchemaLoader.load(directory: root.appendingPathComponent("schema", isDirectory: true))
        let expected = try OpenRPCGenerator.json(for: schema)
        let committed = FileManager.default.contents(atPath: root.appendingPathComponent("openapi/openrpc.json").path)
            .map { String(decoding: $0, as: UTF8.self) }
        if committed != expected {
            Issue.record("openapi/openrpc.json is stale: run `swift run trellis-codegen openrpc schema openapi/openrpc.json`")
        }
    }

    @Test("openapi/schema.graphql is what the generator makes from schema/")
    func committedGraphQLSchemaIsFresh() throws {
        let root = Self.repositoryRoot
        let schema = try SchemaLoader.load(directory: root.appendingPathComponent("schema", isDirectory: true))
        let committed = FileManager.default.contents(atPath: root.appendingPathComponent("openapi/schema.graphql").path)
            .map { String(decoding: $0, as: UTF8.self) }
        if committed != GraphQLSDLGenerator.sdl(for: schema) {
            Issue.record("openapi/schema.graphql is stale: run `swift run trellis-codegen graphql schema openapi/schema.graphql`")
        }
    }
}
