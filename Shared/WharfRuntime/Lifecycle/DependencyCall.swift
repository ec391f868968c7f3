import Logging

/// Runs a call on a dependency (PostgreSQL, another service) for an RPC: cancellation passes through;
/// any other failure is logged with `operation` as context and replaced by `failure(operation)`, a domain
/// error that maps to INTERNAL without showing the client internals (DESIGN.md §3, Errors).
public func withLoggedFailure<T, Failure: Error>(
    _ operation: String, logger: Logger, _ message: Logger.Message,
    as failure: (String) -> Failure, _ body: () async throws -> T
) async throws -> T {
    do {
        return try await body()
    } catch is CancellationError {
        throw CancellationError()
    } catch {
        logger.error(message, metadata: ["operation": "\(operation)", "error": "\(String(reflecting: error))"])
        throw failure(operation)
    }
}
