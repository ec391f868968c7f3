import Synchronization

/// Frames read from a socket by one task and taken by another with a timeout (a peer that stops answering
/// must fail the sync, not hang it).
public final class FrameInbox<Element: Sendable>: Sendable {
    public init() {}

    private struct State {
        var queued: [Element] = []
        var finished = false
        var waiter: CheckedContinuation<Element?, any Error>?
    }

    private let state = Mutex(State())

    public func push(_ element: Element) {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            if let waiter = state.waiter {
                state.waiter = nil
                return waiter
            }
            state.queued.append(element)
            return nil
        }
        waiter?.resume(returning: element)
    }

    public func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The next frame; nil once the socket is closed and everything was taken; throws after `timeout`.
    public func next(timeout: Duration) async throws -> Element? {
        try await withDeadline(timeout) { try await self.next() }
    }

    private func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let ready = state.withLock { state -> Result<Element?, any Error>? in
                    if !state.queued.isEmpty { return .success(state.queued.removeFirst()) }
                    if state.finished { return .success(nil) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiter = continuation
                    return nil
                }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
