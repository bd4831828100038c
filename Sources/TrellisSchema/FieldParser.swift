import Yams

/// A `references:` option, kept with its location for the cross-file check.
struct FieldReference {
    let field: String
    let table: String
    let location: SourceLocation
}

/// The fields of a resource or a job payload, as far as they could be read.
struct ParsedFields {
    /// Valid fields in declaration order.
    var fields: [Field] = []
    /// Every declared name, including fields with errors, so that later checks
    /// (indexes, sort) do not report a broken field as unknown.
    var declaredNames: [String] = []
    var references: [FieldReference] = []
}

/// Reads `fields:` of a resource or `payload:` of a job.
struct FieldParser {
    enum Context {
        /// A column of a resource table.
        case resource
        /// A field of a job payload: no column-only options.
        case payload
    }

    let reader: NodeReader
    let context: Context

    func parseFields(_ node: Node, what: String) -> ParsedFields {
        var result = ParsedFields()
        guard let view = reader.mapping(node, what: what) else { return result }
        for entry in view.entries {
            result.declaredNames.append(entry.key)
            let (field, reference) = parseField(entry)
            if let field { result.fields.append(field) }
            if let reference { result.references.append(reference) }
        }
        return result
    }

    /// The field when it is valid, and its reference even when it is not, so that an unknown
    /// target table is still reported.
    private func parseField(_ entry: MappingEntry) -> (Field?, FieldReference?) {
        let name = entry.key
        let nameIsValid = checkName(entry)
        let owner = "field '\(name)'"
        guard var view = reader.mapping(entry.value, what: owner, allowed: SchemaVocabulary.fieldKeys) else {
            return (nil, nil)
        }
        var optionsAreValid = true
        if context == .payload {
            for key in SchemaVocabulary.columnOnlyFieldKeys {
                guard let option = view[key] else { continue }
                reader.error("\(option.label) is not allowed on a job payload field", at: option.keyNode)
                optionsAreValid = false
            }
            view = view.removing(SchemaVocabulary.columnOnlyFieldKeys)
        }

        let spec = ValueSpecParser(reader: reader).parse(view, owner: owner, anchor: entry.keyNode)
        func flag(_ key: String) -> Bool {
            guard let option = view[key] else { return false }
            guard let value = reader.bool(option.value, for: option.label) else {
                optionsAreValid = false
                return false
            }
            return value
        }
        let required = flag("required")
        let nullable = flag("nullable")
        var field = Field(
            name: name, spec: spec ?? ValueSpec(type: .object), required: required, nullable: nullable,
            unique: flag("unique"), filter: flag("filter"), readOnly: flag("read_only"),
            writeOnce: flag("write_once"), pii: flag("pii"), deprecated: flag("deprecated"),
            location: reader.location(of: entry.keyNode))
        if let option = view["description"] {
            field.description = reader.string(option.value, for: option.label)
            optionsAreValid = optionsAreValid && field.description != nil
        }
        if let option = view["search"] {
            field.search = reader.choice(option.value, SearchWeight.self, noun: "search weight", for: option.label)
            optionsAreValid = optionsAreValid && field.search != nil
        }
        var reference: FieldReference?
        if let option = view["references"] {
            if let table = reader.string(option.value, for: option.label) {
                field.references = table
                reference = FieldReference(field: name, table: table, location: reader.location(of: option.value))
            } else {
                optionsAreValid = false
            }
        }
        if let option = view["on_delete"] {
            field.onDelete = reader.choice(option.value, OnDelete.self, noun: "on_delete action", for: option.label)
            optionsAreValid = optionsAreValid && field.onDelete != nil
        } else if field.references != nil {
            field.onDelete = .noAction
        }
        guard let spec else { return (nil, reference) }

        let checker = LiteralChecker(reader: reader)
        for (key, label) in [("default", "default of '\(name)'"), ("example", "example of '\(name)'")] {
            guard let option = view[key] else { continue }
            let value = checker.check(option.value, against: spec, nullable: nullable, label: label)
            if value == nil { optionsAreValid = false }
            if key == "default" { field.defaultValue = value } else { field.example = value }
        }
        let rulesHold = checkCombinations(field, view)
        guard nameIsValid, optionsAreValid, rulesHold else { return (nil, reference) }
        return (field, reference)
    }

    /// snake_case, at most 63 characters, not an implicit or reserved column.
    private func checkName(_ entry: MappingEntry) -> Bool {
        let name = entry.key
        if !ValueSyntax.isSnakeCase(name) {
            reader.error(
                "field name '\(name)' must be snake_case: a lowercase letter followed by lowercase letters, digits or '_'",
                at: entry.keyNode)
            return false
        }
        if name.utf8.count > 63 {
            reader.error("field name '\(name)' is longer than 63 characters, PostgreSQL's limit", at: entry.keyNode)
            return false
        }
        guard context == .resource else { return true }
        if SchemaVocabulary.implicitColumns.contains(name) {
            reader.error("'\(name)' is an implicit column of every resource; remove this field", at: entry.keyNode)
            return false
        }
        if SchemaVocabulary.reservedColumns.contains(name) {
            reader.error("field name '\(name)' is reserved for the generated full-text search column",
                         at: entry.keyNode)
            return false
        }
        return true
    }

    /// Rules between options; each problem is reported at the option that breaks it.
    private func checkCombinations(_ field: Field, _ view: MappingView) -> Bool {
        var valid = true
        func fail(_ message: String, at key: String) {
            if let option = view[key] { reader.error(message, at: option.keyNode) }
            valid = false
        }
        let typeName = field.type.name
        switch field.type {
        case .object, .array, .text:
            if field.filter { fail("'filter' is not supported on \(typeName) fields", at: "filter") }
        default: break
        }
        if field.search != nil, !field.type.isStringLike {
            fail("'search' applies only to string, text, email and url fields, not to '\(typeName)'", at: "search")
        }
        if field.references != nil, field.type != .uuid {
            fail("field '\(field.name)' has 'references' and must have type 'uuid', not '\(typeName)'", at: "references")
        }
        if field.references == nil, view["on_delete"] != nil {
            fail("'on_delete' needs 'references'", at: "on_delete")
        }
        if field.onDelete == .setNull, field.references != nil, !field.isOptional {
            let reason = field.required ? "is required" : "has a default and is not nullable"
            fail("'on_delete: set_null' needs an optional field, but '\(field.name)' \(reason)", at: "on_delete")
        }
        if field.required, view["default"] != nil {
            fail("a required field cannot have a default (it would never be used); remove one of them", at: "default")
        }
        if field.readOnly, field.required {
            fail("a read_only field is set by the server and cannot be required", at: "read_only")
        }
        if field.readOnly, field.writeOnce {
            fail("'read_only' and 'write_once' cannot both be set: read_only fields are never written by clients",
                 at: "write_once")
        }
        return valid
    }
}
