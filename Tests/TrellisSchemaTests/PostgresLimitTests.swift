import Foundation
import Testing
import TrellisSchema

/// Schema values that Postgres or Swift cannot hold are diagnostics at load, never a crash
/// of the generator or a name Postgres silently truncates (issue 7 item 4).
@Suite("Postgres identifier and integer limits")
struct PostgresLimitTests {
    @Test func anIntegerBoundOutsideInt64IsAnErrorAtTheBound() {
        let yaml = Fixture.agent(fields: """
              age: { type: integer, minimum: 1e19 }
              size: { type: integer, maximum: -1e19 }

            """)
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:4:34: error: 'minimum' of an integer field must be a 64-bit integer, from -9223372036854775808 to 9223372036854775807; found 1e+19",
            "schema/agents.yaml:5:35: error: 'maximum' of an integer field must be a 64-bit integer, from -9223372036854775808 to 9223372036854775807; found -1e+19",
        ])
    }

    @Test func theInt64ExtremesThemselvesAreAccepted() {
        let yaml = Fixture.agent(fields: "  age: { type: integer, minimum: -9223372036854775808, maximum: 9223372036854775807 }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [])
    }

    @Test func aNumberBoundOf1e19IsFine() {
        let yaml = Fixture.agent(fields: "  score: { type: number, minimum: 1e19 }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [])
    }

    /// A 50-byte table name: itself within 63 bytes, but `<table>_created_at_sort_idx` is not.
    private let longTable = String(repeating: "t", count: 50)

    @Test func aTableWhoseDerivedNamesAreTooLongIsAnErrorAtTheTableForEachName() {
        let yaml = "resource: Agent\ntable: \(longTable)\nfields:\n  name: { type: string, required: true }\n"
        // <table>_pkey (55 bytes) and <table>_name_check (61) fit; the other three are 70 bytes.
        #expect(Fixture.diagnostics(agents: yaml) == ["workspace_id_id_key", "workspace_isolation", "created_at_sort_idx"].map {
            "schema/agents.yaml:2:8: error: the PostgreSQL name '\(longTable)_\($0)' made from table name '\(longTable)' is 70 bytes, "
                + "over PostgreSQL's limit of 63; shorten the name (or set a shorter 'table')"
        })
    }

    @Test func aFieldWhoseConstraintNamesAreTooLongIsAnErrorAtTheField() {
        let field = String(repeating: "f", count: 55)
        let yaml = Fixture.agent(fields: "  \(field): { type: string, unique: true }\n")
        #expect(Fixture.diagnostics(agents: yaml) == [("check", 68), ("key", 66)].map { suffix, bytes in
            "schema/agents.yaml:4:3: error: the PostgreSQL name 'agents_\(field)_\(suffix)' made from table 'agents' and field "
                + "'\(field)' is \(bytes) bytes, over PostgreSQL's limit of 63; shorten the name (or set a shorter 'table')"
        })
    }

    @Test func aDeclaredIndexWhoseNameIsTooLongIsAnErrorAtTheIndex() {
        let yaml = Fixture.agent(fields: """
              first_rather_long_column_name: { type: string }
              second_rather_long_column_name: { type: string }
            indexes:
              - { fields: [first_rather_long_column_name, second_rather_long_column_name] }

            """)
        let name = "agents_first_rather_long_column_name_second_rather_long_column_name_idx"
        #expect(Fixture.diagnostics(agents: yaml) == [
            "schema/agents.yaml:7:5: error: the PostgreSQL name '\(name)' made from table 'agents' and the index's columns is "
                + "\(name.utf8.count) bytes, over PostgreSQL's limit of 63; shorten the name (or set a shorter 'table')",
        ])
    }

    @Test func theSampleSchemaHasNoNameOverTheLimit() throws {
        let files = try ["agents", "messages", "swarms", "tools"].map { name in
            ("schema/\(name).yaml", try String(contentsOf: Fixture.schemaDirectory.appendingPathComponent("\(name).yaml"), encoding: .utf8))
        }
        #expect(Fixture.diagnostics(files) == [])
    }
}
