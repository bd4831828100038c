import ArgumentParser
import Foundation
import PostgresNIO
import TrellisRuntime

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Platform administration (uses DATABASE_OWNER_URL).", subcommands: [CreateWorkspace.self])

    struct CreateWorkspace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "create-workspace", abstract: "Create a workspace.")
        @Argument(help: "The workspace's display name (1–200 characters).") var name: String
        @Flag(help: "Print {\"id\",\"name\"} as JSON.") var json = false

        func validate() throws {
            guard (1...200).contains(name.unicodeScalars.count) else {
                throw ValidationError("the workspace name must be 1 to 200 characters")
            }
        }

        func run() async throws {
            let name = self.name
            let workspace = try await withOwnerTransaction(workspace: UUID.v7()) { tx in
                try await Workspaces.create(name: name, in: tx)
            }
            let id = workspace.id
            if json {
                var w = JSONWriter()
                w.beginObject()
                w.key("id"); w.value(id)
                w.key("name"); w.value(name)
                w.endObject()
                print(w.string)
            } else {
                print("created workspace \(id.lowercasedString) (\(name))")
            }
        }
    }
}
