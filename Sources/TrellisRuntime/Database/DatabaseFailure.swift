import PostgresNIO
import TrellisPostgres

/// A statement's failure, whichever client ran it (postgres-nio's pool or the pipeline), as
/// the places that map it see it: the server's SQLSTATE, and what to log. One view, so the
/// problem boundary and the services that pick out a class of error read both clients alike.
struct DatabaseFailure {
    /// The server's SQLSTATE; nil when no server answered (a connection failure).
    let sqlState: String?
    private let error: any Error

    /// nil for an error that is not the database's.
    init?(_ error: any Error) {
        switch error {
        case let psql as PSQLError: sqlState = psql.serverInfo.map { $0[.sqlState] ?? "" }
        case let pipelined as PostgresPipelineError: sqlState = pipelined.sqlState
        default: return nil
        }
        self.error = error
    }

    /// What is logged: postgres-nio's full description (its query site included), or the pipeline's.
    var description: String {
        (error as? PostgresPipelineError)?.description ?? String(reflecting: error)
    }
}

/// The SQLSTATE of a statement's error, whichever client ran it; nil for anything else, or
/// when no server answered.
func sqlState(of error: any Error) -> String? {
    DatabaseFailure(error)?.sqlState
}
