import TrellisSchema

/// Emits the model struct of each resource, its enums, row decoding and JSON encoding.
enum ModelEmitter {
    static func emit(_ model: ResourceModel, into w: inout SwiftWriter) {
        let r = model.resource
        w.line("// MARK: - \(r.name)")
        w.line()
        emitEnums(model, into: &w)
        w.doc(r.description)
        if r.description != nil { w.line("///") }
        w.line("/// Remark: Generated from `\(r.file)`.")
        w.block("public struct \(r.name): Resource, Hashable") { w in
            w.line("public typealias Create = \(model.createName)")
            w.line("public typealias Patch = \(model.patchName)")
            w.line("public typealias Filter = \(model.filterName)")
            w.line()
            for column in ResourceModel.implicitColumns {
                w.line("public var \(column.property): \(column.swiftType)")
            }
            for f in model.fields {
                w.doc(f.field.description)
                if f.field.deprecated { w.line("/// - Note: Deprecated; it may be removed in a future version.") }
                w.line("public var \(f.property): \(f.swiftType)")
            }
            w.line()
            emitRowInit(model, into: &w)
            w.line()
            emitWriteJSON(model, into: &w)
        }
    }

    private static func emitRowInit(_ model: ResourceModel, into w: inout SwiftWriter) {
        let decodeTypes = ResourceModel.implicitColumns.map(\.swiftType)
            + model.fields.map { $0.mapping.decodeType + ($0.isOptional ? "?" : "") }
        w.block("public init(row: SQLRow) throws") { w in
            // Column by column, each read specialized for its type (RowReader).
            w.line("var row = RowReader(row)")
            for (index, type) in decodeTypes.enumerated() {
                w.line("let c\(index) = try row.next(\(type).self)")
            }
            for (index, column) in ResourceModel.implicitColumns.enumerated() {
                w.line("\(column.property) = c\(index)")
            }
            for (offset, f) in model.fields.enumerated() {
                let cell = "c\(ResourceModel.implicitColumns.count + offset)"
                if f.mapping.needsConversionAfterDecode {
                    if f.isOptional {
                        w.line("\(f.property) = try \(cell).map { \(f.mapping.fromDecoded("$0")) }")
                    } else {
                        w.line("\(f.property) = \(f.mapping.fromDecoded(cell))")
                    }
                } else {
                    w.line("\(f.property) = \(cell)")
                }
            }
        }
    }

    private static func emitWriteJSON(_ model: ResourceModel, into w: inout SwiftWriter) {
        w.block("public func writeJSON(to w: inout JSONWriter)") { w in
            w.line("w.beginObject()")
            for column in ResourceModel.implicitColumns {
                w.line("w.key(\(SwiftNaming.literal(column.name))); w.value(\(column.property))")
            }
            emitFieldMembers(model.fields, into: &w)
            w.line("w.endObject()")
        }
    }

    /// The enum types of the fields (and array items) of `model`, each with its values.
    static func emitEnums(_ model: ResourceModel, into w: inout SwiftWriter) {
        for (typeName, values) in model.enums {
            w.line("/// Generated from `\(model.resource.file)`.")
            w.block("public enum \(typeName): String, SchemaEnum") { w in
                for value in values {
                    let caseName = SwiftNaming.enumCase(value)
                    w.line(caseName == value ? "case \(caseName)" : "case \(caseName) = \(SwiftNaming.literal(value))")
                }
            }
            w.line()
        }
    }

    /// `"name": value` for each field, inside an object a `JSONWriter` `w` is writing.
    static func emitFieldMembers(_ fields: [ResourceModel.FieldModel], into w: inout SwiftWriter) {
        for f in fields {
            let key = "w.key(\(SwiftNaming.literal(f.name)))"
            if f.isOptional, f.mapping.storage == .date {
                w.line("\(key); w.value(\(f.property).map(RFC3339.formatDate))")
            } else {
                w.line("\(key); \(f.mapping.writeJSON(f.property))")
            }
        }
    }
}
