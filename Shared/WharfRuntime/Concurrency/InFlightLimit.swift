import Synchronization

/// Work one owner has under way (a relay connection's EVENTs being verified and stored), bounded by count and
/// by weight (bytes): `enter` waits for room — the owner stops reading, so the peer's socket fills instead of
/// the process's memory — and `leave` gives the room back. One piece heavier than the whole weight bound is
/// let in when nothing else is under way, so nothing waits for ever. `idle` waits until nothing is under way
/// (a later request must see what earlier ones stored).
public final class InFlightLimit: Sendable {
    public let maximumCount: Int
    public let maximumWeight: Int

    private struct Waiter {
        var id: Int
        var weight: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var count = 0
        var weight = 0
        var nextWaiter = 0
        /// Callers of `enter`, first come first in.
        var entering: [Waiter] = []
        var idleWaiters: [(id: Int, continuation: CheckedContinuation<Void, Never>)] = []

        func hasRoom(for weight: Int, limit: InFlightLimit) -> Bool {
            count == 0 || (count < limit.maximumCount && self.weight.addingReportingOverflow(weight).partialValue <= limit.maximumWeight)
        }
    }

    private let state = Mutex(State())

    public init(maximumCount: Int, maximumWeight: Int) {
        self.maximumCount = max(1, maximumCount)
        self.maximumWeight = max(1, maximumWeight)
    }

    /// Pieces under way, and their weight.
    public var inFlight: (count: Int, weight: Int) { state.withLock { ($0.count, $0.weight) } }

    /// Callers waiting in `enter`.
    public var waiting: Int { state.withLock { $0.entering.count } }

    /// Waits for room for one piece of `weight`, then counts it; CancellationError if cancelled first.
    public func enter(weight: Int) async throws {
        let weight = max(0, weight)
        let id = state.withLock { state -> Int in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let admitted = state.withLock { state -> Result<Void, any Error>? in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if state.entering.isEmpty, state.hasRoom(for: weight, limit: self) {
                        state.count += 1
                        state.weight &+= weight
                        return .success(())
                    }
                    state.entering.append(Waiter(id: id, weight: weight, continuation: continuation))
                    return nil
                }
                if let admitted { continuation.resume(with: admitted) }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.entering.firstIndex(where: { $0.id == id }) else { return nil }
                return state.entering.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    /// Gives back the room of one piece of `weight` (the weight it entered with).
    public func leave(weight: Int) {
        let (admitted, idle) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], [CheckedContinuation<Void, Never>]) in
            state.count = max(0, state.count - 1)
            state.weight = max(0, state.weight - max(0, weight))
            var admitted: [CheckedContinuation<Void, any Error>] = []
            while let next = state.entering.first, state.hasRoom(for: next.weight, limit: self) {
                state.entering.removeFirst()
                state.count += 1
                state.weight &+= next.weight
                admitted.append(next.continuation)
            }
            guard state.count == 0 else { return (admitted, []) }
            defer { state.idleWaiters.removeAll() }
            return (admitted, state.idleWaiters.map(\.continuation))
        }
        for continuation in admitted { continuation.resume() }
        for continuation in idle { continuation.resume() }
    }

    /// Returns once nothing is under way (at once if nothing is), or when the task is cancelled.
    public func idle() async {
        let id = state.withLock { state -> Int in
            defer { state.nextWaiter &+= 1 }
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state -> Bool in
                    if state.count == 0 || Task.isCancelled { return true }
                    state.idleWaiters.append((id, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, Never>? in
                guard let index = state.idleWaiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.idleWaiters.remove(at: index).continuation
            }
            cancelled?.resume()
        }
    }
}
