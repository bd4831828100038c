import TrellisSchema

/// Emits the sort keys and the list filter of each resource.
enum QueryEmitter {
    static func emit(_ model: ResourceModel, into w: inout SwiftWriter) {
        let r = model.resource
        w.line("// MARK: - \(r.name)")
        w.line()
        w.line("/// Sort keys of `GET /v1/\(r.path)` (`sort=name` ascending, `sort=-name` descending).")
        w.block("public enum \(model.sortKeyName): String, CaseIterable, Sendable") { w in
            for key in r.sort {
                let caseName = SwiftNaming.property(key)
                w.line(caseName == key ? "case \(caseName)" : "case \(caseName) = \(SwiftNaming.literal(key))")
            }
        }
        w.line()
        w.line("/// Equality filters of `GET /v1/\(r.path)`: the fields marked `filter: true`.")
        w.block("public struct \(model.filterName): ResourceFilter, Hashable") { w in
            for f in model.filterFields {
                w.line("public var \(f.property): \(f.mapping.swiftType)?")
            }
            if !model.filterFields.isEmpty { w.line() }
            w.line("public init() {}")
            w.line()
            w.block("public mutating func parse(_ parameter: String, _ text: String, _ v: inout Validator) -> Bool") { w in
                if model.filterFields.isEmpty {
                    w.line("false")
                    return
                }
                w.block("switch parameter") { w in
                    for f in model.filterFields {
                        w.line("case \(SwiftNaming.literal(f.name)):")
                        w.indented { w in
                            w.line("self.\(f.property) = \(queryReader(f))")
                        }
                    }
                    w.line("default:")
                    w.indented { w in w.line("return false") }
                }
                w.line("return true")
            }
            w.line()
            w.block("public var conditions: [ColumnCondition]") { w in
                if model.filterFields.isEmpty {
                    w.line("[]")
                    return
                }
                w.line("var result: [ColumnCondition] = []")
                for f in model.filterFields {
                    w.line("if let \(f.property) { result.append(ColumnCondition(\(SwiftNaming.literal(f.name)), \(f.mapping.sqlValue(f.property)))) }")
                }
                w.line("return result")
            }
        }
    }

    /// Query values arrive as text: booleans and numbers are parsed from it; the rest are
    /// validated like JSON strings.
    private static func queryReader(_ f: ResourceModel.FieldModel) -> String {
        let path = SwiftNaming.literal("/query/" + f.name)
        switch f.field.type {
        case .boolean: return "v.queryBoolean(text, at: \(path))"
        case .integer: return "v.queryInteger(text, at: \(path))"
        case .number: return "v.queryNumber(text, at: \(path))"
        default: return f.mapping.reader(value: ".string(text)", path: path)
        }
    }
}
