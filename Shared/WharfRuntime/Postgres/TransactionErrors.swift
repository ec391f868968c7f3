import PostgresNIO

extension PostgresTransactionError {
    /// The error the transaction's own closure threw, if that is why it failed (postgres-nio wraps it, so a
    /// caller's `catch is SomeDomainError` would never match the wrapper).
    public func closureError<E: Error>(as type: E.Type) -> E? {
        closureError as? E
    }
}

/// Runs `body`, rethrowing an `E` that a transaction inside it threw from its closure as itself rather than
/// wrapped in `PostgresTransactionError`.
public func unwrappingTransactionError<T, E: Error>(_ type: E.Type, _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as PostgresTransactionError {
        if let own = error.closureError(as: E.self) { throw own }
        throw error
    }
}

/// Whether `error` is PostgreSQL cancelling a statement (SQLSTATE 57014: `statement_timeout` passed, or a
/// cancel request), directly or from inside a transaction.
public func isStatementCancelled(_ error: any Error) -> Bool {
    if let error = error as? PSQLError { return error.serverInfo?[.sqlState] == "57014" }
    if let error = error as? PostgresTransactionError, let inner = error.closureError { return isStatementCancelled(inner) }
    return false
}
