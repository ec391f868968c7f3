import Foundation
import Synchronization
import WharfRuntime

/// The addresses one route forwards to, how the next one is picked, and which are ejected for failing.
public final class UpstreamCluster: Sendable {
    public enum Target: Sendable, Equatable {
        /// One address.
        case fixed(HostPort)
        /// Every address a name resolves to (re-resolved periodically).
        case dns(HostPort)
    }

    public struct Definition: Sendable, Equatable {
        public var name: String
        public var targets: [Target]

        public init(name: String, targets: [Target]) {
            self.name = name
            self.targets = targets
        }
    }

    public enum Balancing: String, Sendable {
        case roundRobin = "round-robin"
        case leastOutstanding = "least-outstanding"
    }

    private struct State {
        var addresses: [HostPort]
        var next = 0
        /// Address → when it may be tried again.
        var ejectedUntil: [HostPort: ContinuousClock.Instant] = [:]
        var consecutiveFailures: [HostPort: Int] = [:]
        /// Streams open per address (least-outstanding balancing).
        var outstanding: [HostPort: Int] = [:]
    }

    public let definition: Definition
    private let balancing: Balancing
    private let ejection: Duration
    private let state: Mutex<State>

    public init(_ definition: Definition, balancing: Balancing, ejection: Duration) {
        self.definition = definition
        self.balancing = balancing
        self.ejection = ejection
        state = Mutex(
            State(
                addresses: definition.targets.compactMap {
                    if case .fixed(let address) = $0 { address } else { nil }
                }))
    }

    public var name: String { definition.name }

    public var addresses: [HostPort] { state.withLock { $0.addresses } }

    /// Targets resolved by name; `resolve` replaces their addresses (fixed ones stay).
    public var dnsTargets: [HostPort] {
        definition.targets.compactMap { if case .dns(let name) = $0 { name } else { nil } }
    }

    public func replaceResolved(_ resolved: [HostPort]) {
        let fixed = definition.targets.compactMap { target -> HostPort? in
            if case .fixed(let address) = target { address } else { nil }
        }
        let addresses = fixed + resolved.filter { !fixed.contains($0) }
        state.withLock { state in
            guard state.addresses != addresses else { return }
            state.addresses = addresses
            state.next = 0
        }
    }

    /// The addresses to try for one request, best first: every address not ejected (in balancing order),
    /// then the ejected ones (a request is never refused while an address might answer).
    public func candidates() -> [HostPort] {
        let now = ContinuousClock.now
        return state.withLock { state in
            guard !state.addresses.isEmpty else { return [] }
            let start = state.next % state.addresses.count
            state.next &+= 1
            var ordered = Array(state.addresses[start...] + state.addresses[..<start])
            if balancing == .leastOutstanding {
                let outstanding = state.outstanding
                ordered = ordered.enumerated().sorted {
                    (outstanding[$0.element] ?? 0, $0.offset) < (outstanding[$1.element] ?? 0, $1.offset)
                }.map(\.element)
            }
            let live = ordered.filter { (state.ejectedUntil[$0] ?? now) <= now }
            return live + ordered.filter { !live.contains($0) }
        }
    }

    /// Whether some address is not ejected (the route can serve).
    public var hasLiveAddress: Bool {
        let now = ContinuousClock.now
        return state.withLock { state in state.addresses.contains { (state.ejectedUntil[$0] ?? now) <= now } }
    }

    public func recordFailure(_ address: HostPort) {
        let until = ContinuousClock.now + ejection
        state.withLock { state in
            state.consecutiveFailures[address, default: 0] += 1
            state.ejectedUntil[address] = until
        }
    }

    public func recordSuccess(_ address: HostPort) {
        state.withLock { state in
            state.consecutiveFailures[address] = nil
            state.ejectedUntil[address] = nil
        }
    }

    /// One replica as `wharfctl status` shows it.
    public struct ReplicaState: Sendable, Equatable {
        public var address: HostPort
        /// Not ejected: its last probe or call succeeded, or none has failed yet.
        public var serving: Bool
        public var consecutiveFailures: Int
        public var openStreams: Int
    }

    /// Every replica, in configured (or resolved) order.
    public func replicaStates() -> [ReplicaState] {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.addresses.map { address in
                ReplicaState(
                    address: address, serving: (state.ejectedUntil[address] ?? now) <= now,
                    consecutiveFailures: state.consecutiveFailures[address] ?? 0,
                    openStreams: max(0, state.outstanding[address] ?? 0))
            }
        }
    }

    public func streamOpened(_ address: HostPort) { state.withLock { $0.outstanding[address, default: 0] += 1 } }
    public func streamClosed(_ address: HostPort) { state.withLock { $0.outstanding[address, default: 1] -= 1 } }
}
