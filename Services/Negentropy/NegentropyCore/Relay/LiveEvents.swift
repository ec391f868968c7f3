import Foundation
import Logging
import Synchronization
import WharfRuntime

/// A stored (or ephemeral) event, told to every replica so that its relay connections can push it to their
/// live subscriptions. Like every Redis event, a hint: a client that misses one finds it with its next REQ.
/// Replicas now publish `NostrEventsAccepted` batches; this single-event form is still received from replicas
/// of the version before, during a rolling upgrade.
public struct NostrEventAccepted: WharfEvent {
    public static let topic = "negentropy.event"
    /// The deployment (its event database): replicas of other deployments sharing the Redis server ignore it.
    public var deployment: String
    /// The replica that accepted it (it has already delivered it to its own connections).
    public var origin: String
    public var event: NostrEvent
}

/// Fan-out of accepted events to this replica's relay connections. Each connection's queue is bounded in
/// bytes: a connection whose client reads slower than events arrive overflows its queue, and the relay drops
/// that client (as strfry does) instead of holding its backlog or losing events silently.
public final class LiveEvents: Sendable {
    private let subscribers = Mutex<[UUID: LiveQueue]>([:])

    public init() {}

    /// A queue of events accepted from now on, while `interest` says its connection has subscriptions open; at
    /// most `maximumBytes` waiting (`overflowed` is called, once, when more would be); finish it with
    /// `unsubscribe`.
    func subscribe(maximumBytes: Int, interest: LiveInterest, overflowed: @escaping @Sendable () -> Void) -> (UUID, LiveQueue) {
        let id = UUID()
        let queue = LiveQueue(maximumBytes: maximumBytes, interest: interest, overflowed: overflowed)
        subscribers.withLock { $0[id] = queue }
        return (id, queue)
    }

    func unsubscribe(_ id: UUID) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    /// Queues `event` for every connection with a subscription open. A connection without one (a client only
    /// publishing) is skipped: it would only wake to match nothing, and, busy publishing, could fill its queue
    /// and be dropped as a slow reader of events it never asked for.
    public func deliver(_ event: NostrEvent) {
        let queues = subscribers.withLock { $0.values.filter(\.interest.isListening) }
        guard !queues.isEmpty else { return }
        let prepared = MatchableEvent(event)
        for queue in queues { queue.offer(prepared) }
    }

    /// Whether any connection of this replica has a subscription open.
    var hasListeners: Bool { subscribers.withLock { $0.values.contains { $0.interest.isListening } } }

    /// Delivers what the deployment's other replicas accepted, until cancelled: batches (`NostrEventsAccepted`),
    /// whose events are decoded only when a connection here listens, and single events from replicas of the
    /// version before.
    public func relay(from bus: EventBus, deployment: String, replicaID: String) async {
        await withDiscardingTaskGroup { group in
            group.addTask {
                for await accepted in bus.events(of: NostrEventsAccepted.self)
                where accepted.deployment == deployment && accepted.origin != replicaID && self.hasListeners {
                    let decoder = JSONDecoder()
                    for json in accepted.events {
                        if let event = try? decoder.decode(NostrEvent.self, from: Data(json.utf8)) { self.deliver(event) }
                    }
                }
            }
            group.addTask {
                for await accepted in bus.events(of: NostrEventAccepted.self)
                where accepted.deployment == deployment && accepted.origin != replicaID {
                    self.deliver(accepted.event)
                }
            }
        }
    }
}

/// One connection's waiting live events, counted in bytes.
final class LiveQueue: Sendable {
    private struct State {
        var bytes = 0
        var overflowed = false
    }

    let maximumBytes: Int
    let interest: LiveInterest
    let events: AsyncStream<MatchableEvent>
    private let continuation: AsyncStream<MatchableEvent>.Continuation
    private let state = Mutex(State())
    private let overflowHandler: @Sendable () -> Void

    init(maximumBytes: Int, interest: LiveInterest, overflowed: @escaping @Sendable () -> Void) {
        self.maximumBytes = maximumBytes
        self.interest = interest
        overflowHandler = overflowed
        (events, continuation) = AsyncStream.makeStream(of: MatchableEvent.self, bufferingPolicy: .unbounded)
    }

    /// Queues `event`, or ends the queue when it would hold more than `maximumBytes`.
    func offer(_ event: MatchableEvent) {
        enum Outcome { case queued, overflowed, ended }
        let outcome = state.withLock { state -> Outcome in
            guard !state.overflowed else { return .ended }
            if state.bytes + event.bytes > maximumBytes, state.bytes > 0 {
                state.overflowed = true
                return .overflowed
            }
            state.bytes += event.bytes
            return .queued
        }
        switch outcome {
        case .queued: continuation.yield(event)
        case .ended: break
        case .overflowed:
            continuation.finish()
            // Its consumer may be blocked writing to the client: it is told now, not when it next looks.
            overflowHandler()
        }
    }

    /// The consumer took `event` off the queue.
    func taken(_ event: MatchableEvent) {
        state.withLock { $0.bytes -= event.bytes }
    }

    /// Whether the queue ended because its consumer fell behind.
    var overflowed: Bool { state.withLock { $0.overflowed } }

    var waitingBytes: Int { state.withLock { $0.bytes } }

    func finish() { continuation.finish() }
}

/// Whether a connection has any subscription open, kept by its subscriptions as they open and close.
final class LiveInterest: Sendable {
    private let listening = Mutex(false)
    var isListening: Bool { listening.withLock { $0 } }
    func set(_ value: Bool) { listening.withLock { $0 = value } }
}
