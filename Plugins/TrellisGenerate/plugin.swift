import Foundation
import PackagePlugin

/// Runs `trellis-codegen generate` on the package's `schema/` folder before the target
/// compiles. One command, with the folder itself and every YAML in it as inputs and a
/// fixed set of outputs: SwiftPM re-runs it when a schema file is edited, added or removed
/// without re-planning the build (see TOOLCHAIN.md).
@main
struct TrellisGenerate: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) async throws -> [Command] {
        let schema = context.package.directoryURL.appending(component: "schema", directoryHint: .isDirectory)
        let yamlFiles = ((try? FileManager.default.contentsOfDirectory(at: schema, includingPropertiesForKeys: nil)) ?? [])
            .filter { $0.pathExtension == "yaml" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(component: "GeneratedSources", directoryHint: .isDirectory)
        return [
            .buildCommand(
                displayName: "Generating Trellis API from schema/",
                executable: try context.tool(named: "trellis-codegen").url,
                arguments: ["generate", schema.path(percentEncoded: false), output.path(percentEncoded: false)],
                environment: [:],
                inputFiles: [schema] + yamlFiles,
                outputFiles: OutputFiles.swiftFiles.map { output.appending(component: $0) }
            )
        ]
    }
}
