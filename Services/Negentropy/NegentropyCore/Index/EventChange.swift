import Foundation
import NegentropyProtocol
import Synchronization

/// One event stored or removed, as the resident indexes apply it.
public struct EventChange: Sendable, Equatable {
    public struct Fields: Sendable, Equatable {
        public var pubkey: Data
        public var kind: Int
        /// `name:value` of its indexed tags, as stored.
        public var tagKeys: [String]
    }

    public var item: NegentropyItem
    /// The stored event's fields; nil when it was removed.
    public var fields: Fields?
}

/// Who is told of this replica's commits right after them: the resident indexes, so that a client that has its
/// OK reconciles with its event at once (other replicas' commits arrive through the change feed).
public final class CommitListeners: Sendable {
    private let listeners = Mutex<[@Sendable ([EventChange]) -> Void]>([])

    public init() {}

    public func add(_ listener: @escaping @Sendable ([EventChange]) -> Void) {
        listeners.withLock { $0.append(listener) }
    }

    func publish(_ changes: [EventChange]) {
        guard !changes.isEmpty else { return }
        for listener in listeners.withLock({ $0 }) { listener(changes) }
    }
}
