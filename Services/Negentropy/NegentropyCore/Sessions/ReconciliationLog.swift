import CoreMetrics
import Foundation
import Synchronization

/// The reconciliations this replica ran lately, newest last, at most `capacity` (what
/// `wharf.negentropy.v1.RelayActivity` lists): kept in memory, lost at restart, never more than a page.
public final class ReconciliationLog: Sendable {
    public struct Entry: Sendable, Equatable {
        public enum Outcome: String, Sendable {
            /// The last answer was a bare version byte (every range matched), then the session ended.
            case complete
            /// NEG-CLOSE (or CloseSession) before the sets matched.
            case closed
            /// The session ended with an in-band error.
            case error
            /// Idle past the session timeout.
            case idle
            /// Its connection ended.
            case disconnected
        }

        public var origin: NegentropySessions.Origin
        public var subscriptionID: String
        public var connectionID: String
        public var startedAt: Date
        public var endedAt: Date
        public var rounds: Int
        public var setSize: Int
        public var outcome: Outcome
        public var error: String
    }

    public static let capacity = 200
    private let entries = Mutex<[Entry]>([])
    /// Where `wharf_negentropy_reconciliations_total{transport,outcome}` counts every session that ended and
    /// `wharf_negentropy_reconciliation_duration_seconds` records how long it ran.
    private let metrics: (any MetricsFactory)?

    public init(metrics: (any MetricsFactory)? = nil) {
        self.metrics = metrics
    }

    public func append(_ entry: Entry) {
        if let metrics {
            let dimensions = [("transport", entry.origin == .relay ? "relay" : "grpc"), ("outcome", entry.outcome.rawValue)]
            Counter(label: "wharf_negentropy_reconciliations_total", dimensions: dimensions, factory: metrics).increment()
            // From NEG-OPEN to the session's end: how long the protocol itself took, whatever a client does after.
            Timer(label: "wharf_negentropy_reconciliation_duration_seconds", dimensions: dimensions, factory: metrics)
                .recordSeconds(max(0, entry.endedAt.timeIntervalSince(entry.startedAt)))
        }
        entries.withLock { entries in
            entries.append(entry)
            if entries.count > Self.capacity { entries.removeFirst(entries.count - Self.capacity) }
        }
    }

    /// The newest `limit` (all kept when nil), newest first.
    public func recent(limit: Int? = nil) -> [Entry] {
        entries.withLock { entries in Array(entries.suffix(limit ?? entries.count).reversed()) }
    }
}
