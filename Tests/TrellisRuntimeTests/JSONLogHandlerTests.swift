import Foundation
import Logging
import Testing

@testable import TrellisRuntime

@Suite("JSON log handler")
struct JSONLogHandlerTests {
    private func written(_ value: Logger.Metadata.Value) throws -> JSONValue {
        var w = JSONWriter()
        JSONLogHandler.writeValue(value, to: &w)
        return try JSONValue(parsing: w.bytes)
    }

    @Test("integers of every width are JSON numbers, a UInt64 above Int64.max included (it used to trap)")
    func wideIntegers() throws {
        #expect(try written(.stringConvertible(UInt64.max)) == JSONValue(parsing: Array("18446744073709551615".utf8)))
        #expect(try written(.stringConvertible(UInt64(Int64.max) + 1)) == JSONValue(parsing: Array("9223372036854775808".utf8)))
        #expect(try written(.stringConvertible(Int64.min)) == .integer(.min))
        #expect(try written(.stringConvertible(UInt8(7))) == .integer(7))
        #expect(try written(.stringConvertible(-3)) == .integer(-3))
    }

    @Test("doubles stay numbers; other values are their description")
    func otherValues() throws {
        #expect(try written(.stringConvertible(1.5)) == .double(1.5))
        #expect(try written(.stringConvertible(true)) == .string("true"))
    }
}
