import Foundation
import Testing
import TrellisSchema

/// The loader must never crash, whatever the input: these feed it broken variants of the
/// sample files and hostile YAML and only ask for a clean answer.
@Suite("Robustness")
struct RobustnessTests {
    /// SplitMix64, so that every run mutates the same way.
    struct Random {
        var state: UInt64
        mutating func next(_ upperBound: Int) -> Int {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Int((z ^ (z >> 31)) % UInt64(max(1, upperBound)))
        }
    }

    static let sampleFiles: [(String, String)] = {
        let directory = Fixture.schemaDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".yaml") }.sorted().compactMap { name in
            guard let text = try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8) else {
                return nil
            }
            return ("schema/\(name)", text)
        }
    }()

    static let fragments = [
        ":", "-", "[", "]", "{", "}", "\n", " ", "\t", "'", "\"", "#", "&a", "*a", "!!int", "|", ">", "%", "@", "`",
        "0", "-1", "1e999", "null", "~", "yes", "x", "é", "\u{1F600}", ",", "? ", "<<: *a", "\r\n",
    ]

    static func mutate(_ text: String, _ random: inout Random) -> String {
        var characters = Array(text)
        for _ in 0...random.next(3) {
            let position = random.next(characters.count + 1)
            switch random.next(3) {
            case 0 where !characters.isEmpty:
                let end = min(characters.count, position + 1 + random.next(12))
                characters.removeSubrange(min(position, end)..<end)
            case 1:
                characters.insert(contentsOf: Array(fragments[random.next(fragments.count)]), at: position)
            default:
                let source = random.next(characters.count + 1)
                let end = min(characters.count, source + random.next(30))
                characters.insert(contentsOf: characters[min(source, end)..<end], at: min(position, characters.count))
            }
        }
        return String(characters)
    }

    @Test func sampleFilesAreFound() {
        #expect(Self.sampleFiles.map(\.0) == [
            "schema/agents.yaml", "schema/api.yaml", "schema/jobs.yaml", "schema/messages.yaml", "schema/swarms.yaml",
            "schema/tools.yaml",
        ])
    }

    @Test func mutatedSampleFilesNeverCrashTheLoader() {
        var random = Random(state: 2026)
        var failures = 0
        for round in 0..<1200 {
            let (name, text) = Self.sampleFiles[round % Self.sampleFiles.count]
            switch Fixture.parse([(name, Self.mutate(text, &random))]) {
            case .success:
                break
            case let .failure(error):
                failures += 1
                #expect(!error.diagnostics.isEmpty)
                #expect(error.diagnostics.allSatisfy { $0.location != nil })
            }
        }
        #expect(failures > 300)
    }

    @Test func tokenSoupNeverCrashesTheLoader() {
        var random = Random(state: 42)
        let words = SchemaVocabulary.resourceKeys + SchemaVocabulary.fieldKeys + SchemaVocabulary.jobKeys
            + FieldType.names + ["jobs", "schedules", "cron", "job", "Agent", "agents", "*/5 * * * *", "1MiB", "5m"]
        let names = ["schema/agents.yaml", "schema/jobs.yaml", "schema/api.yaml"]
        for round in 0..<600 {
            var text = ""
            for _ in 0..<(5 + random.next(60)) {
                text += random.next(2) == 0 ? words[random.next(words.count)] : Self.fragments[random.next(Self.fragments.count)]
                text += [" ", ": ", "\n  ", ", ", "\n"][random.next(5)]
            }
            if case let .failure(error) = Fixture.parse([(names[round % names.count], text)]) {
                #expect(error.diagnostics.allSatisfy { $0.location != nil })
            }
        }
    }

    @Test func aliasBombIsRejected() {
        var yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
        for level in 1...8 {
            let items = Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ")
            yaml += "a\(level): &a\(level) [\(items)]\n"
        }
        #expect(Fixture.diagnostics([("schema/api.yaml", yaml)]) == [
            "schema/api.yaml:1:1: error: the document has more than 100000 values once aliases are expanded",
        ])
    }

    @Test func anchorsAndAliasesWork() throws {
        let yaml = "resource: Agent\nfields:\n  name: &text { type: string, max_length: 10 }\n  nick: *text\n"
        let agent = try #require(Fixture.resource(yaml))
        #expect(agent.fields.map(\.spec.maxLength) == [10, 10])
    }

    @Test func deepNestingIsAnErrorNotACrash() {
        let deep = String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000)
        let messages = Fixture.diagnostics(agents: "resource: Agent\nfields: \(deep)\n")
        #expect(messages.count == 1)
        #expect(messages.first?.hasPrefix("schema/agents.yaml:2:") == true)
    }

    @Test func oddScalarsAreRejectedCleanly() {
        let yaml = Fixture.agent(fields: """
              a: { type: number, default: .nan }
              b: { type: number, maximum: .inf }
              c: { type: integer, default: 9223372036854775808 }
              ? [complex, key]
              : { type: string }
              d: { type: string, default: !!binary aGVsbG8= }

            """)
        let messages = Fixture.diagnostics(agents: yaml)
        #expect(messages == [
            "schema/agents.yaml:4:31: error: default of 'a' must be a number, found the number .nan",
            "schema/agents.yaml:5:31: error: expected a number for 'maximum', found the number .inf",
            "schema/agents.yaml:6:32: error: default of 'c' must be a 64-bit integer, found the integer 9223372036854775808",
            "schema/agents.yaml:7:5: error: keys in 'fields' must be plain names, found a list",
        ])
    }
}
