import Testing
import TrellisContract
@testable import TrellisSchema

@Suite("Small value syntaxes")
struct ValueSyntaxTests {
    @Test(arguments: [("120s", 120), ("5m", 300), ("1h", 3600), ("2d", 172_800), ("45", 45), ("0s", 0)])
    func durationsParse(text: String, seconds: Int) {
        #expect(ValueSyntax.duration(text) == seconds)
    }

    @Test(arguments: ["", "5 minutes", "1w", "-5s", "1.5h", "s", "99999999999999999999d"])
    func malformedDurationsAreRejected(text: String) {
        #expect(ValueSyntax.duration(text) == nil)
    }

    @Test func durationsWorkInEveryDurationKey() throws {
        let resource = try #require(Fixture.resource(Fixture.agent(fields: "cache: { ttl: 90, stale_while_revalidate: 2m }\n")))
        #expect(resource.cache == CachePolicy(ttl: 90, staleWhileRevalidate: 120))
    }

    @Test(arguments: [
        ("1MiB", 1_048_576), ("512KiB", 524_288), ("2MB", 2_000_000), ("1GiB", 1_073_741_824), ("10 kb", 10_000), ("7", 7),
    ])
    func byteSizesParse(text: String, bytes: Int) {
        #expect(ValueSyntax.byteSize(text) == bytes)
    }

    @Test(arguments: ["", "MiB", "1 MiBB", "-1MiB", "1e3", "99999999999GiB"])
    func malformedByteSizesAreRejected(text: String) {
        #expect(ValueSyntax.byteSize(text) == nil)
    }

    @Test(arguments: [
        ("10", 10), ("-3", -3), ("1_000", 1000), ("0x1F", 31), ("0o17", 15), ("0b101", 5), ("1:30", 90),
    ])
    func yamlIntegersParse(text: String, value: Int) {
        #expect(ValueSyntax.integer(text) == value)
    }

    @Test func hugeIntegersAreRejectedWithoutTrapping() {
        #expect(ValueSyntax.integer("999999999999999999:59") == nil)
        #expect(ValueSyntax.integer("999999999999999999999") == nil)
        #expect(Fixture.diagnostics(agents: Fixture.agent(fields: "  bio: { type: text, max_length: 999999999999999999:59 }\n")) == [
            "schema/agents.yaml:4:34: error: integer 999999999999999999:59 for 'max_length' is out of range",
        ])
    }

    @Test(arguments: [
        ("Agent", "agents"), ("Swarm", "swarms"), ("Message", "messages"), ("Category", "categories"),
        ("Box", "boxes"), ("APIKey", "api_keys"), ("Key", "keys"), ("SwarmMember", "swarm_members"),
        ("Status", "statuses"), ("Branch", "branches"), ("OAuth2Client", "o_auth2_clients"),
    ])
    func defaultTableIsTheSnakeCasePlural(resource: String, table: String) {
        #expect(Naming.defaultTable(forResource: resource) == table)
    }

    @Test(arguments: ["2026-01-31", "2024-02-29"])
    func validDates(text: String) { #expect(ValueSyntax.isDate(text)) }

    @Test(arguments: ["2026-02-29", "2026-13-01", "26-01-01", "2026-1-1"])
    func invalidDates(text: String) { #expect(!ValueSyntax.isDate(text)) }

    @Test func dateTimesNeedAZone() {
        #expect(ValueSyntax.isDateTime("2026-01-31T12:00:00Z"))
        #expect(ValueSyntax.isDateTime("2026-01-31T12:00:00.250+02:00"))
        #expect(!ValueSyntax.isDateTime("2026-01-31T12:00:00"))
        #expect(!ValueSyntax.isDateTime("2026-02-31T12:00:00Z"))
    }

    @Test func suggestionsFindTyposButNotUnrelatedWords() {
        #expect(Suggestions.closest(to: "strng", in: FieldType.names) == "string")
        #expect(Suggestions.closest(to: "intger", in: FieldType.names) == "integer")
        #expect(Suggestions.closest(to: "gte", in: ["list", "get"]) == "get")
        #expect(Suggestions.closest(to: "max_len", in: SchemaVocabulary.fieldKeys) == "max_length")
        #expect(Suggestions.closest(to: "a", in: ["A", "B"]) == "A")
        #expect(Suggestions.closest(to: "E", in: ["A", "B"]) == nil)
        #expect(Suggestions.closest(to: "colour", in: FieldType.names) == nil)
        #expect(Suggestions.editDistance("ab", "ba") == 1)
        #expect(Suggestions.editDistance("", "abc") == 3)
    }
}
