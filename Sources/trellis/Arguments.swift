import App
import ArgumentParser
import Foundation
import TrellisRuntime

/// The flags several commands share, each parsed and checked in one place.
enum CLIArguments {
    /// `--workspace`: the id of a tenant workspace (the platform workspace is none).
    static func tenantWorkspace(_ text: String) throws -> UUID {
        guard let id = UUID(uuidString: text), id != Workspaces.platformID else {
            throw ValidationError("--workspace must be a tenant workspace id (a UUID), got '\(text)'")
        }
        return id
    }

    /// `--scopes a,b`: at least one scope this API knows, never `admin` (`adminHint` says
    /// where that one belongs).
    static func workspaceScopes(_ text: String, emptyHint: String = "", adminHint: String) throws -> ScopeSet {
        let requested = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !requested.isEmpty else { throw ValidationError("--scopes needs at least one scope" + emptyHint) }
        guard !requested.contains(ScopeSet.platformAdmin) else {
            throw ValidationError("--scopes: 'admin' belongs to platform-admin keys; " + adminHint)
        }
        switch TrellisApp.api.scopeCatalog.validate(requested) {
        case let .success(set): return set
        case let .failure(unknown): throw ValidationError("--scopes: \(unknown)")
        }
    }
}
