import Foundation
import TrellisCodegen

/// The thin CLI the TrellisGenerate build plugin runs.
///
///     trellis-codegen generate <schema-dir> <output-dir>   Swift sources for the App target
///     trellis-codegen openapi <schema-dir> <file.yaml>     refresh the committed OpenAPI document
///     trellis-codegen openrpc <schema-dir> <file.json>     refresh the committed OpenRPC document
///     trellis-codegen graphql <schema-dir> <file.graphql>  refresh the committed GraphQL schema
let usage = """
    usage: trellis-codegen generate <schema-dir> <output-dir>
           trellis-codegen openapi <schema-dir> <output-file>
           trellis-codegen openrpc <schema-dir> <output-file>
           trellis-codegen graphql <schema-dir> <output-file>
    """

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count == 3, ["generate", "openapi", "openrpc", "graphql"].contains(arguments[0]) else {
    FileHandle.standardError.write(Data((usage + "\n").utf8))
    exit(64)
}

let schemaDirectory = URL(fileURLWithPath: arguments[1], isDirectory: true)
let destination = URL(fileURLWithPath: arguments[2])
do {
    // Diagnostics name files as the user sees them: relative to the current directory when possible.
    let cwd = FileManager.default.currentDirectoryPath
    var display = schemaDirectory.standardizedFileURL.path
    if display.hasPrefix(cwd + "/") { display = String(display.dropFirst(cwd.count + 1)) }
    let output = try GeneratorPipeline.generate(schemaDirectory: schemaDirectory, displayPrefix: display)
    if arguments[0] == "generate" {
        for file in output.swiftFiles {
            try GeneratorPipeline.writeIfChanged(file.contents, to: destination.appendingPathComponent(file.name))
        }
    } else if arguments[0] == "graphql" {
        try GeneratorPipeline.writeIfChanged(output.graphQLSDL, to: destination)
    } else if arguments[0] == "openrpc" {
        try GeneratorPipeline.writeIfChanged(output.openRPCJSON, to: destination)
    } else {
        try GeneratorPipeline.writeIfChanged(output.openAPIYAML, to: destination)
    }
} catch {
    FileHandle.standardError.write(Data((error.description + "\n").utf8))
    exit(1)
}
