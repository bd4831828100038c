import Testing
import TrellisSchema

@Suite("Checks across files")
struct CrossFileTests {
    let swarms = ("schema/swarms.yaml", "resource: Swarm\nfields:\n  name: { type: string }\n")

    @Test func referenceToAnUnknownTableSuggestsTheClosestTable() {
        let agents = ("schema/agents.yaml", "resource: Agent\nfields:\n  swarm_id: { type: uuid, references: swarm }\n")
        #expect(Fixture.diagnostics([agents, swarms]) == [
            "schema/agents.yaml:3:39: error: field 'swarm_id' references unknown table 'swarm' (did you mean 'swarms'?)",
        ])
        let byName = ("schema/agents.yaml", "resource: Agent\nfields:\n  swarm_id: { type: uuid, references: Swarm }\n")
        #expect(Fixture.diagnostics([byName, swarms]) == [
            "schema/agents.yaml:3:39: error: field 'swarm_id' references unknown table 'Swarm' (did you mean 'swarms'?)",
        ])
    }

    @Test func referencesToAnotherResourceLoad() throws {
        let agents = ("schema/agents.yaml", "resource: Agent\nfields:\n  swarm_id: { type: uuid, references: swarms }\n")
        let model = try #require(Fixture.model([agents, swarms]))
        #expect(model.resource(table: "agents")?.field(named: "swarm_id")?.references == "swarms")
    }

    @Test func duplicateTableIsReportedAtTheSecondFile() {
        let other = ("schema/teams.yaml", "resource: Team\ntable: swarms\nfields:\n  name: { type: string }\n")
        #expect(Fixture.diagnostics([swarms, other]) == [
            "schema/teams.yaml:2:8: error: duplicate table 'swarms': already used by resource 'Swarm' in schema/swarms.yaml",
        ])
    }

    @Test func duplicatePathIsReportedAtThePath() {
        let other = ("schema/teams.yaml", "resource: Team\npath: swarms\nfields:\n  name: { type: string }\n")
        #expect(Fixture.diagnostics([swarms, other]) == [
            "schema/teams.yaml:2:7: error: duplicate path 'swarms': already used by resource 'Swarm' in schema/swarms.yaml",
        ])
    }

    @Test func duplicateResourceNameIsReportedOnce() {
        let copy = ("schema/swarms_copy.yaml", "resource: Swarm\ntable: swarm_copies\nfields:\n  name: { type: string }\n")
        #expect(Fixture.diagnostics([copy, swarms]) == [
            "schema/swarms_copy.yaml:1:11: error: duplicate resource name 'Swarm': already used by resource 'Swarm' in schema/swarms.yaml",
        ])
    }

    @Test func errorsInTwoFilesAreAllReported() {
        let agents = ("schema/agents.yaml", "resource: Agent\nfields:\n  name: { type: strng }\n")
        let tools = ("schema/tools.yaml", "resource: Tool\nfields:\n  enabled: { type: boolean, default: yes please }\n")
        #expect(Fixture.diagnostics([tools, agents]) == [
            "schema/agents.yaml:3:17: error: unknown field type 'strng' (did you mean 'string'?)",
            "schema/tools.yaml:3:38: error: default of 'enabled' must be true or false, found the string 'yes please'",
        ])
    }
}
