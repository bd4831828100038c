import Testing
import TrellisSchema

@Suite("resource retention")
struct RetentionTests {
    func resource(_ extra: String) -> Resource? {
        Fixture.model([("schema/agents.yaml", Fixture.agent(fields: extra))])?.resources.first
    }

    func diagnostics(_ extra: String) -> [String] {
        Fixture.diagnostics([("schema/agents.yaml", Fixture.agent(fields: extra))])
    }

    @Test func deleteAndArchiveRulesAreRead() {
        #expect(resource("retention: { delete_after: 90d }")?.retention == RetentionPolicy(action: .delete, after: 90 * 86_400))
        #expect(resource("retention: { archive_after: 36h }")?.retention == RetentionPolicy(action: .archive, after: 36 * 3600))
        #expect(resource("")?.retention == nil)
    }

    @Test func aRuleNeedsExactlyOneActionOfADayToACenturyInAWorkspaceResource() {
        #expect(diagnostics("retention: { delete_after: 90d, archive_after: 30d }") == [
            "schema/agents.yaml:4:12: error: 'retention' takes exactly one of delete_after or archive_after",
        ])
        #expect(diagnostics("retention: {}").count == 1)
        #expect(diagnostics("retention: { delete_after: 2h }") == [
            "schema/agents.yaml:4:28: error: delete_after must be from 1d to 36500d, found 7200s",
        ])
        #expect(diagnostics("retention: { keep_for: 9d }").contains { $0.contains("'keep_for'") })
        #expect(diagnostics("tenancy: global\nretention: { delete_after: 9d }") == [
            "schema/agents.yaml:5:1: error: 'retention' needs tenancy: workspace (it runs in each workspace)",
        ])
    }
}
