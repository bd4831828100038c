import ArgumentParser
import Foundation
import TrellisRuntime

struct Audit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Audit log tools (uses DATABASE_OWNER_URL).", subcommands: [Verify.self])

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute the audit hash chains and report the first broken link of each; exits 1 if any is broken.")
        @Option(help: "Only this workspace's chain.") var workspace: String?

        func run() async throws {
            var workspaceID: UUID?
            if let workspace {
                guard let id = UUID(uuidString: workspace) else {
                    throw ValidationError("--workspace must be a workspace id (a UUID), got '\(workspace)'")
                }
                workspaceID = id
            }
            let only = workspaceID
            let reports = try await withOwnerClient { client, logger in
                try await AuditChainVerifier.verify(client, workspace: only, logger: logger)
            }
            var broken = 0
            for report in reports {
                let ws = report.workspaceID.lowercasedString
                if report.staleUnsealed > 0 {
                    // The sealer of a running server links entries within a second.
                    print("workspace \(ws): \(report.staleUnsealed) entries waited over \(AuditChainVerifier.staleAfter.components.seconds) s to be sealed (is a server running its sealer?); sealed now")
                }
                if let link = report.brokenLink {
                    broken += 1
                    print("workspace \(ws): \(report.entries) entries, \(link)")
                } else {
                    print("workspace \(ws): \(report.entries) entries, chain intact")
                }
            }
            if reports.isEmpty { print("no audit entries") }
            if broken > 0 { throw ExitCode(1) }
        }
    }
}
