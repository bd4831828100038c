import ArgumentParser

@main
struct Trellis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trellis",
        abstract: "Schema-first API server: serve the generated API, run migrations, manage keys and workspaces, verify the audit log, back up and restore.",
        subcommands: [Serve.self, Worker.self, Jobs.self, Migrate.self, Keys.self, Admin.self, Audit.self, Errors.self, Backup.self, Restore.self]
    )
}
