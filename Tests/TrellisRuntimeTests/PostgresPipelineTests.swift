import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import Testing
import TrellisRuntime
import TrellisTestSupport

@testable import TrellisPostgres

private let quietLogger = Logger(label: "trellis.tests.pipeline", factory: { _ in SwiftLogNoOpLogHandler() })

/// The app role's configuration (trust on loopback), or another role's.
private func configuration(user: String? = nil, password: String? = nil) throws -> PostgresPipeline.Configuration {
    var configuration = try DatabaseURL(try DatabaseTestEnvironment.url("TRELLIS_TEST_DATABASE_URL")).pipelineConfiguration()
    if let user {
        configuration.username = user
        configuration.password = password
    }
    return configuration
}

private func connect(_ configuration: PostgresPipeline.Configuration) async throws -> PipelinedConnection {
    try await PipelinedConnection.connect(configuration: configuration, on: MultiThreadedEventLoopGroup.singleton.next())
}

private func withPipeline<T>(_ body: (PostgresPipeline) async throws -> T) async throws -> T {
    let pipeline = PostgresPipeline(configuration: try configuration(), logger: quietLogger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await pipeline.run() }
        defer { group.cancelAll() }
        try await pipeline.waitUntilOpen()
        return try await body(pipeline)
    }
}

private func bindings(_ values: Int32...) -> SQLBindings {
    var bindings = SQLBindings(capacity: values.count)
    for value in values { bindings.append(value) }
    return bindings
}

@Suite(.timeLimit(.minutes(2))) struct PostgresPipelineTests {
    @Test func manyStatementsInFlightOnOneConnectionEachGetTheirOwnAnswer() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        let answers = try await withThrowingTaskGroup(of: (Int32, Int32).self) { group in
            for value in Int32(0)..<500 {
                group.addTask {
                    let rows = try await connection.rows("SELECT $1::int4 * 2", named: "double", bindings(value))
                    return (value, try rows[0].decode(Int32.self))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(answers.count == 500)
        #expect(answers.allSatisfy { $0.value == $0.key * 2 })
        // Prepared once on this connection, however many executions were in flight at once.
        let prepared = try await connection.rows(
            "SELECT count(*)::int4 FROM pg_prepared_statements WHERE name = 'double'", named: nil, SQLBindings())
        #expect(try prepared[0].decode(Int32.self) == 1)
    }

    @Test func aFailingStatementFailsAloneAndTheConnectionGoesOn() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        let results = await withTaskGroup(of: (Int32, Result<Int32, any Error>).self) { group in
            for divisor in Int32(-20)...20 {
                group.addTask {
                    do {
                        let rows = try await connection.rows("SELECT 100 / $1::int4", named: "divide", bindings(divisor))
                        return (divisor, .success(try rows[0].decode(Int32.self)))
                    } catch {
                        return (divisor, .failure(error))
                    }
                }
            }
            return await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        for (divisor, result) in results {
            switch result {
            case .success(let quotient):
                #expect(divisor != 0 && quotient == 100 / divisor)
            case .failure(let error):
                #expect(divisor == 0)
                guard case PostgresPipelineError.server(let server) = error else {
                    Issue.record("\(error)")
                    continue
                }
                #expect(server.sqlState == "22012")  // division_by_zero
            }
        }
        #expect(results.count == 41)
    }

    @Test func aStatementThatCannotBePreparedReportsWhyToEveryExecutionAndLaterOnesStillRun() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        for _ in 0..<2 {
            await #expect {
                _ = try await connection.rows("SELEC $1::int4", named: "typo", bindings(1))
            } throws: { error in
                guard case PostgresPipelineError.server(let server) = error else { return false }
                return server.sqlState == "42601"  // syntax_error, not "prepared statement does not exist"
            }
        }
        let rows = try await connection.rows("SELECT $1::int4 + 1", named: "fine", bindings(41))
        #expect(try rows[0].decode(Int32.self) == 42)
    }

    @Test func aNameAlreadyPreparedForAnotherTextIsNeverBoundToThisOne() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        let results = try await withThrowingTaskGroup(of: (Int, Int32).self) { group in
            for index in 0..<100 {
                group.addTask {
                    // Two callers that each call their own statement "shared".
                    let sql = index.isMultiple(of: 2) ? "SELECT $1::int4 + 1000" : "SELECT $1::int4 - 1000"
                    let rows = try await connection.rows(sql, named: "shared", bindings(Int32(index)))
                    return (index, try rows[0].decode(Int32.self))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        #expect(results.count == 100)
        for (index, value) in results {
            #expect(value == Int32(index) + (index.isMultiple(of: 2) ? 1000 : -1000))
        }
        // The same text with other parameter types is another statement too.
        var text = SQLBindings()
        text.append("7")
        let rows = try await connection.rows("SELECT $1::int4 + 1000", named: "shared", text)
        #expect(try rows[0].decode(Int32.self) == 1007)
    }

    @Test func unnamedStatementsAreParsedEachTimeAndLeaveNothingPrepared() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        for value in Int32(0)..<20 {
            let rows = try await connection.rows("SELECT $1::int4, 'x' || $1::int4", named: nil, bindings(value))
            let (number, text) = try rows[0].decode((Int32, String).self)
            #expect(number == value && text == "x\(value)")
        }
        let prepared = try await connection.rows("SELECT count(*)::int4 FROM pg_prepared_statements", named: nil, SQLBindings())
        #expect(try prepared[0].decode(Int32.self) == 0)
    }

    @Test func valuesRoundTripThroughPostgresNIOsEncodingAndDecoding() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        let id = UUID()
        let date = Date(timeIntervalSince1970: 1_764_000_000.123456)
        var values = SQLBindings()
        values.append(id)
        values.append("héllo\t\"world\"")
        values.append(Int64.max)
        values.append(date)
        values.append(["a", "b,c", ""])
        values.appendNull(as: .text)
        let rows = try await connection.rows(
            "SELECT $1::uuid, $2::text, $3::int8, $4::timestamptz, $5::text[], $6::text, 7::int2 WHERE $1::uuid IS NOT NULL",
            named: "round_trip", values)
        #expect(rows.count == 1)
        let (a, b, c, d, e, f, g) = try rows[0].decode((UUID, String, Int64, Date, [String], String?, Int16).self)
        #expect(a == id && b == "héllo\t\"world\"" && c == Int64.max && e == ["a", "b,c", ""] && f == nil && g == 7)
        #expect(abs(d.timeIntervalSince(date)) < 0.000_001)
        #expect(rows[0].columns.names.count == 7)
        #expect(try rows[0].cell(at: 6).dataType == .int2)
        #expect(throws: SQLRowError.missingColumn(7)) { try rows[0].cell(at: 7) }
        let none = try await connection.rows("SELECT 1 WHERE false", named: "nothing", SQLBindings())
        #expect(none.isEmpty)
    }

    @Test func aCancelledStatementStopsTheWaitAndTheConnectionStillAnswersAfterIt() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        let clock = ContinuousClock()
        let started = clock.now
        let slow = Task { try await connection.rows("SELECT pg_sleep(5)", named: nil, SQLBindings()) }
        try await Task.sleep(for: .milliseconds(100))
        slow.cancel()
        await #expect(throws: CancellationError.self) { _ = try await slow.value }
        // Well before the answer could come (a bound with room for a loaded CI machine: 1.0 s
        // against pg_sleep(1.5) once failed at 1.43 s with every suite running at once).
        #expect(clock.now - started < .seconds(4))
        // Its answer, when it comes, goes nowhere; the next statement gets its own.
        let rows = try await connection.rows("SELECT $1::int4", named: "after", bindings(7))
        #expect(try rows[0].decode(Int32.self) == 7)
    }

    @Test func aStatementPastItsDeadlineStopsTheWaitAndTheConnectionStillAnswersAfterIt() async throws {
        let connection = try await connect(try configuration())
        defer { Task { await connection.close() } }
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: PostgresPipelineError.deadlinePassed) {
            _ = try await connection.rows("SELECT pg_sleep(3)", named: nil, SQLBindings(), deadline: .now() + .milliseconds(150))
        }
        // The watchdog's interval past the deadline, with room for a loaded machine; well
        // before the answer.
        #expect(clock.now - started < .seconds(2))
        // A deadline already passed fails before anything is sent.
        await #expect(throws: PostgresPipelineError.deadlinePassed) {
            _ = try await connection.rows("SELECT 1", named: nil, SQLBindings(), deadline: .now() - .milliseconds(1))
        }
        #expect(connection.isActive)
        // The slow statement's answer, when it comes, goes nowhere; the next one gets its own.
        let rows = try await connection.rows("SELECT $1::int4", named: "after deadline", bindings(8), deadline: .now() + .seconds(30))
        #expect(try rows[0].decode(Int32.self) == 8)
    }

    @Test func aRoleThatMustUseSCRAMLogsInWithItsPasswordAndIsRefusedWithAnotherWithoutTheirEcho() async throws {
        let connection = try await connect(try configuration(user: "trellis_scram", password: "trellis_scram"))
        let rows = try await connection.rows("SELECT current_user::text", named: nil, SQLBindings())
        #expect(try rows[0].decode(String.self) == "trellis_scram")
        await connection.close()

        do {
            _ = try await connect(try configuration(user: "trellis_scram", password: "not-the-password-x9"))
            Issue.record("a wrong password logged in")
        } catch {
            let text = "\(error)"
            #expect(text.contains("28P01"), "\(text)")  // invalid_password
            #expect(!text.contains("not-the-password-x9"))
        }
        do {
            _ = try await connect(try configuration(user: "trellis_scram", password: nil))
            Issue.record("no password logged in")
        } catch {
            #expect("\(error)".contains("has none"), "\(error)")
        }
    }

    @Test func theClientSideOfSCRAMIsRFC7677sExample() throws {
        let client = SCRAMClient(password: "pencil", username: "user", clientNonce: "rOprNGfwEbeRWgbNEkqO")
        #expect(client.clientFirst == "n,,n=user,r=rOprNGfwEbeRWgbNEkqO")
        let final = try client.final(
            serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        #expect(final.message == "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
        try SCRAMClient.verify(serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", final)
        #expect(throws: PostgresPipelineError.self) {
            try SCRAMClient.verify(serverFinal: "v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", final)
        }
        // A server nonce that does not extend the client's is refused.
        #expect(throws: PostgresPipelineError.self) {
            _ = try client.final(serverFirst: "r=someoneElse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
        }
    }

    @Test func theMD5AnswerIsPostgresFormula() {
        // md5 + md5(md5(password + user) as hex + salt), the value Python's hashlib gives.
        #expect(md5PasswordAnswer(user: "alice", password: "secret", salt: [1, 2, 3, 4]) == "md598a0412b9c31436fc53776e863350083")
    }

    @Test func aMessageShorterThanItsOwnLengthFieldIsAProtocolViolationAndAPartOfOneWaitsForTheRest() throws {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(ascii: "D"))
        buffer.writeInteger(Int32(2))  // shorter than its own length field
        #expect(throws: PostgresPipelineError.self) { _ = try BackendMessage.next(from: &buffer) }
        var partial = ByteBuffer()
        partial.writeInteger(UInt8(ascii: "Z"))
        partial.writeInteger(Int32(5))
        #expect(try BackendMessage.next(from: &partial) == nil)  // its status byte has not arrived
        partial.writeInteger(UInt8(ascii: "I"))
        #expect(try BackendMessage.next(from: &partial)?.type == UInt8(ascii: "Z"))
    }

    @Test func thePipelineReopensAConnectionTheServerEnded() async throws {
        try await withPipeline { pipeline in
            #expect(pipeline.connectionsOpened == System.coreCount)
            let pid = try await pipeline.rows("SELECT pg_backend_pid()", named: nil, SQLBindings())[0].decode(Int32.self)
            // A role may end its own sessions.
            let admin = try await connect(try configuration())
            defer { Task { await admin.close() } }
            var target = SQLBindings()
            target.append(pid)
            let ended = try await admin.rows("SELECT pg_terminate_backend($1::int4)", named: nil, target)
            #expect(try ended[0].decode(Bool.self))
            try await eventually("the pipeline to reopen it", within: .seconds(10)) {
                pipeline.connectionsOpened == System.coreCount + 1 && pipeline.openConnections == System.coreCount
            }
            for value in Int32(0)..<50 {
                let rows = try await pipeline.rows("SELECT $1::int4", named: "alive", bindings(value))
                #expect(try rows[0].decode(Int32.self) == value)
            }
        }
    }

    @Test func aPipelineNotOpenedAtStartOpensAConnectionWhenAReadFirstWantsIt() async throws {
        var lazy = try configuration()
        lazy.openAtStart = false
        let pipeline = PostgresPipeline(configuration: lazy, logger: quietLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await pipeline.run() }
            defer { group.cancelAll() }
            try await Task.sleep(for: .milliseconds(200))
            #expect(pipeline.openConnections == 0)
            // The first read finds nothing open (the caller falls back to the pool) and asks for one.
            await #expect(throws: PostgresPipelineError.unavailable) {
                _ = try await pipeline.rows("SELECT 1", named: nil, SQLBindings())
            }
            try await eventually("the wanted connection to open") { pipeline.openConnections == 1 }
            let rows = try await pipeline.rows("SELECT $1::int4", named: "lazy", bindings(5))
            #expect(try rows[0].decode(Int32.self) == 5)
            // Off the event loops every read prefers the first connection: no other was opened.
            #expect(pipeline.connectionsOpened == 1)
        }
    }

    @Test func aStatementLeftUnansweredClosesItsConnectionAfterTheAnswerTimeout() async throws {
        var short = try configuration()
        short.answerTimeout = .milliseconds(500)
        let connection = try await connect(short)
        let clock = ContinuousClock()
        let started = clock.now
        await #expect(throws: PostgresPipelineError.connectionClosed) {
            _ = try await connection.rows("SELECT pg_sleep(5)", named: nil, SQLBindings())
        }
        // The watchdog looks once a second: closed within about two.
        #expect(clock.now - started < .seconds(3))
        try await eventually("the connection to close") { !connection.isActive }
        await #expect(throws: PostgresPipelineError.connectionClosed) {
            _ = try await connection.rows("SELECT 1", named: nil, SQLBindings())
        }
    }

    @Test func aLoginThatTheServerRefusesIsAConnectionFailureNamingTheReason() async throws {
        var wrong = try configuration()
        wrong.database = "no_such_database_here"
        await #expect {
            _ = try await connect(wrong)
        } throws: { error in
            guard case PostgresPipelineError.connectionFailed(let reason) = error else { return false }
            return reason.contains("3D000")  // invalid_catalog_name
        }
        var closed = try configuration()
        closed.port = try freeLocalPort()
        closed.connectTimeout = .seconds(2)
        await #expect(throws: PostgresPipelineError.self) { _ = try await connect(closed) }
    }
}
