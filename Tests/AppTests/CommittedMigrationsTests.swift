import App
import Foundation
import Logging
import Testing
@testable import TrellisRuntime

/// The migrations in `migrations/` build exactly what the schema's generated tables need:
/// on the migrated test database, `trellis migrate plan` has nothing to write.
@Suite("The committed migrations match the schema")
struct CommittedMigrationsTests {
    @Test func aMigratedDatabaseLeavesNothingToPlan() async throws {
        try await TestDatabase.shared.prepare()
        let plan = try await withInspector { client in
            try await MigrationPlanner().plan(TrellisApp.api.tables, client: client, logger: Logger(label: "test"))
        }
        #expect(plan.isEmpty, "trellis migrate plan would write:\n\(plan.up)")
    }
}
