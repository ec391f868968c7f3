import Foundation
import Logging
import Synchronization
import WharfRuntime

/// A stored (or ephemeral) event, told to every replica so that its relay connections can push it to their
/// live subscriptions. Like every Redis event, a hint: a client that misses one finds it with its next REQ.
public struct NostrEventAccepted: WharfEvent {
    public static let topic = "negentropy.event"
    /// The deployment (its event database): replicas of other deployments sharing the Redis server ignore it.
    public var deployment: String
    /// The replica that accepted it (it has already delivered it to its own connections).
    public var origin: String
    public var event: NostrEvent
}

/// Fan-out of accepted events to this replica's relay connections.
public final class LiveEvents: Sendable {
    private let subscribers = Mutex<[UUID: AsyncStream<NostrEvent>.Continuation]>([:])

    public init() {}

    /// A stream of events accepted from now on; finish it with `unsubscribe`.
    func subscribe() -> (UUID, AsyncStream<NostrEvent>) {
        let id = UUID()
        let (stream, continuation) = AsyncStream.makeStream(of: NostrEvent.self, bufferingPolicy: .bufferingNewest(1000))
        subscribers.withLock { $0[id] = continuation }
        return (id, stream)
    }

    func unsubscribe(_ id: UUID) {
        subscribers.withLock { $0.removeValue(forKey: id) }?.finish()
    }

    public func deliver(_ event: NostrEvent) {
        for continuation in subscribers.withLock({ Array($0.values) }) { continuation.yield(event) }
    }

    /// Delivers what the deployment's other replicas accepted, until cancelled.
    public func relay(from bus: EventBus, deployment: String, replicaID: String) async {
        for await accepted in bus.events(of: NostrEventAccepted.self) where accepted.deployment == deployment && accepted.origin != replicaID {
            deliver(accepted.event)
        }
    }
}
