// This file is shared, through a symbolic link, by the TrellisGenerate plugin and the
// TrellisCodegen library, so the plugin declares exactly the files the generator writes.

/// The fixed set of Swift files the generator writes into the plugin's work directory.
/// Fixed (not one per resource) because SwiftPM caches the build plan: outputs must be
/// known before the schema is read.
enum OutputFiles {
    static let swiftFiles = [
        "GeneratedModels.swift",
        "GeneratedInputs.swift",
        "GeneratedQueries.swift",
        "GeneratedDescriptors.swift",
        "GeneratedJobs.swift",
        "GeneratedOpenAPI.swift",
    ]
}
