import TrellisSchema

/// Emits the create input and merge patch of each resource with their validators.
/// Validators walk the JSON object once, collect every problem, and reject unknown fields.
enum InputEmitter {
    static func emit(_ model: ResourceModel, into w: inout SwiftWriter) {
        w.line("// MARK: - \(model.name)")
        w.line()
        emitPatterns(model, into: &w)
        emitCreate(model, into: &w)
        w.line()
        emitPatch(model, into: &w)
    }

    /// The compiled `pattern`s of `model`'s fields, when it has any.
    static func emitPatterns(_ model: ResourceModel, into w: inout SwiftWriter) {
        guard !model.patterns.isEmpty else { return }
        w.block("enum \(model.name)Patterns") { w in
            for (member, pattern) in model.patterns {
                w.line("static let \(member) = FieldPattern(\(SwiftNaming.literal(pattern)))")
            }
        }
        w.line()
    }

    // MARK: Create

    private static func emitCreate(_ model: ResourceModel, into w: inout SwiftWriter) {
        let r = model.resource
        w.line("/// The body of `POST /v1/\(r.path)`, validated.")
        w.block("public struct \(model.createName): ResourceCreate, Hashable") { w in
            for f in model.fields {
                w.line("public var \(f.property): \(f.swiftType)")
            }
            w.line()
            w.block("public var insertValues: [SQLValue]") { w in
                w.line("[")
                w.indented { w in
                    for f in model.fields {
                        w.line(sqlValue(f, f.property) + ",")
                    }
                }
                w.line("]")
            }
            w.line()
            let readOnly = ResourceModel.implicitColumns.map(\.name) + model.fields.filter(\.field.readOnly).map(\.name)
            emitCreateValidator(model.createName, fields: model.fields, readOnly: readOnly, into: &w)
        }
    }

    /// `validate(_:)` of a create body (or a job's payload): reads every writable field of
    /// `fields`, refuses `readOnly` names and unknown ones, reports missing required fields,
    /// and builds `typeName` with defaults filled in.
    static func emitCreateValidator(_ typeName: String, fields: [ResourceModel.FieldModel], readOnly: [String], into w: inout SwiftWriter) {
        let writable = fields.filter { !$0.field.readOnly }
        w.block("public static func validate(_ json: JSONValue) -> Validated<\(typeName)>") { w in
            w.line("var v = Validator()")
            w.line("guard let object = v.object(json) else { return .invalid(v.problems) }")
            for f in writable {
                w.line("var \(f.property): \(f.mapping.swiftType)?")
                if f.isOptional, f.field.defaultValue != nil { w.line("var \(bare(f))Given = false") }
            }
            w.block("for member in object") { w in
                w.line("let value = member.value")
                w.block("switch member.key") { w in
                    for f in writable {
                        w.line("case \(SwiftNaming.literal(f.name)):")
                        w.indented { w in
                            if f.isOptional, f.field.defaultValue != nil { w.line("\(bare(f))Given = true") }
                            if f.isOptional {
                                w.line("if value != .null { \(f.property) = \(f.mapping.reader(value: "value", path: f.pointer)) }")
                            } else {
                                w.line("\(f.property) = \(f.mapping.reader(value: "value", path: f.pointer))")
                            }
                        }
                    }
                    if !readOnly.isEmpty {
                        w.line("case " + readOnly.map(SwiftNaming.literal).joined(separator: ", ") + ":")
                        w.indented { w in w.line("v.readOnly(\"/\" + member.key)") }
                    }
                    w.line("default:")
                    w.indented { w in w.line("v.unknownField(member.key)") }
                }
            }
            let required = writable.filter { $0.field.required && $0.field.defaultValue == nil }
            for f in required {
                w.line("if \(f.property) == nil, object[\(SwiftNaming.literal(f.name))] == nil { v.missing(\(f.pointer)) }")
            }
            let unwrapped = writable.filter { !$0.isOptional && $0.field.defaultValue == nil }
            let guardList = (["v.isValid"] + unwrapped.map { "let \($0.property)" }).joined(separator: ", ")
            w.line("guard \(guardList) else { return .invalid(v.problems) }")
            if fields.isEmpty {
                w.line("return .valid(\(typeName)())")
                return
            }
            w.line("return .valid(\(typeName)(")
            w.indented { w in
                for (index, f) in fields.enumerated() {
                    let comma = index == fields.count - 1 ? "" : ","
                    w.line("\(bare(f)): \(createValue(f))\(comma)")
                }
            }
            w.line("))")
        }
    }

    /// The value a validated create gives a field: what was sent, else its default.
    private static func createValue(_ f: ResourceModel.FieldModel) -> String {
        let defaultExpr = f.field.defaultValue.map { SwiftLiterals.value($0, mapping: f.mapping) }
        if f.field.readOnly {
            return defaultExpr ?? "nil"
        }
        switch (f.isOptional, defaultExpr) {
        case (true, let d?): return "\(bare(f))Given ? \(f.property) : \(d)"
        case (false, let d?): return "\(f.property) ?? \(d)"
        default: return f.property
        }
    }

    // MARK: Patch

    private static func emitPatch(_ model: ResourceModel, into w: inout SwiftWriter) {
        let r = model.resource
        w.line("/// The body of `PATCH /v1/\(r.path)/{id}` (JSON merge patch): nil leaves a field")
        w.line("/// unchanged; for optional fields `.some(nil)` clears it.")
        w.block("public struct \(model.patchName): ResourcePatch, Hashable") { w in
            for f in model.patchableFields {
                w.line("public var \(f.property): \(f.swiftType)?")
            }
            w.line()
            w.line("public init() {}")
            w.line()
            w.block("public var assignments: [ColumnAssignment]") { w in
                w.line("var result: [ColumnAssignment] = []")
                for f in model.patchableFields {
                    let column = SwiftNaming.literal(f.name)
                    w.line("if let \(f.property) { result.append(ColumnAssignment(\(column), \(sqlValue(f, f.property)))) }")
                }
                w.line("return result")
            }
            w.line()
            w.block("public static func validate(_ json: JSONValue) -> Validated<\(model.patchName)>") { w in
                w.line("var v = Validator()")
                w.line("guard let object = v.object(json) else { return .invalid(v.problems) }")
                w.line("var patch = \(model.patchName)()")
                w.block("for member in object") { w in
                    w.line("let value = member.value")
                    w.block("switch member.key") { w in
                        for f in model.patchableFields {
                            w.line("case \(SwiftNaming.literal(f.name)):")
                            w.indented { w in
                                let read = f.mapping.reader(value: "value", path: f.pointer)
                                if f.isOptional {
                                    w.line("if value == .null { patch.\(f.property) = .some(nil) } else if let parsed = \(read) { patch.\(f.property) = parsed }")
                                } else {
                                    w.line("patch.\(f.property) = \(read)")
                                }
                            }
                        }
                        let writeOnce = model.fields.filter { $0.field.writeOnce && !$0.field.readOnly }.map(\.name)
                        if !writeOnce.isEmpty {
                            w.line("case " + writeOnce.map(SwiftNaming.literal).joined(separator: ", ") + ":")
                            w.indented { w in w.line("v.writeOnce(\"/\" + member.key)") }
                        }
                        let readOnly = ResourceModel.implicitColumns.map(\.name) + model.fields.filter(\.field.readOnly).map(\.name)
                        w.line("case " + readOnly.map(SwiftNaming.literal).joined(separator: ", ") + ":")
                        w.indented { w in w.line("v.readOnly(\"/\" + member.key)") }
                        w.line("default:")
                        w.indented { w in w.line("v.unknownField(member.key)") }
                    }
                }
                w.line("return v.isValid ? .valid(patch) : .invalid(v.problems)")
            }
        }
    }

    /// `SQLValue` for a field's (possibly optional) Swift value.
    static func sqlValue(_ f: ResourceModel.FieldModel, _ expr: String) -> String {
        if f.isOptional {
            return "SQLValue.from(\(expr)) { \(f.mapping.sqlValue("$0")) }"
        }
        return f.mapping.sqlValue(expr)
    }

    /// The property name without back-quotes, for labels and derived names.
    private static func bare(_ f: ResourceModel.FieldModel) -> String {
        f.property.replacingOccurrences(of: "`", with: "")
    }
}
