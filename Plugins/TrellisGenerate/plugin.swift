import Foundation
import PackagePlugin

/// Runs `trellis-codegen generate` on the package's `schema/` folder before the target
/// compiles. One command whose only input is the folder itself and whose outputs are a
/// fixed set of files. SwiftPM caches the build plan, so per-file inputs would go stale: a
/// YAML removed after a re-plan would fail the build with "missing inputs". A directory input
/// is tracked by its contents (names and file metadata), so editing, adding and removing a
/// schema file all re-run the generator on the next `swift build` (scripts/check-schema-edits).
@main
struct TrellisGenerate: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let schema = context.package.directoryURL.appending(component: "schema", directoryHint: .isDirectory)
        let output = context.pluginWorkDirectoryURL.appending(component: "GeneratedSources", directoryHint: .isDirectory)
        return [
            .buildCommand(
                displayName: "Generating Trellis API from schema/",
                executable: try context.tool(named: "trellis-codegen").url,
                arguments: ["generate", schema.path(percentEncoded: false), output.path(percentEncoded: false)],
                environment: [:],
                inputFiles: [schema],
                outputFiles: OutputFiles.swiftFiles.map { output.appending(component: $0) }
            )
        ]
    }
}
