import TrellisSchema

/// How one value type is stored and represented: the Swift type, the Postgres type, and
/// the expressions that convert between JSON, Swift and SQL. Every emitter (Swift model,
/// validator, SQL DDL) asks this type, so a field type is described in one place.
struct ValueMapping {
    indirect enum Storage: Equatable {
        case text, integer, double, bool, uuid, timestamp, date, json
        case enumText(type: String)
        case scalarArray(element: Storage, sqlElement: String)
        case jsonArray
    }

    let spec: ValueSpec
    /// Swift type name of an enum (field or item), when the type is `enum`.
    let enumTypeName: String?
    let storage: Storage
    /// The Swift expression of the compiled `pattern`, when the value has one.
    let patternSymbol: String?
    /// A `unique` text field: its reader normalizes to Unicode NFC, so a value typed
    /// composed or decomposed is stored, compared and filtered as one.
    let normalizesToNFC: Bool

    init(spec: ValueSpec, enumTypeName: String?, patternSymbol: String?, normalizesToNFC: Bool = false) {
        self.spec = spec
        self.enumTypeName = enumTypeName
        self.patternSymbol = patternSymbol
        self.normalizesToNFC = normalizesToNFC
        self.storage = Self.storage(for: spec, enumTypeName: enumTypeName)
    }

    private static func storage(for spec: ValueSpec, enumTypeName: String?) -> Storage {
        switch spec.type {
        case .string, .text, .email, .url: return .text
        case .integer: return .integer
        case .number: return .double
        case .boolean: return .bool
        case .uuid: return .uuid
        case .datetime: return .timestamp
        case .date: return .date
        case .enumeration: return .enumText(type: enumTypeName ?? "String")
        case .object: return .json
        case let .array(items):
            switch items.type {
            case .string, .text, .email, .url, .datetime, .date: return .scalarArray(element: .text, sqlElement: "text")
            case .enumeration: return .scalarArray(element: .enumText(type: (enumTypeName ?? "") + "Item"), sqlElement: "text")
            case .integer: return .scalarArray(element: .integer, sqlElement: "bigint")
            case .number: return .scalarArray(element: .double, sqlElement: "double precision")
            case .boolean: return .scalarArray(element: .bool, sqlElement: "boolean")
            case .uuid: return .scalarArray(element: .uuid, sqlElement: "uuid")
            case .object, .array: return .jsonArray
            }
        }
    }

    /// The item mapping of an array type.
    var itemMapping: ValueMapping? {
        guard case let .array(items) = spec.type else { return nil }
        return ValueMapping(
            spec: items, enumTypeName: enumTypeName.map { $0 + "Item" }, patternSymbol: patternSymbol.map { $0 + "Item" })
    }

    var swiftType: String {
        switch storage {
        case .text: return "String"
        case .integer: return "Int64"
        case .double: return "Double"
        case .bool: return "Bool"
        case .uuid: return "UUID"
        case .timestamp, .date: return "Date"
        case .json: return "JSONValue"
        case let .enumText(type): return type
        case .scalarArray, .jsonArray: return "[\(itemSwiftType)]"
        }
    }

    /// Swift type of array items: datetimes and dates inside arrays stay RFC 3339 strings.
    private var itemSwiftType: String {
        guard let item = itemMapping else { return "JSONValue" }
        switch item.spec.type {
        case .datetime, .date: return "String"
        case .object, .array: return "JSONValue"
        default: return item.swiftType
        }
    }

    var sqlType: String {
        switch storage {
        case .text, .enumText: return "text"
        case .integer: return "bigint"
        case .double: return "double precision"
        case .bool: return "boolean"
        case .uuid: return "uuid"
        case .timestamp: return "timestamptz"
        case .date: return "date"
        case .json, .jsonArray: return "jsonb"
        case let .scalarArray(_, sqlElement): return sqlElement + "[]"
        }
    }

    /// Converts a non-optional Swift value to an `SQLValue` expression.
    func sqlValue(_ expr: String) -> String {
        switch storage {
        case .text: return ".text(\(expr))"
        case .integer: return ".integer(\(expr))"
        case .double: return ".double(\(expr))"
        case .bool: return ".bool(\(expr))"
        case .uuid: return ".uuid(\(expr))"
        case .timestamp: return ".timestamp(\(expr))"
        case .date: return ".text(RFC3339.formatDate(\(expr)))"
        case .json: return ".json(\(expr))"
        case .enumText: return ".text(\(expr).rawValue)"
        case .jsonArray: return ".json(.array(\(expr)))"
        case let .scalarArray(element, _):
            switch element {
            case .integer: return ".integerArray(\(expr))"
            case .double: return ".doubleArray(\(expr))"
            case .bool: return ".boolArray(\(expr))"
            case .uuid: return ".uuidArray(\(expr))"
            case .enumText: return ".textArray(\(expr).map(\\.rawValue))"
            default: return ".textArray(\(expr))"
            }
        }
    }

    /// The type postgres-nio decodes the column into.
    var decodeType: String {
        switch storage {
        case .jsonArray: return "JSONValue"
        case .scalarArray(.enumText, _): return "[String]"
        default: return swiftType
        }
    }

    /// Converts a decoded column (non-optional) to the Swift property value; may throw.
    func fromDecoded(_ expr: String) -> String {
        switch storage {
        case .jsonArray: return "try JSONValue.elements(of: \(expr))"
        case let .scalarArray(.enumText(type), _): return "try \(type).decodeArray(\(expr))"
        default: return expr
        }
    }

    var needsConversionAfterDecode: Bool {
        switch storage {
        case .jsonArray, .scalarArray(.enumText, _): return true
        default: return false
        }
    }

    /// Writes a non-optional Swift value with `w`.
    func writeJSON(_ expr: String) -> String {
        switch storage {
        case .date: return "w.value(RFC3339.formatDate(\(expr)))"
        default: return "w.value(\(expr))"
        }
    }

    /// A validator call reading `value` at JSON Pointer expression `path`; evaluates to `T?`.
    func reader(value: String, path: String) -> String {
        let s = spec
        func args(_ pairs: [(String, String?)]) -> String {
            pairs.compactMap { name, value in value.map { ", \(name): \($0)" } }.joined()
        }
        let lengthArgs = args([
            ("minLength", s.minLength.map(String.init)), ("maxLength", s.maxLength.map(String.init)),
        ]) + (normalizesToNFC ? ", nfc: true" : "")
        switch s.type {
        case .string, .text: return "v.string(\(value), at: \(path)\(lengthArgs)\(patternArg))"
        case .email: return "v.email(\(value), at: \(path)\(lengthArgs)\(patternArg))"
        case .url: return "v.url(\(value), at: \(path)\(lengthArgs)\(patternArg))"
        case .integer:
            return "v.integer(\(value), at: \(path)"
                + args([("minimum", s.minimum.map { Self.int64($0.rounded(.up)) }), ("maximum", s.maximum.map { Self.int64($0.rounded(.down)) })]) + ")"
        case .number:
            return "v.number(\(value), at: \(path)" + args([("minimum", s.minimum.map(Self.double)), ("maximum", s.maximum.map(Self.double))]) + ")"
        case .boolean: return "v.boolean(\(value), at: \(path))"
        case .uuid: return "v.uuid(\(value), at: \(path))"
        case .datetime: return "v.datetime(\(value), at: \(path))"
        case .date: return "v.date(\(value), at: \(path))"
        case .enumeration: return "v.enumeration(\(value), at: \(path), as: \(enumTypeName ?? "String").self)"
        case .object: return "v.object(\(value), at: \(path))"
        case .array:
            guard let item = itemMapping else { return "nil" }
            let counts = args([("minItems", s.minItems.map(String.init)), ("maxItems", s.maxItems.map(String.init))])
            return "v.array(\(value), at: \(path)\(counts), element: { v, item, path in \(item.itemReader(value: "item", path: "path")) })"
        }
    }

    /// Reader for an array item; datetimes/dates stay strings, nested arrays/objects stay JSON.
    private func itemReader(value: String, path: String) -> String {
        switch spec.type {
        case .datetime: return "v.datetime(\(value), at: \(path)).map(RFC3339.format)"
        case .date: return "v.date(\(value), at: \(path)).map(RFC3339.formatDate)"
        case .array: return "v.jsonArray(\(value), at: \(path))"
        default: return reader(value: value, path: path)
        }
    }

    private var patternArg: String {
        guard spec.pattern != nil, let patternSymbol else { return "" }
        return ", pattern: \(patternSymbol)"
    }

    /// An integer bound as an Int64 literal, clamped to Int64's range: the schema refuses
    /// bounds outside it, but 9223372036854775807 itself arrives as the Double 2^63.
    static func int64(_ value: Double) -> String {
        if value >= 0x1p63 { return String(Int64.max) }
        if value < -0x1p63 { return String(Int64.min) }
        return String(Int64(value))
    }

    static func double(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) + ".0" : String(value)
    }
}
