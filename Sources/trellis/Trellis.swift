import ArgumentParser

@main
struct Trellis: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trellis",
        abstract: "Schema-first API server: serve the generated API, run migrations, administer workspaces.",
        subcommands: [Serve.self, Migrate.self, Admin.self]
    )
}
