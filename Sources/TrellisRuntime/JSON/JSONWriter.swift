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
        append("null")
        needsComma = true
    }

    public mutating func value(_ string: String) {
        separate()
        writeQuoted(string)
        needsComma = true
    }

    public mutating func value(_ bool: Bool) {
        separate()
        append(bool ? "true" : "false")
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
                // The shortest text that reads back as `double`; up to 15 bytes it is a small
                // string, which needs no allocation.
                var text = double.description
                text.withUTF8 { append($0) }
            }
        } else {
            append("null")
        }
        needsComma = true
    }

    /// The lowercase hyphenated form, written byte by byte.
    public mutating func value(_ uuid: UUID) {
        separate()
        appendFormatted(maximum: 38) { buffer in
            buffer[0] = UInt8(ascii: "\"")
            uuid.writeLowercased(into: UnsafeMutableBufferPointer(rebasing: buffer[1..<37]))
            buffer[37] = UInt8(ascii: "\"")
            return 38
        }
        needsComma = true
    }

    /// RFC 3339 UTC timestamp with microseconds.
    public mutating func value(_ date: Date) {
        separate()
        appendFormatted(maximum: RFC3339.maximumLength + 2) { buffer in
            buffer[0] = UInt8(ascii: "\"")
            let end = RFC3339.write(date, into: buffer, at: 1)
            buffer[end] = UInt8(ascii: "\"")
            return end + 1
        }
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

    /// Writes any value that knows how to write itself; nil becomes `null`. Inlinable, so
    /// that generated models' optional members are written by code specialized for their
    /// type: generic code looked up `Optional<T>`'s metadata for every member it wrote
    /// (12% of the time spent writing a list page).
    @inlinable
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
        appendFormatted(maximum: 20) { buffer in
            var offset = 0
            if integer < 0 {
                buffer[0] = UInt8(ascii: "-")
                offset = 1
            }
            // Int64.min has no positive counterpart: its magnitude as UInt64.
            return ASCIIDigits.decimal(integer.magnitude, 1, into: buffer, at: offset)
        }
    }

    @inline(__always)
    private mutating func separate() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    // MARK: Bytes

    @inline(__always)
    private mutating func append(_ run: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: run)
    }

    @inline(__always)
    private mutating func append(_ literal: StaticString) {
        literal.withUTF8Buffer { append($0) }
    }

    /// Appends what `format` writes into a scratch buffer of `maximum` bytes (returning how
    /// many it wrote): digits and ids are formatted in place, then copied once.
    @inline(__always)
    private mutating func appendFormatted(maximum: Int, _ format: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximum) { buffer in
            let count = format(buffer)
            append(UnsafeBufferPointer(rebasing: buffer[..<count]))
        }
    }

    private mutating func writeQuoted(_ string: String) {
        var string = string
        string.withUTF8 { writeQuoted($0) }
    }

    /// `utf8` between quotes. Runs of bytes that need no escape are copied whole; the scan
    /// looks at 8 bytes at a time (``escapeMask(_:)``), and only `"`, `\\` and control
    /// characters are written one by one.
    private mutating func writeQuoted(_ utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        if let base = utf8.baseAddress {
            let count = utf8.count
            var runStart = 0
            var index = 0
            while index &+ 8 <= count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                let mask = Self.escapeMask(word)
                if mask == 0 {
                    index &+= 8
                    continue
                }
                // The lowest flagged byte is the first that needs an escape.
                let position = index &+ (mask.trailingZeroBitCount &>> 3)
                append(UnsafeBufferPointer(start: base + runStart, count: position &- runStart))
                writeEscaped(base[position])
                index = position &+ 1
                runStart = index
            }
            while index < count {
                let byte = base[index]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                    append(UnsafeBufferPointer(start: base + runStart, count: index &- runStart))
                    writeEscaped(byte)
                    runStart = index &+ 1
                }
                index &+= 1
            }
            append(UnsafeBufferPointer(start: base + runStart, count: count &- runStart))
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// The high bit of every byte of `word` that is `"`, `\\` or below 0x20 is set, and no
    /// bit below the lowest such byte: subtracting per byte borrows only out of a byte that
    /// matches, so only bytes above a match can be flagged wrongly. Bytes of 0x80 and up
    /// (UTF-8 beyond ASCII) never match.
    @inline(__always)
    static func escapeMask(_ word: UInt64) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let below20 = (word &- ones &* 0x20) & ~word
        let quote = word ^ (ones &* UInt64(UInt8(ascii: "\"")))
        let quotes = (quote &- ones) & ~quote
        let backslash = word ^ (ones &* UInt64(UInt8(ascii: "\\")))
        let backslashes = (backslash &- ones) & ~backslash
        return (below20 | quotes | backslashes) & (ones &* 0x80)
    }

    private mutating func writeEscaped(_ byte: UInt8) {
        bytes.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
        case 0x0A: bytes.append(UInt8(ascii: "n"))
        case 0x0D: bytes.append(UInt8(ascii: "r"))
        case 0x09: bytes.append(UInt8(ascii: "t"))
        default:
            appendFormatted(maximum: 5) { buffer in
                buffer[0] = UInt8(ascii: "u")
                buffer[1] = UInt8(ascii: "0")
                buffer[2] = UInt8(ascii: "0")
                ASCIIDigits.hex(UInt64(byte), digits: 2, into: buffer, at: 3)
                return 5
            }
        }
    }
}

/// A value that writes itself as JSON: generated models and enums.
public protocol JSONWritable: Sendable {
    func writeJSON(to writer: inout JSONWriter)
}

extension String: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Int64: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Double: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Bool: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension UUID: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Date: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension JSONValue: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) { writer.value(self) }
}

extension Array: JSONWritable where Element: JSONWritable {
    @inlinable
    public func writeJSON(to writer: inout JSONWriter) {
        writer.beginArray()
        for element in self { element.writeJSON(to: &writer) }
        writer.endArray()
    }
}
