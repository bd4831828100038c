import Testing
import TrellisSchema

@testable import TrellisCodegen

/// Issue 7 item 4: bounds at the edges of Double and Int64 generate valid Swift literals
/// (the generator used to trap converting `1e19` to Int64); an integer bound outside Int64
/// is a schema error (PostgresLimitTests).
@Suite("Generated validators at the numeric limits")
struct NumericBoundsTests {
    static let yaml = """
        resource: Gauge
        fields:
          reading: { type: number, minimum: 1e19, maximum: 1e300 }
          count: { type: integer, minimum: -9223372036854775808, maximum: 9223372036854775807 }
        """

    @Test func boundsAt1e19AndAtTheEndsOfInt64AreValidSwiftLiterals() throws {
        let schema = try SchemaLoader.parse(files: [("schema/gauges.yaml", Self.yaml)]).get()
        let files = SwiftGenerator.generate(schema, openAPIJSON: "{}\n", openAPIYAML: "openapi: 3.1.0\n", openRPCJSON: "{}\n")
        let inputs = try #require(files.first { $0.name == "GeneratedInputs.swift" }?.contents)
        #expect(inputs.contains(#"v.number(value, at: "/reading", minimum: 1e+19, maximum: 1e+300)"#))
        #expect(inputs.contains(#"v.integer(value, at: "/count", minimum: -9223372036854775808, maximum: 9223372036854775807)"#))
    }
}
