import Foundation
import Testing
import TrellisSchema

@Suite("Whole-file problems")
struct FileErrorTests {
    @Test func emptyFileIsAnErrorNamingTheFile() {
        #expect(Fixture.diagnostics([("schema/agents.yaml", "")]) == [
            "schema/agents.yaml:1:1: error: file is empty; expected a resource definition with 'resource:' and 'fields:'",
        ])
        #expect(Fixture.diagnostics([("schema/jobs.yaml", "# only a comment\n")]) == [
            "schema/jobs.yaml:1:1: error: file is empty; expected 'jobs:' and 'schedules:'",
        ])
    }

    @Test func topLevelListIsAnError() {
        #expect(Fixture.diagnostics([("schema/agents.yaml", "- resource: Agent\n- fields: {}\n")]) == [
            "schema/agents.yaml:1:1: error: the top level of schema/agents.yaml must be a mapping of keys, found a list",
        ])
        #expect(Fixture.diagnostics([("schema/api.yaml", "just text\n")]) == [
            "schema/api.yaml:1:1: error: the top level of schema/api.yaml must be a mapping of keys, found the string 'just text'",
        ])
    }

    @Test func unclosedBracketReportsYamlPosition() {
        #expect(Fixture.diagnostics(agents: "resource: Agent\nsort: [created_at, name\nfields: {}\n") == [
            "schema/agents.yaml:3:7: error: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence that starts at line 2, column 7)",
        ])
    }

    @Test func duplicateKeyIsReportedAtItsSecondOccurrence() {
        let yaml = """
            resource: Agent
            fields:
              name: { type: string }
              role: { type: string }
              name: { type: text }
            """
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:5:3: error: duplicate key 'name' (first at line 3); each key may appear only once",
        ])
    }

    @Test func secondDocumentIsAnError() {
        #expect(Fixture.diagnostics(agents: "resource: Agent\n---\nresource: Swarm\n") == [
            "schema/agents.yaml:2:1: error: invalid YAML: a schema file must hold a single YAML document, but found another one",
        ])
    }

    @Test func badFilesDoNotHideErrorsInOtherFiles() {
        let messages = Fixture.diagnostics([
            ("schema/a.yaml", ""),
            ("schema/b.yaml", "[1, 2"),
            ("schema/c.yaml", Fixture.agent(fields: "  role: { type: strng }\n")),
        ])
        #expect(messages.count == 3)
        #expect(messages.map { $0.prefix(14) } == ["schema/a.yaml:", "schema/b.yaml:", "schema/c.yaml:"])
    }

    @Test func loadReadsOnlyYamlFilesAndRejectsYml() throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("trellis-schema-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try Fixture.agent(fields: "").write(to: directory.appendingPathComponent("agents.yaml"), atomically: true, encoding: .utf8)
        try "notes".write(to: directory.appendingPathComponent("README.md"), atomically: true, encoding: .utf8)
        #expect(try SchemaLoader.load(directory: directory).resources.map(\.name) == ["Agent"])

        try "title: x\n".write(to: directory.appendingPathComponent("api.yml"), atomically: true, encoding: .utf8)
        let error = #expect(throws: SchemaError.self) { try SchemaLoader.load(directory: directory, displayPrefix: "defs") }
        #expect(error?.description == "defs/api.yml:1:1: error: schema files must end in '.yaml'; rename this file to 'api.yaml'")
    }

    @Test func missingDirectoryThrowsOneDiagnostic() {
        let missing = URL(fileURLWithPath: "/nonexistent/trellis/schema")
        let error = #expect(throws: SchemaError.self) { try SchemaLoader.load(directory: missing) }
        #expect(error?.diagnostics.count == 1)
        #expect(error?.description.hasPrefix("error: cannot read schema directory '/nonexistent/trellis/schema'") == true)
    }
}
