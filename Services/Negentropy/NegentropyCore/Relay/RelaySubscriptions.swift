import Synchronization

/// A connection's open REQ subscriptions: their filters compiled for live matching, the parsed size they
/// hold against the connection's budget, and a generation per REQ so that an answer under way learns when
/// its subscription was closed or replaced.
final class RelaySubscriptions: Sendable {
    /// A REQ to answer: its subscription, the generation it opened, its filters.
    struct Answer: Sendable {
        var subscription: String
        var generation: Int
        var filters: [NostrFilter]
    }

    enum Opening: Sendable {
        case opened(Answer)
        case refused(String)
    }

    private struct Open {
        var generation: Int
        var filters: [CompiledFilter]
        var bytes: Int
    }

    private struct State {
        var open: [String: Open] = [:]
        var nextGeneration = 0
        var bytes = 0
        /// REQs accepted whose answer has not started.
        var waitingAnswers = 0
    }

    private let limits: RelayContext.Limits
    private let state = Mutex(State())
    /// Whether any subscription is open: live events are queued for this connection only then.
    let interest = LiveInterest()

    init(limits: RelayContext.Limits) {
        self.limits = limits
    }

    /// REQs that may wait for their answer at once (a client sending REQs faster than they are answered
    /// is refused rather than queued without end).
    var maximumWaitingAnswers: Int { limits.subscriptionsPerConnection * 2 }

    /// Opens (or replaces) `subscription`, or says why not. A refused REQ also closes a subscription of that id.
    func open(_ subscription: String, filters: [NostrFilter]) -> Opening {
        let bytes = filters.reduce(0) { $0 + $1.parsedBytes }
        let opening = state.withLock { state -> Opening in
            let replaced = state.open.removeValue(forKey: subscription)
            state.bytes -= replaced?.bytes ?? 0
            if state.open.count >= limits.subscriptionsPerConnection {
                return .refused("blocked: at most \(limits.subscriptionsPerConnection) open subscriptions per connection")
            }
            let budget = limits.filterBounds.maximumBytesPerConnection
            if state.bytes + bytes > budget {
                return .refused(
                    "blocked: this connection's open filters would take \(state.bytes + bytes) bytes parsed; at most \(budget) (close subscriptions or send smaller filters)"
                )
            }
            if state.waitingAnswers >= maximumWaitingAnswers {
                return .refused("blocked: \(state.waitingAnswers) REQs are waiting to be answered on this connection; send more after their EOSE")
            }
            state.nextGeneration += 1
            state.open[subscription] = Open(generation: state.nextGeneration, filters: filters.map(CompiledFilter.init), bytes: bytes)
            state.bytes += bytes
            state.waitingAnswers += 1
            return .opened(Answer(subscription: subscription, generation: state.nextGeneration, filters: filters))
        }
        publishInterest()
        return opening
    }

    /// Tells the live fan-out whether this connection listens (under the lock, so that a REQ's subscription
    /// receives every event accepted after it opened).
    private func publishInterest() {
        state.withLock { interest.set(!$0.open.isEmpty) }
    }

    func answerStarted() {
        state.withLock { $0.waitingAnswers -= 1 }
    }

    func close(_ subscription: String) {
        state.withLock { state in
            if let closed = state.open.removeValue(forKey: subscription) { state.bytes -= closed.bytes }
        }
        publishInterest()
    }

    /// Closes `subscription` if it is still the one `generation` opened.
    func close(_ subscription: String, ifGeneration generation: Int) {
        state.withLock { state in
            guard state.open[subscription]?.generation == generation else { return }
            if let closed = state.open.removeValue(forKey: subscription) { state.bytes -= closed.bytes }
        }
        publishInterest()
    }

    func isCurrent(_ answer: Answer) -> Bool {
        state.withLock { $0.open[answer.subscription]?.generation == answer.generation }
    }

    /// The subscriptions `event` matches; the lock is held only to copy the table.
    func matching(_ event: MatchableEvent) -> [String] {
        let open = state.withLock { $0.open }
        return open.compactMap { name, subscription in subscription.filters.contains { $0.matches(event) } ? name : nil }
    }

    var openCount: Int { state.withLock { $0.open.count } }
    var heldBytes: Int { state.withLock { $0.bytes } }
}
