import Foundation
import Synchronization
import WharfRuntime

/// Accepted events as the other replicas receive them: a burst travels as one message with each event's JSON as
/// stored, not one encoded message per event (that cost a relay loading events about 15 % of its CPU: encoding,
/// publishing, and receiving and decoding its own messages back).
public struct NostrEventsAccepted: WharfEvent {
    public static let topic = "negentropy.events"
    /// The deployment (its event database): replicas of other deployments sharing the Redis server ignore it.
    public var deployment: String
    /// The replica that accepted them (it has already delivered them to its own connections).
    public var origin: String
    /// Each event's JSON object.
    public var events: [String]
}

/// Gathers the events this replica accepts and publishes them in batches: the first event of a burst starts a
/// drain, which lets the burst gather for a scheduler turn, then publishes what is waiting, up to
/// `maximumBatch` events a message, until nothing is.
final class AcceptedEventsPublisher: Sendable {
    static let maximumBatch = 500

    private let bus: EventBus?
    private let deployment: String
    private let replicaID: String
    private let state = Mutex((pending: [String](), draining: false))

    init(bus: EventBus?, deployment: String, replicaID: String) {
        self.bus = bus
        self.deployment = deployment
        self.replicaID = replicaID
    }

    /// Queues one accepted event, `json` as stored.
    func publish(json: String) {
        guard bus != nil else { return }
        let startDrain = state.withLock { state -> Bool in
            state.pending.append(json)
            guard !state.draining else { return false }
            state.draining = true
            return true
        }
        if startDrain { Task { await drain() } }
    }

    private func drain() async {
        while true {
            await Task.yield()
            let batch = state.withLock { state -> [String] in
                let batch = Array(state.pending.prefix(Self.maximumBatch))
                state.pending.removeFirst(batch.count)
                if batch.isEmpty { state.draining = false }
                return batch
            }
            guard !batch.isEmpty else { return }
            await bus?.publishIgnoringFailure(NostrEventsAccepted(deployment: deployment, origin: replicaID, events: batch))
        }
    }
}
