import CoreMetrics
import Synchronization

/// EVENTs read on all of the relay's connections and not answered yet, exported as `wharf_relay_events_in_flight`:
/// each connection holds at most `WHARF_RELAY_EVENTS_IN_FLIGHT` of them, and gives every one back when it
/// ends, however it ends.
public final class RelayIntake: Sendable {
    private let count = Mutex(0)
    private let gauge: Gauge?

    public init(metrics: (any MetricsFactory)? = nil) {
        gauge = metrics.map { Gauge(label: "wharf_relay_events_in_flight", factory: $0) }
        gauge?.record(0)
    }

    public var inFlight: Int { count.withLock { $0 } }

    func entered() {
        record(
            count.withLock {
                $0 += 1; return $0
            })
    }
    func left() {
        record(
            count.withLock {
                $0 = max(0, $0 - 1); return $0
            })
    }

    private func record(_ value: Int) { gauge?.record(value) }
}
