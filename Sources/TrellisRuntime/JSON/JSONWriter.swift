import Foundation
import NIOCore

/// Writes compact JSON into a byte array. Generated models use it to encode themselves
/// without going through `Encodable`, so every field (null included) appears in a
/// fixed order and no reflection is involved.
///
/// Each value is appended in one piece with its comma: numbers, ids, dates and short
/// strings are formatted in a scratch buffer on the stack first; long strings are copied in
/// whole runs between the bytes that need an escape, found 8 bytes at a time.
public struct JSONWriter: Sendable {
    public private(set) var bytes: [UInt8]
    private var needsComma = false

    public init(capacity: Int = 512) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    public var string: String { String(decoding: bytes, as: UTF8.self) }

    /// The JSON as a `ByteBuffer` of its exact size (one copy): a response body.
    public var byteBuffer: ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: bytes.count)
        buffer.writeBytes(bytes)
        return buffer
    }

    public mutating func beginObject() {
        writeToken(UInt8(ascii: "{"))
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
        writeToken(UInt8(ascii: "["))
        needsComma = false
    }

    public mutating func endArray() {
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    /// Writes `"key":`; the next value call writes the member's value.
    public mutating func key(_ key: String) {
        var key = key
        key.withUTF8 { writeQuoted($0, then: UInt8(ascii: ":")) }
        needsComma = false
    }

    /// Writes a member name rendered by ``key(_:)`` beforehand (`"name":`).
    mutating func member(_ renderedKey: [UInt8]) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: renderedKey)
        needsComma = false
    }

    /// Writes a member whose name was rendered beforehand, and its value.
    mutating func member(_ renderedKey: [UInt8], _ value: JSONValue) {
        member(renderedKey)
        self.value(value)
    }

    public mutating func null() {
        writeLiteral("null")
    }

    public mutating func value(_ string: String) {
        var string = string
        string.withUTF8 { writeQuoted($0, then: nil) }
        needsComma = true
    }

    /// The string whose UTF-8 is `utf8` (a text column's bytes); written as
    /// `String(decoding:as:)` would give it, so bytes that are not UTF-8 are repaired first,
    /// and UTF-8 (which Postgres guarantees in a UTF8 database) is copied without a `String`.
    mutating func value(utf8: ByteBuffer) {
        utf8.withUnsafeReadableBytes { value(utf8: $0) }
    }

    /// ``value(utf8:)`` of bytes read in place (a cell of ``SQLRow/withUnsafeCells(_:)``).
    mutating func value(utf8 raw: UnsafeRawBufferPointer) {
        let text = raw.assumingMemoryBound(to: UInt8.self)
        if Self.isUTF8(text) {
            value(validatedUTF8: text)
        } else {
            value(String(decoding: text, as: UTF8.self))
        }
    }

    /// The string whose UTF-8 `utf8` is, already checked (``isUTF8(_:)``): as `value(_: String)`.
    mutating func value(validatedUTF8 utf8: UnsafeBufferPointer<UInt8>) {
        writeQuoted(utf8, then: nil)
        needsComma = true
    }

    /// The key whose UTF-8 `utf8` is, already checked (``isUTF8(_:)``): as `key(_:)`.
    mutating func key(validatedUTF8 utf8: UnsafeBufferPointer<UInt8>) {
        writeQuoted(utf8, then: UInt8(ascii: ":"))
        needsComma = false
    }

    /// Whether `bytes` are well-formed UTF-8, checked without making a `String` (``UTF8Validation``).
    static func isUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        UTF8Validation.isValid(bytes)
    }

    /// Writes the JSON text `json` as `value(JSONParser.parse(json))` would, checked as strictly,
    /// without building the value: a `jsonb` column on its way from a row to a response.
    /// On an error nothing is written.
    mutating func value(jsonText json: [UInt8]) throws(JSONParseError) {
        let (count, comma) = (bytes.count, needsComma)
        do {
            try JSONParser.copy(json, to: &self)
        } catch {
            bytes.removeSubrange(count...)
            needsComma = comma
            throw error
        }
    }

    public mutating func value(_ bool: Bool) {
        writeLiteral(bool ? "true" : "false")
    }

    public mutating func value(_ integer: Int64) {
        writeValue(maximum: 20) { out in
            var offset = 0
            if integer < 0 {
                out[0] = UInt8(ascii: "-")
                offset = 1
            }
            // Int64.min has no positive counterpart: its magnitude as UInt64.
            return ASCIIDigits.decimal(integer.magnitude, 1, into: out, at: offset)
        }
    }

    public mutating func value(_ double: Double) {
        guard double.isFinite else { return null() }
        if double == double.rounded(), abs(double) < 1e15 { return value(Int64(double)) }
        // The shortest text that reads back as `double` (at most 24 bytes); up to 15 bytes it
        // is a small string, which needs no allocation.
        var text = double.description
        text.withUTF8 { utf8 in
            writeValue(maximum: utf8.count) { out in
                _ = out.initialize(fromContentsOf: utf8)
                return utf8.count
            }
        }
    }

    /// The lowercase hyphenated form, written byte by byte.
    public mutating func value(_ uuid: UUID) {
        writeValue(maximum: 38) { out in
            out[0] = UInt8(ascii: "\"")
            uuid.writeLowercased(into: UnsafeMutableBufferPointer(rebasing: out[1..<37]))
            out[37] = UInt8(ascii: "\"")
            return 38
        }
    }

    /// RFC 3339 UTC timestamp with microseconds.
    public mutating func value(_ date: Date) {
        writeValue(maximum: RFC3339.maximumLength + 2) { out in
            out[0] = UInt8(ascii: "\"")
            let end = RFC3339.write(date, into: out, at: 1)
            out[end] = UInt8(ascii: "\"")
            return end + 1
        }
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

    /// Appends a value that `write` appends to the bytes itself, after a comma if one is due.
    /// If `write` returns false, the bytes are as they were before the call and so is the
    /// comma: the caller writes the value another way.
    mutating func appendValue(_ write: (inout [UInt8]) -> Bool) -> Bool {
        let count = bytes.count
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        guard write(&bytes) else {
            bytes.removeSubrange(count...)
            return false
        }
        needsComma = true
        return true
    }

    /// Appends pre-rendered JSON text verbatim.
    public mutating func raw(_ json: [UInt8]) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: json)
        needsComma = true
    }

    /// Appends a slice of pre-rendered JSON text verbatim (one cell of a GraphQL level's text).
    mutating func raw(_ json: ArraySlice<UInt8>) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(contentsOf: json)
        needsComma = true
    }

    /// Starts the next value without a comma: values written back to back and told apart
    /// by the caller's offsets (``ProjectedCells``), not by the writer's punctuation.
    mutating func startDetachedValue() {
        needsComma = false
    }

    // MARK: Writing bytes

    /// `[` or `{`, after a comma if a value came before.
    private mutating func writeToken(_ token: UInt8) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(token)
    }

    private mutating func writeLiteral(_ literal: StaticString) {
        literal.withUTF8Buffer { utf8 in
            writeValue(maximum: utf8.count) { out in
                _ = out.initialize(fromContentsOf: utf8)
                return utf8.count
            }
        }
    }

    /// Appends a value that `format` writes into a scratch buffer of at least `maximum`
    /// bytes (returning how many it wrote), after a comma if one is due: one append.
    @inline(__always)
    private mutating func writeValue(maximum: Int, _ format: (UnsafeMutableBufferPointer<UInt8>) -> Int) {
        let comma = needsComma
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: maximum + 1) { scratch in
            var count: Int
            if comma {
                scratch[0] = UInt8(ascii: ",")
                count = 1 + format(UnsafeMutableBufferPointer(rebasing: scratch[1...]))
            } else {
                count = format(scratch)
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<count]))
        }
        needsComma = true
    }

    /// Strings up to this long that need no escape are written through the scratch buffer,
    /// quotes, comma and all, in one append.
    private static let shortString = 64

    /// `utf8` between quotes, after a comma if one is due, then `suffix` (a key's `:`).
    /// Longer strings and those with escapes are copied in runs between the bytes that need
    /// one; only `"`, `\\` and control characters are written one by one.
    private mutating func writeQuoted(_ utf8: UnsafeBufferPointer<UInt8>, then suffix: UInt8?) {
        let count = utf8.count
        var escape = Self.firstEscape(in: utf8, from: 0)
        if escape == count, count <= Self.shortString {
            writeValue(maximum: count + 3) { out in
                out[0] = UInt8(ascii: "\"")
                if let base = utf8.baseAddress { (out.baseAddress! + 1).initialize(from: base, count: count) }
                out[count + 1] = UInt8(ascii: "\"")
                guard let suffix else { return count + 2 }
                out[count + 2] = suffix
                return count + 3
            }
            return
        }
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        guard let base = utf8.baseAddress else { return }
        bytes.append(contentsOf: UnsafeBufferPointer(start: base, count: escape))
        while escape < count {
            writeEscaped(base[escape])
            let next = Self.firstEscape(in: utf8, from: escape + 1)
            bytes.append(contentsOf: UnsafeBufferPointer(start: base + escape + 1, count: next - escape - 1))
            escape = next
        }
        bytes.append(UInt8(ascii: "\""))
        if let suffix { bytes.append(suffix) }
    }

    /// The index of the first byte at or after `start` that needs an escape, `utf8.count` if none.
    @inline(__always)
    static func firstEscape(in utf8: UnsafeBufferPointer<UInt8>, from start: Int) -> Int {
        guard let base = utf8.baseAddress else { return 0 }
        let count = utf8.count
        var index = start
        while index &+ 8 <= count {
            let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
            let mask = escapeMask(word)
            // The lowest flagged byte is the first that needs an escape.
            if mask != 0 { return index &+ (mask.trailingZeroBitCount &>> 3) }
            index &+= 8
        }
        while index < count {
            let byte = base[index]
            if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return index }
            index &+= 1
        }
        return count
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
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 6) { out in
            out[0] = UInt8(ascii: "\\")
            var count = 2
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out[1] = byte
            case 0x0A: out[1] = UInt8(ascii: "n")
            case 0x0D: out[1] = UInt8(ascii: "r")
            case 0x09: out[1] = UInt8(ascii: "t")
            default:
                out[1] = UInt8(ascii: "u")
                out[2] = UInt8(ascii: "0")
                out[3] = UInt8(ascii: "0")
                ASCIIDigits.hex(UInt64(byte), digits: 2, into: out, at: 4)
                count = 6
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: out[..<count]))
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
