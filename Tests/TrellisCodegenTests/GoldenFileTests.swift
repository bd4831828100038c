import Foundation
import Testing
import TrellisSchema

@testable import TrellisCodegen

/// Where the frozen sample schema and the golden files live.
///
/// The fixture schema is a copy of the repository's `schema/` taken when the golden files were
/// made, so editing the sample domain does not churn these tests. Both folders are resources of
/// the test target (read from the bundle); updates are written to the source folder.
enum CodegenFixtures {
    static let updateVariable = "TRELLIS_UPDATE_GOLDEN"

    static var isUpdating: Bool { ProcessInfo.processInfo.environment[updateVariable] == "1" }

    /// `Tests/TrellisCodegenTests/Fixtures/schema` as copied into the test bundle.
    static func schemaDirectory() throws -> URL {
        let fixtures = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "Fixtures is not a resource")
        return fixtures.appendingPathComponent("schema", isDirectory: true)
    }

    /// `Tests/TrellisCodegenTests/Golden` as copied into the test bundle.
    static func bundledGoldenDirectory() throws -> URL {
        try #require(Bundle.module.url(forResource: "Golden", withExtension: nil), "Golden is not a resource")
    }

    /// `Tests/TrellisCodegenTests/Golden` in the source tree, where updates are written.
    static var sourceGoldenDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Golden", isDirectory: true)
    }

    /// The pipeline's output for the fixture schema, computed once.
    static let output: Result<GeneratorPipeline.Output, any Error> = Result {
        guard let fixtures = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw MissingResource(name: "Fixtures")
        }
        return try GeneratorPipeline.generate(
            schemaDirectory: fixtures.appendingPathComponent("schema", isDirectory: true), displayPrefix: "schema")
    }

    struct MissingResource: Error, CustomStringConvertible {
        var name: String
        var description: String { "\(name) is not a resource of the test bundle" }
    }

    /// The outputs compared whole with committed golden files: the Swift files, and the OpenAPI
    /// document in both renderings, and the OpenRPC document. `GeneratedOpenAPI.swift` only embeds those documents, so
    /// it is checked against them instead of being stored a second time.
    static let goldenFiles = OutputFiles.swiftFiles.filter { $0 != "GeneratedOpenAPI.swift" } + ["openapi.yaml", "openapi.json", "openrpc.json", "schema.graphql"]

    /// The pipeline's output named `name` (a Swift file or `openapi.yaml` / `openapi.json`).
    static func generated(_ name: String, in output: GeneratorPipeline.Output) -> String? {
        switch name {
        case "openapi.yaml": output.openAPIYAML
        case "openapi.json": output.openAPIJSON
        case "openrpc.json": output.openRPCJSON
        case "schema.graphql": output.graphQLSDL
        default: output.swiftFiles.first { $0.name == name }?.contents
        }
    }

    /// A failure message naming the first differing line.
    static func mismatch(name: String, expected: String, actual: String) -> String {
        let expectedLines = expected.split(separator: "\n", omittingEmptySubsequences: false)
        let actualLines = actual.split(separator: "\n", omittingEmptySubsequences: false)
        var index = 0
        while index < expectedLines.count, index < actualLines.count, expectedLines[index] == actualLines[index] { index += 1 }
        let want = index < expectedLines.count ? "  " + expectedLines[index] : "  (end of file)"
        let got = index < actualLines.count ? "  " + actualLines[index] : "  (end of file)"
        return """
            \(name) differs from Golden/\(name).golden at line \(index + 1):
            golden:
            \(want)
            generated:
            \(got)
            If the change is intended, refresh the golden files: set \(updateVariable)=1 and rerun, e.g.
              \(updateVariable)=1 swift test --filter GoldenFileTests
            then review the diff of Tests/TrellisCodegenTests/Golden/ before committing.
            """
    }

    /// The body of `static let <name> = #"""…"""#` in a generated file, without the final newline.
    static func rawLiteralBody(named name: String, in text: String) -> String? {
        guard let start = text.range(of: "static let \(name) = ") else { return nil }
        var hashes = ""
        var index = start.upperBound
        while index < text.endIndex, text[index] == "#" {
            hashes.append("#")
            index = text.index(after: index)
        }
        let opening = "\"\"\"\n"
        guard text[index...].hasPrefix(opening) else { return nil }
        let bodyStart = text.index(index, offsetBy: opening.count)
        guard let end = text.range(of: "\n\"\"\"" + hashes, range: bodyStart..<text.endIndex) else { return nil }
        return String(text[bodyStart..<end.lowerBound])
    }
}

@Suite("Swift generator: golden files")
struct GoldenFileTests {
    @Test("each generated file matches its committed golden file", arguments: CodegenFixtures.goldenFiles)
    func matchesGolden(_ name: String) throws {
        let output = try CodegenFixtures.output.get()
        let actual = try #require(CodegenFixtures.generated(name, in: output), "\(name) was not generated")

        if CodegenFixtures.isUpdating {
            let directory = CodegenFixtures.sourceGoldenDirectory
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Data(actual.utf8).write(to: directory.appendingPathComponent(name + ".golden"), options: .atomic)
            return
        }

        let goldenURL = try CodegenFixtures.bundledGoldenDirectory().appendingPathComponent(name + ".golden")
        guard let data = FileManager.default.contents(atPath: goldenURL.path) else {
            Issue.record("""
                Golden/\(name).golden is missing. Create it: set \(CodegenFixtures.updateVariable)=1 and rerun, e.g.
                  \(CodegenFixtures.updateVariable)=1 swift test --filter GoldenFileTests
                """)
            return
        }
        let expected = String(decoding: data, as: UTF8.self)
        if actual != expected {
            Issue.record(Comment(rawValue: CodegenFixtures.mismatch(name: name, expected: expected, actual: actual)))
        }
    }

    /// What the server serves (the literals in `GeneratedOpenAPI.swift`) is the document the
    /// CLI commits (`output.openAPIYAML`), both pinned by the golden `openapi.*` files above.
    @Test("GeneratedOpenAPI.swift embeds exactly the golden-pinned documents")
    func openAPIFileEmbedsTheDocument() throws {
        let output = try CodegenFixtures.output.get()
        let file = try #require(output.swiftFiles.first { $0.name == "GeneratedOpenAPI.swift" }?.contents)
        let embeddedYAML = try #require(CodegenFixtures.rawLiteralBody(named: "yaml", in: file), "no yaml literal")
        let embeddedJSON = try #require(CodegenFixtures.rawLiteralBody(named: "json", in: file), "no json literal")
        let embeddedRPC = try #require(CodegenFixtures.rawLiteralBody(named: "openRPC", in: file), "no openRPC literal")
        let embeddedSDL = try #require(CodegenFixtures.rawLiteralBody(named: "graphQL", in: file), "no graphQL literal")
        // The literal drops the document's final newline.
        #expect(embeddedYAML + "\n" == output.openAPIYAML)
        #expect(embeddedJSON + "\n" == output.openAPIJSON)
        #expect(embeddedRPC + "\n" == output.openRPCJSON)
        #expect(embeddedSDL + "\n" == output.graphQLSDL)
        #expect(file.hasPrefix(SwiftGenerator.header))
        #expect(file.contains("enum GeneratedOpenAPI {"))
    }

    @Test("the golden folder holds exactly one golden file per compared Swift file")
    func noStrayGoldenFiles() throws {
        guard !CodegenFixtures.isUpdating else { return }
        let directory = try CodegenFixtures.bundledGoldenDirectory()
        let present = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .filter { $0.hasSuffix(".golden") }.sorted()
        #expect(present == CodegenFixtures.goldenFiles.map { $0 + ".golden" }.sorted())
    }

    @Test("the fixture schema is the complete sample domain")
    func fixtureIsComplete() throws {
        let schema = try SchemaLoader.load(directory: try CodegenFixtures.schemaDirectory())
        #expect(schema.resources.map(\.name) == ["Agent", "Message", "Swarm", "Tool"])
        #expect(schema.jobs.map(\.name).sorted() == ["agents.generate_summary", "demo.wait", "messages.cleanup", "messages.reindex", "swarms.summarize"])
    }

    @Test("the mismatch message names the first differing line and how to refresh")
    func mismatchMessage() {
        let message = CodegenFixtures.mismatch(name: "X.swift", expected: "a\nb\nc\n", actual: "a\nB\nc\n")
        #expect(message.contains("X.swift differs from Golden/X.swift.golden at line 2:"))
        #expect(message.contains("golden:\n  b\ngenerated:\n  B"))
        #expect(message.contains("TRELLIS_UPDATE_GOLDEN=1"))
        let shorter = CodegenFixtures.mismatch(name: "Y.swift", expected: "a\n", actual: "a\nextra\n")
        #expect(shorter.contains("at line 2:"))
        #expect(shorter.contains("golden:\n  \ngenerated:\n  extra"))
    }
}
