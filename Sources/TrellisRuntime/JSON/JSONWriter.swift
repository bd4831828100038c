import Foundation

/// Writes compact JSON into a byte array. Generated models use it to encode themselves
/// without going through `Encodable`, so every field (null included) appears in a
/// fixed order and no reflection is involved.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]
    private var needsComma = false

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func beginObject() {
        separate()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
    }

    public mutating func endObject() {
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    /// Takes back the `}` just written, so that members can be added to the object that
    /// ended (a search hit's `"rank"` after its model's members).
    mutating func reopenObject() {
        precondition(bytes.last == UInt8(ascii: "}"), "reopenObject() right after endObject()")
        bytes.removeLast()
        needsComma = bytes.last != UInt8(ascii: "{")
    }

    public mutating func beginArray() {
        separate()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes `"key":`; the next value call writes the member's value.
    public mutating func key(_ key: String) {
        separate()
        writeQuoted(key)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    public mutating func null() {
        separate()
        bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        needsComma = true
    }

    public mutating func value(_ string: String) {
        separate()
        writeQuoted(string)
        needsComma = true
    }

    public mutating func value(_ bool: Bool) {
        separate()
        if bool {
            bytes.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        } else {
            bytes.append(contentsOf: [0x66, 0x61, 0x6C, 0x73, 0x65])
        }
        needsComma = true
    }

    public mutating func value(_ integer: Int64) {
        separate()
        writeInteger(integer)
        needsComma = true
    }

    public mutating func value(_ double: Double) {
        separate()
        if double.isFinite {
            if double == double.rounded(), abs(double) < 1e15 {
                writeInteger(Int64(double))
            } else {
                bytes.append(contentsOf: "\(double)".utf8)
            }
        } else {
            bytes.append(contentsOf: [0x6E, 0x75, 0x6C, 0x6C])
        }
        needsComma = true
    }

    /// The lowercase hyphenated form, written byte by byte.
    public mutating func value(_ uuid: UUID) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        uuid.appendLowercased(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    /// RFC 3339 UTC timestamp with microseconds.
    public mutating func value(_ date: Date) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        RFC3339.write(date, to: &bytes)
        bytes.append(UInt8(ascii: "\""))
        needsComma = true
    }

    public mutating func value(_ json: JSONValue) {
        switch json {
        case .null: null()
        case let .bool(b): value(b)
        case let .integer(i): value(i)
        case let .double(d): value(d)
        case let .string(s): value(s)
        case let .array(elements):
            beginArray()
            for element in elements { value(element) }
            endArray()
        case let .object(object):
            beginObject()
            for member in object {
                key(member.key)
                value(member.value)
            }
            endObject()
        }
    }

    /// Writes any value that knows how to write itself; nil becomes `null`.
    public mutating func value(_ encodable: (some JSONWritable)?) {
        if let encodable { encodable.writeJSON(to: &self) } else { null() }
    }

    /// Appends pre-rendered JSON text verbatim.
    public mutating func raw(_ json: [UInt8]) {
        separate()
        bytes.append(contentsOf: json)
        needsComma = true
    }

    private mutating func writeInteger(_ integer: Int64) {
        if integer < 0 {
            bytes.append(UInt8(ascii: "-"))
            // Int64.min has no positive counterpart: its magnitude as UInt64.
            ASCIIDigits.decimal(integer.magnitude, 1, to: &bytes)
        } else {
            ASCIIDigits.decimal(UInt64(integer), 1, to: &bytes)
        }
    }

    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeQuoted(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        // Runs of bytes that need no escape are copied whole; only `"`, `\\` and control
        // characters are written one by one.
        string.withUTF8 { utf8 in
            var runStart = 0
            for index in 0..<utf8.count {
                let byte = utf8[index]
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
                writeEscaped(byte)
                runStart = index + 1
            }
            if runStart < utf8.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private mutating func writeEscaped(_ byte: UInt8) {
        switch byte {
        case UInt8(ascii: "\""): bytes.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): bytes.append(contentsOf: [0x5C, 0x5C])
        case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        default:
            let hex: StaticString = "0123456789abcdef"
            hex.withUTF8Buffer { digits in
                bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
            }
        }
    }
}

/// A value that writes itself as JSON: generated models and enums.
public protocol JSONWritable: Sendable {
    func writeJSON(to writer: inout JSONWriter)
}

extension String: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Int64: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Double: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Bool: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension UUID: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Date: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension JSONValue: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Array: JSONWritable where Element: JSONWritable {
    public func writeJSON(to writer: inout JSONWriter) {
        writer.beginArray()
        for element in self { element.writeJSON(to: &writer) }
        writer.endArray()
    }
}
