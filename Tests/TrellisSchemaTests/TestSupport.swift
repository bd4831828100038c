import Foundation
import TrellisSchema

/// Helpers that run the loader on inline YAML.
enum Fixture {
    static func parse(_ files: [(String, String)]) -> Result<SchemaModel, SchemaError> {
        SchemaLoader.parse(files: files.map { (name: $0.0, contents: $0.1) })
    }

    /// Every diagnostic, printed as `file:line:column: error: message`; empty when the schema loads.
    static func diagnostics(_ files: [(String, String)]) -> [String] {
        switch parse(files) {
        case .success: return []
        case let .failure(error): return error.diagnostics.map(\.description)
        }
    }

    /// Diagnostics of one resource file, `schema/agents.yaml`.
    static func diagnostics(agents yaml: String) -> [String] {
        diagnostics([("schema/agents.yaml", yaml)])
    }

    /// The model of one resource file, nil (after printing why) when it does not load.
    static func resource(_ yaml: String, file: String = "schema/agents.yaml") -> Resource? {
        switch parse([(file, yaml)]) {
        case let .success(model): return model.resources.first
        case let .failure(error):
            print(error)
            return nil
        }
    }

    /// The model of a set of files, nil (after printing why) when it does not load.
    static func model(_ files: [(String, String)]) -> SchemaModel? {
        switch parse(files) {
        case let .success(model): return model
        case let .failure(error):
            print(error)
            return nil
        }
    }

    /// The package's `schema/` directory, found from this file's path.
    static var schemaDirectory: URL {
        URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent()  // TrellisSchemaTests
            .deletingLastPathComponent()  // Tests
            .deletingLastPathComponent()  // package root
            .appendingPathComponent("schema")
    }

    /// A minimal valid resource with one extra line of fields appended under `fields:`.
    static func agent(fields: String) -> String {
        "resource: Agent\nfields:\n  name: { type: string, required: true }\n" + fields
    }
}
