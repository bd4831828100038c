import Testing
@testable import TrellisRuntime

/// `TRELLIS_CORS_*`: origins, credentials and preflight max age, validated at start.
@Suite("CORS configuration from the environment")
struct CORSConfigurationTests {
    static let database = ["DATABASE_URL": "postgres://app:pw@127.0.0.1:5432/db"]

    static func problems(_ env: [String: String]) -> [String] {
        do {
            _ = try ServerConfiguration.fromEnvironment(database.merging(env) { $1 })
            return []
        } catch let error as ServerConfiguration.Invalid {
            return error.problems
        } catch {
            return ["\(error)"]
        }
    }

    @Test func unsetMeansApiYAMLDecidesWhichIsNoOriginByDefault() throws {
        #expect(try ServerConfiguration.fromEnvironment(Self.database).cors == nil)
        #expect(CORSPolicy.disabled.isEnabled == false)
    }

    @Test func originsAreACommaSeparatedListWithCredentialsAndMaxAge() throws {
        let config = try ServerConfiguration.fromEnvironment(Self.database.merging([
            "TRELLIS_CORS_ORIGINS": "https://app.example.com, http://localhost:3000",
            "TRELLIS_CORS_ALLOW_CREDENTIALS": "true",
            "TRELLIS_CORS_MAX_AGE": "120",
        ]) { $1 })
        #expect(config.cors == CORSPolicy(
            allowedOrigins: ["https://app.example.com", "http://localhost:3000"], allowCredentials: true, maxAge: 120))
        let wildcard = try ServerConfiguration.fromEnvironment(Self.database.merging(["TRELLIS_CORS_ORIGINS": "*"]) { $1 })
        #expect(wildcard.cors == CORSPolicy(allowedOrigins: ["*"]))
    }

    @Test func theWildcardWithCredentialsAndMalformedValuesAreRefusedAtStart() {
        #expect(Self.problems(["TRELLIS_CORS_ORIGINS": "*", "TRELLIS_CORS_ALLOW_CREDENTIALS": "true"])
            .contains { $0.contains("cannot be combined with the '*' origin") })
        let bad = Self.problems([
            "TRELLIS_CORS_ORIGINS": "https://app.example.com/path,ftp://x.example,app.example.com",
            "TRELLIS_CORS_ALLOW_CREDENTIALS": "yes",
            "TRELLIS_CORS_MAX_AGE": "-1",
        ])
        #expect(bad.filter { $0.hasPrefix("TRELLIS_CORS_ORIGINS") }.count == 3)
        #expect(bad.contains { $0.hasPrefix("TRELLIS_CORS_ALLOW_CREDENTIALS must be true or false") })
        #expect(bad.contains { $0.hasPrefix("TRELLIS_CORS_MAX_AGE") })
    }
}
