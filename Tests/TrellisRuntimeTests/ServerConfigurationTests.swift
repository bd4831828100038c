import Testing
@testable import TrellisRuntime

@Suite("Configuration from the environment")
struct ServerConfigurationTests {
    @Test func defaultsApplyWhenOnlyTheDatabaseIsGiven() throws {
        let config = try ServerConfiguration.fromEnvironment(["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db"])
        #expect(config.host == "127.0.0.1")
        #expect(config.port == 8080)
        #expect(config.workspaceID == nil)
    }

    @Test func everyProblemIsReportedAtOnceWithoutEchoingSecrets() {
        let env = [
            "DATABASE_URL": "mysql://app:hunter2@127.0.0.1/db",
            "TRELLIS_PORT": "99999",
            "TRELLIS_WORKSPACE_ID": "not-a-uuid",
            "TRELLIS_LOG_LEVEL": "loud",
        ]
        do {
            _ = try ServerConfiguration.fromEnvironment(env)
            Issue.record("invalid configuration was accepted")
        } catch let error as ServerConfiguration.Invalid {
            #expect(error.problems.count == 4)
            #expect(error.problems.contains { $0.hasPrefix("TRELLIS_PORT") })
            #expect(error.problems.contains { $0.hasPrefix("DATABASE_URL") })
            #expect(!error.description.contains("hunter2"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func missingDatabaseURLIsNamed() {
        #expect(throws: ServerConfiguration.Invalid.self) { try ServerConfiguration.fromEnvironment([:]) }
    }
}
