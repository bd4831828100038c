import NIOCore
import PostgresNIO

/// The frontend messages of PostgreSQL's protocol 3.0 that the pipeline sends, written
/// straight into a `ByteBuffer` (protocol.html, "Message Formats").
extension ByteBuffer {
    /// `StartupMessage`: protocol 3.0 and the session's parameters (`user`, `database`, settings).
    mutating func writeStartup(_ parameters: [(String, String)]) {
        let start = writerIndex
        writeInteger(Int32(0))
        writeInteger(Int32(196_608))
        for (key, value) in parameters {
            writeNullTerminated(key)
            writeNullTerminated(value)
        }
        writeInteger(UInt8(0))
        setInteger(Int32(writerIndex - start), at: start)
    }

    /// `SSLRequest`: asks the server whether it speaks TLS, before the startup message.
    mutating func writeSSLRequest() {
        writeInteger(Int32(8))
        writeInteger(Int32(80_877_103))
    }

    /// `PasswordMessage`, also the carrier of SASL's initial and later responses.
    mutating func writePassword(_ bytes: some Collection<UInt8>) {
        writeMessage("p") { $0.writeBytes(bytes) }
    }

    /// `SASLInitialResponse`: the mechanism and the client's first message.
    mutating func writeSASLInitialResponse(mechanism: String, _ bytes: [UInt8]) {
        writeMessage("p") {
            $0.writeNullTerminated(mechanism)
            $0.writeInteger(Int32(bytes.count))
            $0.writeBytes(bytes)
        }
    }

    /// `Parse`: `sql` as statement `name` ("" for the unnamed one), its parameters' types declared.
    mutating func writeParse(name: String, sql: String, parameterTypes: [PostgresDataType]) {
        writeMessage("P") {
            $0.writeNullTerminated(name)
            $0.writeNullTerminated(sql)
            $0.writeInteger(Int16(parameterTypes.count))
            for type in parameterTypes { $0.writeInteger(type.rawValue) }
        }
    }

    /// `Describe` of a prepared statement: answered by `ParameterDescription` and `RowDescription` (or `NoData`).
    mutating func writeDescribeStatement(_ name: String) {
        writeMessage("D") {
            $0.writeInteger(UInt8(ascii: "S"))
            $0.writeNullTerminated(name)
        }
    }

    /// `Describe` of the unnamed portal: its `RowDescription` with the result formats asked for.
    mutating func writeDescribeUnnamedPortal() {
        writeMessage("D") {
            $0.writeInteger(UInt8(ascii: "P"))
            $0.writeInteger(UInt8(0))
        }
    }

    /// `Bind` of statement `name` to the unnamed portal, every result column asked for in binary.
    mutating func writeBind(statement name: String, _ bindings: SQLBindings) {
        writeMessage("B") {
            $0.writeInteger(UInt8(0))
            $0.writeNullTerminated(name)
            $0.writeInteger(Int16(bindings.formats.count))
            for format in bindings.formats { $0.writeInteger(format.rawValue) }
            $0.writeInteger(Int16(bindings.formats.count))
            var values = bindings.bytes
            $0.writeBuffer(&values)
            $0.writeInteger(Int16(1))
            $0.writeInteger(PostgresFormat.binary.rawValue)
        }
    }

    /// `Execute` of the unnamed portal, all its rows.
    mutating func writeExecute() {
        writeMessage("E") {
            $0.writeInteger(UInt8(0))
            $0.writeInteger(Int32(0))
        }
    }

    /// `Sync`: ends an implicit transaction; the server answers `ReadyForQuery`.
    mutating func writeSync() {
        writeInteger(UInt8(ascii: "S"))
        writeInteger(Int32(4))
    }

    /// `Terminate`: the polite close.
    mutating func writeTerminate() {
        writeInteger(UInt8(ascii: "X"))
        writeInteger(Int32(4))
    }

    mutating func writeNullTerminated(_ text: String) {
        writeString(text)
        writeInteger(UInt8(0))
    }

    /// A message: its type byte, its length (itself included), its body.
    mutating func writeMessage(_ type: Unicode.Scalar, _ body: (inout ByteBuffer) -> Void) {
        writeInteger(UInt8(ascii: type))
        let start = writerIndex
        writeInteger(Int32(0))
        body(&self)
        setInteger(Int32(writerIndex - start), at: start)
    }
}

/// A backend message: its type byte and its body (a slice of the bytes read, not a copy).
struct BackendMessage {
    var type: UInt8
    var body: ByteBuffer

    /// The largest message accepted: 1 GiB, Postgres's own limit on a field. A length beyond
    /// it (or below 4) means the stream is not Postgres's protocol, and the connection closes.
    static let maxLength = 1 << 30

    /// The next whole message at the front of `buffer`, consumed; nil until one has arrived.
    static func next(from buffer: inout ByteBuffer) throws(PostgresPipelineError) -> BackendMessage? {
        guard let (type, length) = buffer.getMultipleIntegers(at: buffer.readerIndex, as: (UInt8, Int32).self) else { return nil }
        guard length >= 4, Int(length) <= maxLength else {
            throw .protocolViolation("a message of type \(type) claimed \(length) bytes")
        }
        guard buffer.readableBytes >= Int(length) + 1 else { return nil }
        buffer.moveReaderIndex(forwardBy: 5)
        return BackendMessage(type: type, body: buffer.readSlice(length: Int(length) - 4)!)
    }
}

extension ByteBuffer {
    /// A NUL-terminated string, consumed with its NUL.
    mutating func readNullTerminatedString() -> String? {
        guard let end = readableBytesView.firstIndex(of: 0) else { return nil }
        let string = readString(length: end - readerIndex)
        moveReaderIndex(forwardBy: 1)
        return string
    }
}
