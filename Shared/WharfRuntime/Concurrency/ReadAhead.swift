import Synchronization

/// A bounded queue between a task reading a stream and a task acting on what it read: the reader runs ahead
/// by at most `capacity` elements (it waits when the queue is full, so a fast peer cannot grow the memory
/// held for it), and the consumer can take what is already queued without waiting, to act on several
/// elements at once.
public final class ReadAhead<Element: Sendable>: Sendable {
    public let capacity: Int

    private struct State {
        var queued: [Element] = []
        var end: Result<Void, any Error>?
        var consumer: CheckedContinuation<Element?, any Error>?
        var producer: CheckedContinuation<Void, any Error>?
    }

    private let state = Mutex(State())

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    /// Queues `element`, then waits while the queue is full (throwing CancellationError when cancelled then;
    /// the element stays queued).
    public func push(_ element: Element) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // One critical section: a consumer that began waiting a moment ago gets the element directly.
                let (outcome, consumer) = state.withLock { state -> (Result<Void, any Error>?, CheckedContinuation<Element?, any Error>?) in
                    if Task.isCancelled { return (.failure(CancellationError()), nil) }
                    if let consumer = state.consumer {
                        state.consumer = nil
                        return (.success(()), consumer)
                    }
                    state.queued.append(element)
                    if state.queued.count < capacity { return (.success(()), nil) }
                    state.producer = continuation
                    return (nil, nil)
                }
                consumer?.resume(returning: element)
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let producer = state.withLock { state in
                defer { state.producer = nil }
                return state.producer
            }
            producer?.resume(throwing: CancellationError())
        }
    }

    /// Marks the end of the stream: the consumer gets what is queued, then nil (or `error`, thrown).
    public func finish(throwing error: (any Error)? = nil) {
        let consumer = state.withLock { state -> CheckedContinuation<Element?, any Error>? in
            if state.end == nil { state.end = error.map { .failure($0) } ?? .success(()) }
            guard state.queued.isEmpty else { return nil }
            defer { state.consumer = nil }
            return state.consumer
        }
        if let error { consumer?.resume(throwing: error) } else { consumer?.resume(returning: nil) }
    }

    /// The next element, waiting for one; nil at the end of the stream.
    public func next() async throws -> Element? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let (ready, producer) = state.withLock { state -> (Result<Element?, any Error>?, CheckedContinuation<Void, any Error>?) in
                    if !state.queued.isEmpty {
                        defer { state.producer = nil }
                        return (.success(state.queued.removeFirst()), state.producer)
                    }
                    if let end = state.end { return (end.map { nil }, nil) }
                    if Task.isCancelled { return (.failure(CancellationError()), nil) }
                    state.consumer = continuation
                    return (nil, nil)
                }
                producer?.resume()
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            let consumer = state.withLock { state in
                defer { state.consumer = nil }
                return state.consumer
            }
            consumer?.resume(throwing: CancellationError())
        }
    }

    /// The first queued element if it is there already and `accepts` it; never waits.
    public func takeReady(if accepts: (Element) -> Bool) -> Element? {
        let (taken, producer) = state.withLock { state -> (Element?, CheckedContinuation<Void, any Error>?) in
            guard let first = state.queued.first, accepts(first) else { return (nil, nil) }
            state.queued.removeFirst()
            defer { state.producer = nil }
            return (first, state.producer)
        }
        producer?.resume()
        return taken
    }
}
