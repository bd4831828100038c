import Foundation
import Yams

/// Reads `schema/` into a ``SchemaModel``. Entry point of the schema stage.
///
/// Every file is read and every problem is collected before failing, so one build shows all
/// schema errors as `schema/agents.yaml:4:20: error: unknown field type 'strng' (did you mean 'string'?)`.
public enum SchemaLoader {
    /// Loads every `*.yaml` file in `directory` (not recursive). `displayPrefix` is how file
    /// names appear in diagnostics, e.g. `schema/agents.yaml`.
    /// - Throws: ``SchemaError`` with every problem found, never just the first.
    public static func load(directory: URL, displayPrefix: String = "schema") throws -> SchemaModel {
        let diagnostics = DiagnosticCollector()
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
        } catch {
            throw SchemaError(diagnostics: [
                .error("cannot read schema directory '\(directory.path)': \(error.localizedDescription)", at: nil),
            ])
        }
        var files: [(name: String, contents: String)] = []
        for name in names where !name.hasPrefix(".") {
            let displayName = displayPrefix.isEmpty ? name : "\(displayPrefix.trimmingSuffix("/"))/\(name)"
            let start = SourceLocation(file: displayName, line: 1, column: 1)
            if name.hasSuffix(".yml") {
                diagnostics.error("schema files must end in '.yaml'; rename this file to '\(name.dropLast(4)).yaml'",
                                  at: start)
                continue
            }
            guard name.hasSuffix(".yaml") else { continue }
            do {
                let data = try Data(contentsOf: directory.appendingPathComponent(name))
                guard let contents = String(data: data, encoding: .utf8) else {
                    diagnostics.error("file is not valid UTF-8 text", at: start)
                    continue
                }
                files.append((displayName, contents))
            } catch {
                diagnostics.error("cannot read file: \(error.localizedDescription)", at: start)
            }
        }
        return try parse(files: files, diagnostics: diagnostics).get()
    }

    /// Parses in-memory files: `[(displayName, yamlText)]`. Used by tests and by `load(directory:)`.
    /// A file whose base name is `api.yaml` or `jobs.yaml` holds those settings; every other file
    /// is one resource.
    /// - Returns: the model with every default filled in, or every problem sorted by location.
    public static func parse(files: [(name: String, contents: String)]) -> Result<SchemaModel, SchemaError> {
        parse(files: files, diagnostics: DiagnosticCollector())
    }

    private static func parse(
        files: [(name: String, contents: String)], diagnostics: DiagnosticCollector
    ) -> Result<SchemaModel, SchemaError> {
        var api = APISettings()
        var jobs: [JobType] = []
        var schedules: [Schedule] = []
        var resources: [ParsedResource] = []
        for file in files.sorted(by: { $0.name < $1.name }) {
            let reader = NodeReader(file: file.name, diagnostics: diagnostics)
            switch file.name.split(separator: "/").last.map(String.init) ?? file.name {
            case "api.yaml":
                guard let root = YAMLDocument.root(of: file.contents, expected: "API settings", reader: reader)
                else { continue }
                api = APISettingsParser(reader: reader).parse(root)
            case "jobs.yaml":
                guard let root = YAMLDocument.root(of: file.contents, expected: "'jobs:' and 'schedules:'",
                                                   reader: reader)
                else { continue }
                (jobs, schedules) = JobsParser(reader: reader).parse(root)
            default:
                guard let root = YAMLDocument.root(
                    of: file.contents, expected: "a resource definition with 'resource:' and 'fields:'", reader: reader)
                else { continue }
                if let resource = ResourceParser(reader: reader).parse(root) { resources.append(resource) }
            }
        }
        CrossChecks(diagnostics: diagnostics).run(resources)
        for resource in resources { IdentifierLengthCheck(diagnostics: diagnostics).run(resource) }
        if diagnostics.hasErrors {
            return .failure(SchemaError(diagnostics: diagnostics.sorted))
        }
        let model = SchemaModel(
            api: api, resources: resources.map(\.resource).sorted { $0.name < $1.name }, jobs: jobs,
            schedules: schedules)
        return .success(model)
    }
}

private extension String {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
