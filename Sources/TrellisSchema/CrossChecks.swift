import TrellisContract
/// Checks that need every resource: unique names, tables and paths, and `references` targets.
struct CrossChecks {
    let diagnostics: DiagnosticCollector

    /// `resources` in file order; a duplicate is reported at its second occurrence.
    func run(_ resources: [ParsedResource]) {
        var reported: Set<SourceLocation> = []
        func checkUnique(_ kind: String, _ key: (ParsedResource) -> String, _ at: (ParsedResource) -> SourceLocation) {
            var first: [String: ParsedResource] = [:]
            for parsed in resources {
                let value = key(parsed)
                guard let original = first[value] else {
                    first[value] = parsed
                    continue
                }
                let location = at(parsed)
                guard reported.insert(location).inserted else { continue }
                let owner = original.resource
                diagnostics.error(
                    "duplicate \(kind) '\(value)': already used by resource '\(owner.name)' in \(owner.file)",
                    at: location)
            }
        }
        checkUnique("resource name", \.resource.name, \.nameLocation)
        checkUnique("table", \.resource.table, \.tableLocation)
        checkUnique("path", \.resource.path, \.pathLocation)
        checkReferences(resources)
    }

    private func checkReferences(_ resources: [ParsedResource]) {
        let tables = resources.map(\.resource.table)
        for parsed in resources {
            for reference in parsed.references where !tables.contains(reference.table) {
                let byName = resources.first { $0.resource.name.lowercased() == reference.table.lowercased() }
                let hint = byName.map { " (did you mean '\($0.resource.table)'?)" }
                    ?? Suggestions.didYouMean(reference.table, in: tables)
                diagnostics.error(
                    "field '\(reference.field)' references unknown table '\(reference.table)'\(hint)",
                    at: reference.location)
            }
        }
    }
}
