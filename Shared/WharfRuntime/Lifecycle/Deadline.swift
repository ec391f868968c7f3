import Synchronization

struct TimeoutError: Error, CustomStringConvertible {
    var timeout: Duration
    var description: String { "no answer within \(timeout)" }
}

/// Runs `operation` and returns its result, or throws `TimeoutError` after `timeout` without waiting for
/// the operation to notice its cancellation (a probe stuck in a connect must not stall the caller).
@discardableResult
public func withDeadline<T: Sendable>(
    _ timeout: Duration, _ operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    let slot = Mutex<CheckedContinuation<T, any Error>?>(nil)
    let finish: @Sendable (Result<T, any Error>) -> Void = { result in
        let continuation = slot.withLock { slot -> CheckedContinuation<T, any Error>? in
            defer { slot = nil }
            return slot
        }
        continuation?.resume(with: result)
    }
    var work: Task<Void, Never>?
    var timer: Task<Void, Never>?
    defer {
        work?.cancel()
        timer?.cancel()
    }
    return try await withCheckedThrowingContinuation { continuation in
        slot.withLock { $0 = continuation }
        work = Task {
            do { finish(.success(try await operation())) } catch { finish(.failure(error)) }
        }
        timer = Task {
            try? await Task.sleep(for: timeout)
            finish(.failure(TimeoutError(timeout: timeout)))
        }
    }
}
