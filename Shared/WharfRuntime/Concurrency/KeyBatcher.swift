import Synchronization

/// Coalesces concurrent single-key reads into batched ones: a read starts a fetch at once if fewer than
/// `lanes` fetches are running, otherwise it waits and joins the next batch. Under light load every read
/// is its own query (no added latency); under heavy load one `= ANY($1)` query answers many streams' reads,
/// which costs PostgreSQL and the connection pool far less per key than one query each.
public final class KeyBatcher<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    public typealias Fetch = @Sendable ([Key]) async throws -> [Key: Value]
    private typealias Waiter = (key: Key, continuation: CheckedContinuation<Value?, any Error>)

    private struct State {
        var waiting: [Waiter] = []
        var running = 0
    }

    private let lanes: Int
    private let maximumBatch: Int
    private let fetch: Fetch
    private let state = Mutex(State())

    public init(lanes: Int, maximumBatch: Int, fetch: @escaping Fetch) {
        self.lanes = lanes
        self.maximumBatch = maximumBatch
        self.fetch = fetch
    }

    /// The value stored for `key`, or nil.
    public func load(_ key: Key) async throws -> Value? {
        try await withCheckedThrowingContinuation { continuation in
            let batch = state.withLock { state -> [Waiter]? in
                state.waiting.append((key, continuation))
                guard state.running < lanes else { return nil }
                state.running += 1
                return takeBatch(&state)
            }
            if let batch { Task { await self.run(batch) } }
        }
    }

    private func takeBatch(_ state: inout State) -> [Waiter] {
        let count = min(maximumBatch, state.waiting.count)
        let batch = Array(state.waiting.prefix(count))
        state.waiting.removeFirst(count)
        return batch
    }

    /// Runs batches until nobody is waiting, then gives its lane back.
    private func run(_ first: [Waiter]) async {
        var batch = first
        while true {
            do {
                let values = try await fetch(Array(Set(batch.map(\.key))))
                for waiter in batch { waiter.continuation.resume(returning: values[waiter.key]) }
            } catch {
                for waiter in batch { waiter.continuation.resume(throwing: error) }
            }
            let next = state.withLock { state -> [Waiter]? in
                guard !state.waiting.isEmpty else {
                    state.running -= 1
                    return nil
                }
                return takeBatch(&state)
            }
            guard let next else { return }
            batch = next
        }
    }
}
