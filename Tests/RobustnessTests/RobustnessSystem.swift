import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing
import WharfTestSupport
import WharfTopology

/// Every robustness suite, one after the other: they share one system, and one suite's load would make
/// another's timing and memory figures meaningless.
@Suite("Robustness", .serialized)
struct RobustnessSuites {}

/// The system every robustness test abuses: the real executables, with settings that keep calls short
/// (a peer that does not answer is given up after a second).
enum Robustness {
    static func system() async throws -> WharfSystem {
        // Places of limited streams are lost after 3 s without progress, a watcher's after 5 s (the slot
        // lifecycle tests wait for them); every process exports its limiters' counts.
        try await WharfSystem.shared(
            environment: [
                "WHARF_NEGENTROPY_PEER_TIMEOUT": "1s", "WHARF_NEGENTROPY_PEER_IDLE_TIMEOUT": "2s",
                "WHARF_JOB_POLL_INTERVAL": "500ms", "WHARF_STREAM_IDLE_TIMEOUT": "3s", "WHARF_STORE_WATCH_DURATION": "5s",
                "WHARF_BACKREST_AUTHORIZATION_RECHECK": "1s", "WHARF_NEGENTROPY_SESSION_TIMEOUT": "5s",
                // One routing peer (nothing listens there), so that the authorization tests can prove a node credential.
                "WHARF_ROUTING_PEERS": "\(routingPeerID)=127.0.0.1:9", "WHARF_ROUTING_PEER_SECRETS": "\(routingPeerID)=\(routingPeerSecret)",
                "WHARF_NEGENTROPY_FRONTEND_TOKEN": frontEndToken,
                // A reader that takes nothing for 3 s is dropped; a socket sent nothing for 2 s is closed.
                "WHARF_RELAY_SLOW_READER_TIMEOUT": "3s", "WHARF_HTTP_IDLE_TIMEOUT": "2s",
            ], metrics: Set(WharfSystem.everyComponent))
    }

    static let routingPeerID = "robustness-peer"
    static let routingPeerSecret = "robustness-peer-secret-5e1b"
    static let frontEndToken = "robustness-front-end-token-91c4"

    /// Where a row's calls go directly: the executable serving its service (health: every one).
    static func directPorts(_ row: RobustnessRow, in system: WharfSystem) -> [Int] {
        if row.service == "grpc.health.v1.Health" { return system.components.map(\.grpcPort) }
        if row.service == "wharf.gateway.v1.GatewayStatus" { return [system.port("gateway")] }
        if row.service == "wharf.runtime.v1.ReplicaStatus" { return system.components.filter { $0.name != "gateway" }.map(\.grpcPort) }
        guard let owner = SystemShape.component(serving: row.service) else { return [] }
        return [system.port(owner.rawValue)]
    }

    /// Whether the gateway routes the row's service (it answers health and its own status itself).
    static func routedByGateway(_ row: RobustnessRow) -> Bool {
        ["grpc.health.v1.Health", "wharf.gateway.v1.GatewayStatus"].contains(row.service)
            || SystemShape.component(serving: row.service) != nil
    }

    /// The problem with an outcome, or nil when it is one a hostile request may get.
    static func problem(_ outcome: CallOutcome, allowed extra: Set<RPCError.Code>) -> String? {
        guard let code = outcome.code else { return nil }
        guard RobustnessTable.namedStatuses.contains(code) || extra.contains(code) else { return "status \(outcome)" }
        guard !outcome.message.isEmpty else { return "status \(code) without a message saying what was wrong" }
        return nil
    }

    /// Asserts that every process is the one started and SERVING.
    static func expectAllAlive(_ system: WharfSystem, after group: String, sourceLocation: SourceLocation = #_sourceLocation) async {
        let problems = await system.problems()
        #expect(problems.isEmpty, "after \(group): \(problems.joined(separator: "\n"))", sourceLocation: sourceLocation)
    }

    /// Runs `calls` with at most `width` in flight.
    static func forEach<Item: Sendable>(_ items: [Item], width: Int = 8, _ call: @escaping @Sendable (Item) async -> Void) async {
        await withTaskGroup(of: Void.self) { group in
            var iterator = items.makeIterator()
            for _ in 0..<width {
                guard let item = iterator.next() else { break }
                group.addTask { await call(item) }
            }
            while await group.next() != nil {
                guard let item = iterator.next() else { continue }
                group.addTask { await call(item) }
            }
        }
    }
}

/// Failures found while abusing, collected across concurrent calls and reported together.
final class FailureLog: Sendable {
    private let entries = Mutex<[String]>([])
    func record(_ entry: String) { entries.withLock { $0.append(entry) } }
    var all: [String] { entries.withLock { $0 } }
}

/// A value shared by concurrent tasks of a test.
final class Shared<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func update<T>(_ body: (inout Value) -> T) -> T { value.withLock { body(&$0) } }
    var current: Value { value.withLock { $0 } }
}

/// A client connection to 127.0.0.1:`port` for the duration of `body`.
func withRawClient<T: Sendable>(port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    try await withTestClient(port: port, body)
}
