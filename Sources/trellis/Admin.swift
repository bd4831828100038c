import App
import ArgumentParser
import Foundation
import PostgresNIO
import TrellisRuntime

struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Platform administration (uses DATABASE_OWNER_URL).", subcommands: [CreateWorkspace.self, CreateUser.self])

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

    struct CreateUser: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "create-user",
            abstract: "Create a user who logs in with email and password (POST /v1/auth/login).",
            discussion: "The password is read from standard input (one line), never from a flag, so it stays out of the process list and shell history.")
        @Option(help: "The tenant workspace id the user belongs to.") var workspace: String
        @Option(help: "The user's email, unique across workspaces.") var email: String
        @Option(help: "Comma-separated scopes, e.g. agents:read,agents:write, or '*' for every workspace scope.") var scopes: String
        @Option(help: "A display name.") var name: String?
        @Flag(help: "Print the user as JSON.") var json = false

        func run() async throws {
            let workspaceID = try CLIArguments.tenantWorkspace(workspace)
            if let problem = Users.emailProblem(email) { throw ValidationError("--email \(problem)") }
            let scopeSet = try CLIArguments.workspaceScopes(scopes, adminHint: "a user holds workspace scopes")
            guard let password = readLine(strippingNewline: true) else {
                throw ValidationError("the password is read from standard input: pipe it in, e.g. printf '%s\\n' \"$PASSWORD\" | trellis admin create-user …")
            }
            if let problem = Users.passwordProblem(password) { throw ValidationError("the password \(problem)") }
            let passwordHash = try await PasswordHasher().hash(password)
            let (email, name) = (self.email, self.name)
            let user = try await withOwnerTransaction(workspace: workspaceID) { tx in
                guard try await Workspaces.exists(workspaceID, in: tx) else {
                    throw ValidationError("--workspace: no workspace with id \(workspaceID.lowercasedString)")
                }
                return try await Users.create(email: email, name: name, passwordHash: passwordHash, scopes: scopeSet, in: tx)
            }
            if json {
                var w = JSONWriter()
                user.writeJSON(to: &w)
                print(w.string)
            } else {
                print("created user \(user.id.lowercasedString) (\(user.email)) with scopes \(user.scopes.joined(separator: " "))")
            }
        }
    }
}
