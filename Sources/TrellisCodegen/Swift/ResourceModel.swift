import TrellisSchema

/// A resource as the Swift emitters see it: type names and the mapping of every field.
struct ResourceModel {
    struct FieldModel {
        let field: Field
        let mapping: ValueMapping
        /// Swift property name (`swarmID`).
        let property: String
        /// JSON key and column (`swarm_id`).
        var name: String { field.name }
        var isOptional: Bool { field.isOptional }
        /// `String` or `String?`.
        var swiftType: String { mapping.swiftType + (isOptional ? "?" : "") }
        var pointer: String { SwiftNaming.literal("/" + field.name) }
    }

    let resource: Resource
    let fields: [FieldModel]

    init(_ resource: Resource) {
        self.resource = resource
        let typeName = resource.name
        fields = resource.fields.map { field in
            let enumName: String? = {
                switch field.type {
                case .enumeration: return typeName + SwiftNaming.type(field.name)
                case let .array(items):
                    if case .enumeration = items.type { return typeName + SwiftNaming.type(field.name) }
                    return nil
                default: return nil
                }
            }()
            let hasPattern = field.spec.pattern != nil || {
                if case let .array(items) = field.type { return items.pattern != nil }
                return false
            }()
            let patternSymbol = hasPattern ? "\(typeName)Patterns.\(SwiftNaming.property(field.name).replacingOccurrences(of: "`", with: ""))" : nil
            return FieldModel(
                field: field, mapping: ValueMapping(
                    spec: field.spec, enumTypeName: enumName, patternSymbol: patternSymbol, normalizesToNFC: field.unique),
                property: SwiftNaming.property(field.name))
        }
    }

    var name: String { resource.name }
    var createName: String { name + "Create" }
    var patchName: String { name + "Patch" }
    var filterName: String { name + "Filter" }
    var sortKeyName: String { name + "SortKey" }

    /// Fields a client may send on create (everything but `read_only`).
    var writableFields: [FieldModel] { fields.filter { !$0.field.readOnly } }
    /// Fields a client may send in a merge patch.
    var patchableFields: [FieldModel] { fields.filter { !$0.field.readOnly && !$0.field.writeOnce } }
    var filterFields: [FieldModel] { fields.filter(\.field.filter) }

    /// Every enum type this resource needs: (type name, values).
    var enums: [(String, [String])] {
        fields.compactMap { f in
            switch f.field.type {
            case let .enumeration(values): return (f.mapping.enumTypeName ?? "", values)
            case let .array(items):
                if case let .enumeration(values) = items.type { return ((f.mapping.enumTypeName ?? "") + "Item", values) }
                return nil
            default: return nil
            }
        }
    }

    /// Compiled patterns this resource needs: (symbol member, pattern).
    var patterns: [(String, String)] {
        fields.flatMap { f -> [(String, String)] in
            let member = f.property.replacingOccurrences(of: "`", with: "")
            var result: [(String, String)] = []
            if let p = f.field.spec.pattern { result.append((member, p)) }
            if case let .array(items) = f.field.type, let p = items.pattern { result.append((member + "Item", p)) }
            return result
        }
    }

    static let implicitColumns: [(name: String, property: String, swiftType: String, sqlType: String)] = [
        ("id", "id", "UUID", "uuid"),
        ("workspace_id", "workspaceID", "UUID", "uuid"),
        ("created_at", "createdAt", "Date", "timestamptz"),
        ("updated_at", "updatedAt", "Date", "timestamptz"),
        ("version", "version", "Int64", "bigint"),
    ]
}
