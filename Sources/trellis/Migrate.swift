import App
import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import TrellisRuntime

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply, roll back, inspect and plan migrations in migrations/ (uses DATABASE_OWNER_URL).",
        subcommands: [Up.self, Down.self, Status.self, New.self, Plan.self])

    struct Options: ParsableArguments {
        @Option(help: "The migrations folder.")
        var dir = "migrations"

        var directory: URL { URL(fileURLWithPath: dir, isDirectory: true) }
    }

    struct Up: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply every pending migration (or up to --to VERSION).")
        @OptionGroup var options: Options
        @Option(help: "Stop after this version.") var to: String?

        func run() async throws {
            let files = try MigrationDirectory.load(options.directory)
            let applied = try await withOwnerClient { client, logger in
                try await Migrator(client: client, logger: logger).up(files, to: to)
            }
            print(applied.isEmpty ? "Nothing to apply." : applied.map { "applied \($0.fileName)" }.joined(separator: "\n"))
        }
    }

    struct Down: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Roll back the last applied migration (or --steps N).")
        @OptionGroup var options: Options
        @Option(help: "How many migrations to roll back.") var steps = 1

        func run() async throws {
            guard steps >= 1 else { throw ValidationError("--steps must be at least 1") }
            let files = try MigrationDirectory.load(options.directory)
            let reverted = try await withOwnerClient { client, logger in
                try await Migrator(client: client, logger: logger).down(files, steps: steps)
            }
            print(reverted.isEmpty ? "Nothing to roll back." : reverted.map { "rolled back \($0.fileName)" }.joined(separator: "\n"))
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List migrations and whether each is applied.")
        @OptionGroup var options: Options

        func run() async throws {
            let files = try MigrationDirectory.load(options.directory)
            let lines = try await withOwnerClient { client, logger in
                try await Migrator(client: client, logger: logger).status(files)
            }
            for line in lines {
                var state = line.applied.map { "applied \(RFC3339.format($0))" } ?? "pending"
                if line.checksumMismatch { state += " (CHANGED SINCE APPLIED)" }
                if line.fileMissing { state += " (FILE MISSING)" }
                print("\(line.version)  \(line.name.padding(toLength: 32, withPad: " ", startingAt: 0))  \(state)")
            }
        }
    }

    struct New: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an empty migration file.")
        @OptionGroup var options: Options
        @Argument(help: "A short name, e.g. add_agent_rating.") var name: String

        func run() async throws {
            let url = try MigrationDirectory.create(in: options.directory, name: name)
            print("created \(options.dir)/\(url.lastPathComponent)")
        }
    }

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a migration with the DDL the schema needs and the database lacks.")
        @OptionGroup var options: Options
        @Option(help: "Name of the new migration.") var name = "schema_changes"
        @Flag(help: "Print the plan instead of writing a file.") var dryRun = false

        func run() async throws {
            let plan = try await withOwnerClient { client, logger in
                try await MigrationPlanner().plan(TrellisApp.api.tables, client: client, logger: logger)
            }
            if plan.isEmpty {
                print("The database already has everything the schema needs.")
                return
            }
            if dryRun {
                print("-- migrate:up\n\(plan.up)\n-- migrate:down\n\(plan.down)")
                return
            }
            let url = try MigrationDirectory.create(in: options.directory, name: name, up: plan.up, down: plan.down)
            print("created \(options.dir)/\(url.lastPathComponent); review it, then run `trellis migrate up`")
        }
    }
}

/// Runs `body` with a client for `DATABASE_OWNER_URL` (the role that owns the tables).
func withOwnerClient<T: Sendable>(_ body: @Sendable (PostgresClient, Logger) async throws -> T) async throws -> T {
    let env = ProcessInfo.processInfo.environment
    guard let url = env["DATABASE_OWNER_URL"] ?? env["DATABASE_URL"], !url.isEmpty else {
        throw ValidationError("DATABASE_OWNER_URL is not set (postgres://owner:password@host:port/database)")
    }
    let configuration: PostgresClient.Configuration
    do {
        configuration = try DatabaseURL(url).clientConfiguration
    } catch {
        throw ValidationError("DATABASE_OWNER_URL: \(error)")
    }
    var quiet = Logger(label: "trellis.migrate")
    quiet.logLevel = .error
    let logger = quiet
    return try await PostgresClient.withRunning(configuration, logger: logger) { client in try await body(client, logger) }
}
