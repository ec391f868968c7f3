import Synchronization
import WharfRuntime

/// Counts the relay's open WebSocket connections, per client address and in all, so that one client (or
/// everyone together) cannot hold more than the limits allow.
final class RelayAdmission: Sendable {
    private struct Counts {
        var byAddress: [String: Int] = [:]
        var total = 0
    }

    private let perAddress: Int
    private let total: Int
    private let counts = Mutex(Counts())
    private let gauge: LimiterGauge?

    init(perAddress: Int, total: Int, gauge: LimiterGauge? = nil) {
        self.perAddress = perAddress
        self.total = total
        self.gauge = gauge
    }

    /// Takes a place for a connection from `address`; the reason it is refused otherwise.
    func admit(_ address: String) -> String? {
        counts.withLock { counts in
            if counts.total >= total { return "blocked: the relay has \(total) connections open, try again later" }
            let open = counts.byAddress[address, default: 0]
            if open >= perAddress { return "blocked: at most \(perAddress) connections per client address" }
            counts.byAddress[address] = open + 1
            counts.total += 1
            gauge?.record(counts.total)
            return nil
        }
    }

    func release(_ address: String) {
        counts.withLock { counts in
            guard let open = counts.byAddress[address] else { return }
            counts.byAddress[address] = open > 1 ? open - 1 : nil
            counts.total -= 1
            gauge?.record(counts.total)
        }
    }

    var openConnections: Int { counts.withLock { $0.total } }
}
