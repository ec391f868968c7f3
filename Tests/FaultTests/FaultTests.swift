import Foundation
import GRPCCore
import Synchronization
import Testing
import WharfProto
import WharfTestSupport

/// Real processes killed with SIGKILL, PostgreSQL and Redis stopped and started again under load. One at a
/// time: each measures how long recovery takes, which a neighbour's load would distort. Each prints its figures
/// on a `fault figures:` line (docs/performance.md and the closing note quote them).
@Suite("Faults", .serialized)
struct FaultTests {}

/// Call options for load during a fault: fail at once while a server is unreachable (rather than wait for
/// it), and never hang.
func faultCallOptions(timeout: Duration = .seconds(10)) -> CallOptions {
    var options = CallOptions.defaults
    options.waitForReady = false
    options.timeout = timeout
    return options
}

func reportFigures(_ test: String, _ figures: KeyValuePairs<String, String>) {
    print("fault figures: \(test): " + figures.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
}

func milliseconds(_ duration: Duration) -> String {
    String(Int(duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)) + " ms"
}

/// CIDs acknowledged by the servers, collected by many concurrent callers.
final class AcknowledgedCIDs: Sendable {
    private let cids = Mutex<[String]>([])
    private let failureCount = Atomic<Int>(0)

    func add(_ cid: String) { cids.withLock { $0.append(cid) } }
    func failed() { failureCount.add(1, ordering: .relaxed) }
    var all: [String] { cids.withLock { $0 } }
    var count: Int { cids.withLock { $0.count } }
    var failures: Int { failureCount.load(ordering: .relaxed) }
}

extension Routing_V1_RoutingService.Client where Transport: ClientTransport {
    /// Every CID routing lists for one skill.
    func listCIDs(skill: String) async throws -> [String] {
        try await list(
            .with {
                $0.queries = [
                    .with {
                        $0.type = .skill; $0.value = skill
                    }
                ]
            }
        ) { response in
            try await response.messages.reduce(into: [String]()) { $0.append($1.recordCid) }
        }
    }
}
