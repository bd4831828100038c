/// A strict RFC 8259 parser over UTF-8 bytes. It never traps on input: depth is bounded,
/// numbers are range-checked, and every failure is a ``JSONParseError``.
enum JSONParser {
    static let maximumDepth = 128

    static func parse(_ input: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        let bytes = (input as? [UInt8]) ?? Array(input)
        var state = State(bytes: bytes)
        state.skipWhitespace()
        let value = try state.parseValue(depth: 0)
        state.skipWhitespace()
        if state.index != bytes.count {
            throw state.error("unexpected content after the JSON value")
        }
        return value
    }

    /// Checks `input` as ``parse(_:)`` does and writes it to `writer` exactly as
    /// `writer.value(parse(input))` would, without building the value: objects, arrays and
    /// strings without escapes are copied as they are read; numbers and strings with escapes
    /// are decoded and written as ``JSONWriter`` writes them.
    static func copy(_ input: [UInt8], to writer: inout JSONWriter) throws(JSONParseError) {
        var state = State(bytes: input)
        state.skipWhitespace()
        try state.copyValue(depth: 0, to: &writer)
        state.skipWhitespace()
        if state.index != input.count {
            throw state.error("unexpected content after the JSON value")
        }
    }

    struct State {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) {
            self.bytes = bytes
        }

        func error(_ message: String) -> JSONParseError {
            var line = 1
            var column = 1
            for byte in bytes[..<min(index, bytes.count)] {
                if byte == UInt8(ascii: "\n") {
                    line += 1
                    column = 1
                } else if byte & 0xC0 != 0x80 {
                    column += 1
                }
            }
            return JSONParseError(message: message, line: line, column: column)
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
            guard index < bytes.count else { throw error("unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
            case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
            case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
            case UInt8(ascii: "n"): try expectLiteral("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            default: throw error("unexpected character")
            }
        }

        mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw error("unexpected end of input") }
            let pointer = literal.utf8Start
            for offset in 0..<count where bytes[index + offset] != pointer[offset] {
                throw error("invalid literal")
            }
            index += count
        }

        mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
            var members: [JSONObject.Member] = []
            var key = ""
            try walkObject(depth: depth) { (state: inout State) throws(JSONParseError) in
                key = try state.parseString()
            } value: { (state: inout State) throws(JSONParseError) in
                members.append(JSONObject.Member(key: key, value: try state.parseValue(depth: depth)))
            }
            return .object(JSONObject(members))
        }

        mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
            var elements: [JSONValue] = []
            try walkArray(depth: depth) { (state: inout State) throws(JSONParseError) in
                elements.append(try state.parseValue(depth: depth))
            }
            return .array(elements)
        }

        /// The grammar of the object at `index` (its `{`), up to and including its `}`: `key`
        /// reads each member's key (from its opening quote), `value` its value.
        mutating func walkObject(
            depth: Int, key: (inout State) throws(JSONParseError) -> Void, value: (inout State) throws(JSONParseError) -> Void
        ) throws(JSONParseError) {
            guard depth <= JSONParser.maximumDepth else { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else {
                    throw error("expected a string key")
                }
                try key(&self)
                skipWhitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                skipWhitespace()
                try value(&self)
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return
                }
                throw error("expected ',' or '}'")
            }
        }

        /// The grammar of the array at `index` (its `[`), up to and including its `]`:
        /// `element` reads each element.
        mutating func walkArray(depth: Int, element: (inout State) throws(JSONParseError) -> Void) throws(JSONParseError) {
            guard depth <= JSONParser.maximumDepth else { throw error("nesting deeper than \(JSONParser.maximumDepth)") }
            index += 1
            skipWhitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
                index += 1
                return
            }
            while true {
                skipWhitespace()
                try element(&self)
                skipWhitespace()
                guard index < bytes.count else { throw error("unexpected end of input") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                    continue
                }
                if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return
                }
                throw error("expected ',' or ']'")
            }
        }

        mutating func parseString() throws(JSONParseError) -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes.
            var allBits: UInt8 = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let slice = bytes[start..<index]
                    index += 1
                    // ASCII is valid UTF-8 as it is, and `String(decoding:)` is specialized for
                    // it, where `String(validating:)` runs generic code: validating the jsonb
                    // keys and strings of a list page's rows was 7% of its decode + encode.
                    if allBits < 0x80 { return String(decoding: slice, as: UTF8.self) }
                    guard let string = String(validating: slice, as: UTF8.self) else {
                        throw error("invalid UTF-8 in string")
                    }
                    return string
                }
                allBits |= byte
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw error("control character in string") }
                index += 1
            }
            var scratch = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let string = String(validating: scratch, as: UTF8.self) else {
                        throw error("invalid UTF-8 in string")
                    }
                    return string
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw error("unexpected end of input") }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scratch.append(0x22)
                    case UInt8(ascii: "\\"): scratch.append(0x5C)
                    case UInt8(ascii: "/"): scratch.append(0x2F)
                    case UInt8(ascii: "b"): scratch.append(0x08)
                    case UInt8(ascii: "f"): scratch.append(0x0C)
                    case UInt8(ascii: "n"): scratch.append(0x0A)
                    case UInt8(ascii: "r"): scratch.append(0x0D)
                    case UInt8(ascii: "t"): scratch.append(0x09)
                    case UInt8(ascii: "u"):
                        var scalar = try parseHex4()
                        if (0xD800...0xDBFF).contains(scalar) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                                bytes[index + 1] == UInt8(ascii: "u")
                            else { throw error("unpaired surrogate in \\u escape") }
                            index += 2
                            let low = try parseHex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw error("invalid surrogate pair") }
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(scalar) {
                            throw error("unpaired surrogate in \\u escape")
                        }
                        guard let unicode = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
                        scratch.append(contentsOf: Array(String(Character(unicode)).utf8))
                    default:
                        throw error("invalid escape sequence")
                    }
                default:
                    if byte < 0x20 { throw error("control character in string") }
                    scratch.append(byte)
                    index += 1
                }
            }
            throw error("unterminated string")
        }

        mutating func parseHex4() throws(JSONParseError) -> UInt32 {
            guard index + 4 <= bytes.count else { throw error("unexpected end of input") }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw error("invalid \\u escape")
                }
                value = value * 16 + digit
                index += 1
            }
            return value
        }

        mutating func parseNumber() throws(JSONParseError) -> JSONValue {
            let start = index
            var isInteger = true
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
            if bytes[index] == UInt8(ascii: "0") {
                index += 1
                if index < bytes.count, isDigit(bytes[index]) { throw error("leading zeros are not allowed") }
            } else {
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                isInteger = false
                index += 1
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
                isInteger = false
                index += 1
                if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") {
                    index += 1
                }
                guard index < bytes.count, isDigit(bytes[index]) else { throw error("invalid number") }
                while index < bytes.count, isDigit(bytes[index]) { index += 1 }
            }
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            if isInteger, let integer = Int64(text) {
                return .integer(integer)
            }
            guard let double = Double(text), double.isFinite else { throw error("number out of range") }
            return .double(double)
        }

        // MARK: Copying (``JSONParser/copy(_:to:)``), each step the parse's counterpart

        mutating func copyValue(depth: Int, to w: inout JSONWriter) throws(JSONParseError) {
            guard index < bytes.count else { throw error("unexpected end of input") }
            switch bytes[index] {
            case UInt8(ascii: "{"): try copyObject(depth: depth + 1, to: &w)
            case UInt8(ascii: "["): try copyArray(depth: depth + 1, to: &w)
            case UInt8(ascii: "\""): try copyString(to: &w, asKey: false)
            default: w.value(try parseValue(depth: depth))  // a literal or a number: nothing to allocate
            }
        }

        mutating func copyObject(depth: Int, to w: inout JSONWriter) throws(JSONParseError) {
            w.beginObject()
            try walkObject(depth: depth) { (state: inout State) throws(JSONParseError) in
                try state.copyString(to: &w, asKey: true)
            } value: { (state: inout State) throws(JSONParseError) in
                try state.copyValue(depth: depth, to: &w)
            }
            w.endObject()
        }

        mutating func copyArray(depth: Int, to w: inout JSONWriter) throws(JSONParseError) {
            w.beginArray()
            try walkArray(depth: depth) { (state: inout State) throws(JSONParseError) in
                try state.copyValue(depth: depth, to: &w)
            }
            w.endArray()
        }

        /// A string without escapes is copied from the input once its UTF-8 is checked; one
        /// with escapes is decoded by ``parseString()`` and written from the `String`.
        mutating func copyString(to w: inout JSONWriter, asKey: Bool) throws(JSONParseError) {
            let start = index + 1
            var end = start
            while end < bytes.count {
                let byte = bytes[end]
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                end += 1
            }
            guard end < bytes.count, bytes[end] == UInt8(ascii: "\"") else {
                // Escapes, a control character or no closing quote: the parse decides.
                let string = try parseString()
                if asKey { w.key(string) } else { w.value(string) }
                return
            }
            let copied: Bool = bytes.withUnsafeBufferPointer { all in
                let text = UnsafeBufferPointer(rebasing: all[start..<end])
                guard JSONWriter.isUTF8(text) else { return false }
                if asKey { w.key(validatedUTF8: text) } else { w.value(validatedUTF8: text) }
                return true
            }
            guard copied else { throw error("invalid UTF-8 in string") }
            index = end + 1
        }

        @inline(__always) func isDigit(_ byte: UInt8) -> Bool {
            byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
        }
    }
}
