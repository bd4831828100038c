import App
import ArgumentParser
import Foundation
import PostgresNIO
import TrellisRuntime

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create and revoke API keys (uses DATABASE_OWNER_URL).", subcommands: [Create.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an API key; its secret is printed once.")
        @Option(help: "The workspace id the key acts for (not with --admin).") var workspace: String?
        @Option(help: "Comma-separated scopes, e.g. agents:read,agents:write, or '*' for every workspace scope.")
        var scopes: String = ""
        @Option(help: "Lifetime such as 30d, 12h or 90m (default: never expires).") var expires: String?
        @Option(help: "A label for the key.") var name: String?
        @Option(help: "The key's own rate limit, PER_MINUTE/BURST (e.g. 600/60), instead of the schema's and api.yaml's.")
        var rateLimit: String?
        @Flag(help: "Make a platform-admin key (scope admin), which belongs to no tenant workspace.") var admin = false
        @Flag(help: "Print {\"id\",\"key\",\"workspace_id\",\"scopes\"} as JSON.") var json = false

        func run() async throws {
            let workspaceID: UUID
            let scopeSet: ScopeSet
            if admin {
                // Platform-admin keys live in the platform workspace, never in a tenant's.
                guard workspace == nil else { throw ValidationError("--admin keys belong to no workspace: drop --workspace") }
                guard scopes.isEmpty else { throw ValidationError("--admin keys have exactly the scope admin: drop --scopes") }
                workspaceID = Workspaces.platformID
                scopeSet = ScopeSet([ScopeSet.platformAdmin])
            } else {
                guard let workspace else { throw ValidationError("--workspace is required (or pass --admin for a platform-admin key)") }
                workspaceID = try CLIArguments.tenantWorkspace(workspace)
                scopeSet = try CLIArguments.workspaceScopes(scopes, emptyHint: " (or pass --admin)", adminHint: "make one with --admin")
            }
            let expiresAt = try expires.map { try Self.expiry($0) }
            let rateLimit = try self.rateLimit.map { try Self.rateLimit($0) }
            let name = self.name
            let created = try await withOwnerTransaction(workspace: workspaceID) { tx in
                let exists = workspaceID == Workspaces.platformID ? true : try await Workspaces.exists(workspaceID, in: tx)
                guard exists else {
                    throw ValidationError("--workspace: no workspace with id \(workspaceID.lowercasedString)")
                }
                return try await APIKeys.create(name: name, scopes: scopeSet, expiresAt: expiresAt, rateLimit: rateLimit, in: tx)
            }
            if json {
                var w = JSONWriter()
                w.beginObject()
                w.key("id"); w.value(created.record.id)
                w.key("key"); w.value(created.token.text)
                w.key("workspace_id"); w.value(created.record.workspaceID)
                w.key("scopes"); w.beginArray(); for s in created.record.scopes { w.value(s) }; w.endArray()
                w.key("expires_at"); if let e = created.record.expiresAt { w.value(e) } else { w.null() }
                w.endObject()
                print(w.string)
            } else {
                print("created API key \(created.record.id.lowercasedString) with scopes \(created.record.scopes.joined(separator: " "))")
                print("key (shown once): \(created.token.text)")
            }
        }


        /// `600/60`: per minute, then burst, within the limiter's exact range.
        static func rateLimit(_ text: String) throws -> RateLimitPolicy {
            guard let policy = RateLimitPolicy(spec: text) else {
                throw ValidationError("--rate-limit must be PER_MINUTE/BURST with 1-60000000 per minute and a burst of 1-1000000, e.g. 600/60; got '\(text)'")
            }
            return policy
        }
        /// `30d`, `12h`, `90m`, `45s` from now.
        static func expiry(_ text: String) throws -> Date {
            let units: [Character: Double] = ["d": 86_400, "h": 3_600, "m": 60, "s": 1]
            guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count > 0 else {
                throw ValidationError("--expires must be a positive count and a unit (d, h, m or s), such as 30d; got '\(text)'")
            }
            return Date().addingTimeInterval(Double(count) * unit)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke an API key by its id (every instance stops accepting it within a second).")
        @Argument(help: "The key's id (the UUID shown by keys create).") var id: String
        @Flag(help: "Print the revoked key as JSON.") var json = false

        func run() async throws {
            guard let keyID = UUID(uuidString: id) else {
                throw ValidationError("the key id must be a UUID, got '\(id)'")
            }
            let workspace = try await withOwnerClient { client, logger in
                try await client.query("SELECT workspace_id FROM api_keys WHERE id = \(keyID)", logger: logger)
                    .decode(UUID.self).all().first
            }
            guard let workspace else { throw ValidationError("no API key with id \(keyID.lowercasedString)") }
            let record = try await withOwnerTransaction(workspace: workspace) { tx in try await APIKeys.revoke(keyID, in: tx) }
            if json {
                var w = JSONWriter()
                record.writeJSON(to: &w)
                print(w.string)
            } else {
                print("revoked API key \(keyID.lowercasedString)")
            }
        }
    }
}

/// Runs `body` as the owner role in one transaction for `workspace`, as the CLI user (so
/// its changes are audited like any other).
func withOwnerTransaction<T: Sendable>(workspace: UUID, _ body: @escaping @Sendable (TenantTransaction) async throws -> T) async throws -> T {
    let user = ProcessInfo.processInfo.environment["USER"] ?? "owner"
    let identity = Identity(workspaceID: workspace, kind: .cli, credentialID: user, scopes: ScopeSet([ScopeSet.all, ScopeSet.platformAdmin]))
    let origin = RequestOrigin(requestID: "cli-" + UUID().lowercasedString, ip: nil, userAgent: "trellis-cli")
    return try await withOwnerClient { client, logger in
        try await TenantTransaction.run(on: client, identity: identity, origin: origin, logger: logger, body)
    }
}
