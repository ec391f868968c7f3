import Foundation
import GRPCCore
import NegentropyProtocol
import Testing
import WharfProto
import WharfTestSupport

@testable import NegentropyCore

@Suite("Negentropy session limits")
struct SessionLimitTests {
    @Test("past WHARF_NEGENTROPY_MAX_FRONTEND_SESSIONS a HandleNegOpen gets RESOURCE_EXHAUSTED; a closed session frees its place")
    func sessionLimit() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_MAX_FRONTEND_SESSIONS": "3"])]) { services in
            let node = await NegentropyNode(services)
            let open = try Negentropy(storage: try SortedItems([])).initiate()
            let connection = "limit-\(UUID().uuidString)"
            try await withNegentropyClient(port: node.grpcPort) { client in
                for index in 0..<3 {
                    let answer = try await client.open(connection: connection, subscription: "s\(index)", message: open)
                    #expect(answer.error == "")
                }
                let refused = await #expect(throws: RPCError.self) {
                    try await client.open(connection: connection, subscription: "s3", message: open)
                }
                #expect(refused?.code == .resourceExhausted)
                #expect(refused?.message.contains("at most 3") == true, "\(refused?.message ?? "")")
                // Reopening a session that is open replaces it: it is not a new one.
                let reopened = try await client.open(connection: connection, subscription: "s0", message: open)
                #expect(reopened.error == "")
                _ = try await client.handleNegClose(
                    .with {
                        $0.connectionID = connection; $0.subscriptionID = "s1"
                    })
                let admitted = try await client.open(connection: connection, subscription: "s3", message: open)
                #expect(admitted.error == "")
                // Ids are Redis keys: bounded.
                let long = await #expect(throws: RPCError.self) {
                    try await client.open(connection: String(repeating: "c", count: 10_000), subscription: "s", message: open)
                }
                #expect(long?.code == .invalidArgument)
            }
        }
    }

    @Test("sets over WHARF_NEGENTROPY_MAX_HELD_ITEMS are dropped least recently used first and rebuilt at the next message")
    func heldItemsBudget() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_MAX_HELD_ITEMS": "150"])]) { services in
            let node = await NegentropyNode(services)
            let notes = (0..<100).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0), kind: 1, content: "held \($0)") }
            try await publish(notes, to: node)
            let sessions = try #require(node.sessions)
            let empty = try Negentropy(storage: try SortedItems([]), frameSizeLimit: 4096)
            let connection = "held-\(UUID().uuidString)"
            try await withNegentropyClient(port: node.grpcPort) { client in
                // Two sessions of 100 items each: only the newer set stays in memory.
                for subscription in ["a", "b"] {
                    let answer = try await client.handleNegOpen(
                        .with {
                            $0.connectionID = connection
                            $0.subscriptionID = subscription
                            $0.filter = .with { $0.kinds = [1] }
                            $0.initialMessage = Data(empty.initiate())
                        })
                    #expect(answer.error == "")
                }
                #expect(sessions.heldItemCount == 100)
                #expect(sessions.localSessionCount == 2)
                // The dropped session still answers: its set is rebuilt from its filter.
                let continued = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "a"
                        $0.message = Data(empty.initiate())
                    })
                #expect(continued.error == "")
                let step = try empty.reconcileAsInitiator(Array(continued.message))
                #expect(step.need.count == 100 || step.next != nil)
                #expect(sessions.heldItemCount == 100)
            }
        }
    }
}

extension NegentropyClient {
    /// NEG-OPEN of `subscription` on `connection` with no filter.
    fileprivate func open(connection: String, subscription: String, message: [UInt8]) async throws -> Orlysync_Negentropy_V1_NegOpenResponse {
        try await handleNegOpen(
            .with {
                $0.connectionID = connection
                $0.subscriptionID = subscription
                $0.initialMessage = Data(message)
            })
    }
}
