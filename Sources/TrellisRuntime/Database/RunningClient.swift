import Logging
import PostgresNIO

extension PostgresClient {
    /// Runs `body` with a client for `configuration` that runs for just as long: for commands
    /// and tools (`trellis migrate`, `trellis backup`) that open a pool, use it and leave.
    public static func withRunning<T: Sendable>(
        _ configuration: PostgresClient.Configuration, logger: Logger, _ body: @Sendable (PostgresClient) async throws -> T
    ) async throws -> T {
        let client = PostgresClient(configuration: configuration, backgroundLogger: logger)
        return try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask {
                await client.run()
                return nil
            }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}
