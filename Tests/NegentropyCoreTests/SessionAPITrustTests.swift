import Foundation
import GRPCCore
import NegentropyProtocol
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

/// The gRPC session API (HandleNegOpen, HandleNegMsg, HandleNegClose) speaks for a relay front-end's clients:
/// it needs a credential, has its own budget, and a caller reaches only the sessions it opened (issue 29).
@Suite("Negentropy's session API: who may call it, its own budget, sessions bound to their caller")
struct SessionAPITrustTests {
    static let frontEndToken = "front-end-token-for-tests-7d2c"
    static let frontEnd: Metadata = [FrontEndCredential.metadataKey: .string(frontEndToken)]
    static let admin: Metadata = [AdminBoundaryInterceptor.metadataKey: .string(TestCredentials.adminTokenText)]

    static func openRequest(_ connection: String, _ subscription: String) throws -> Orlysync_Negentropy_V1_NegOpenRequest {
        let initial = try Negentropy(storage: try SortedItems([])).initiate()
        return .with {
            $0.connectionID = connection
            $0.subscriptionID = subscription
            $0.initialMessage = Data(initial)
        }
    }

    @Test("no credential or a wrong one: UNAUTHENTICATED on all three; the front-end token and the admin token are served")
    func credentials() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_FRONTEND_TOKEN": Self.frontEndToken])]) { services in
            let node = await NegentropyNode(services)
            try await withNegentropyClient(port: node.grpcPort, admin: false) { client in
                let wrong: Metadata = [FrontEndCredential.metadataKey: .string(Self.frontEndToken + "x")]
                for metadata in [Metadata(), wrong] {
                    let open = await #expect(throws: RPCError.self) {
                        try await client.handleNegOpen(try Self.openRequest("c", "s"), metadata: metadata)
                    }
                    #expect(open?.code == .unauthenticated, "\(open?.message ?? "")")
                    let step = await #expect(throws: RPCError.self) {
                        try await client.handleNegMsg(
                            .with {
                                $0.connectionID = "c"; $0.subscriptionID = "s"; $0.message = Data([0x61])
                            }, metadata: metadata)
                    }
                    #expect(step?.code == .unauthenticated)
                    let close = await #expect(throws: RPCError.self) {
                        try await client.handleNegClose(
                            .with {
                                $0.connectionID = "c"; $0.subscriptionID = "s"
                            }, metadata: metadata)
                    }
                    #expect(close?.code == .unauthenticated)
                }
                #expect(node.sessions?.localSessionCount == 0, "a refused call opened a session")
                for metadata in [Self.frontEnd, Self.admin] {
                    let answer = try await client.handleNegOpen(try Self.openRequest("c", "s"), metadata: metadata)
                    #expect(answer.error == "")
                }
            }
        }
    }

    @Test("API sessions have their own budget: exhausting it leaves the relay's NEG-OPEN places free")
    func ownBudget() async throws {
        let environment = [
            "WHARF_NEGENTROPY_FRONTEND_TOKEN": Self.frontEndToken, "WHARF_NEGENTROPY_MAX_FRONTEND_SESSIONS": "4",
            "WHARF_NEGENTROPY_MAX_SESSIONS": "2",
        ]
        try await withServices([.negentropy(environment: environment)]) { services in
            let node = await NegentropyNode(services)
            try await withNegentropyClient(port: node.grpcPort, admin: false) { client in
                for index in 0..<4 {
                    let answer = try await client.handleNegOpen(try Self.openRequest("c\(index)", "s"), metadata: Self.frontEnd)
                    #expect(answer.error == "")
                }
                let refused = await #expect(throws: RPCError.self) {
                    try await client.handleNegOpen(try Self.openRequest("c9", "s"), metadata: Self.frontEnd)
                }
                #expect(refused?.code == .resourceExhausted)
            }
            let relay = RelayTestClient(url: node.relayURL)
            let initial = try Negentropy(storage: try SortedItems([])).initiate().map { String(format: "%02x", $0) }.joined()
            for subscription in ["n1", "n2"] {
                try relay.send(["NEG-OPEN", subscription, [String: Any](), initial])
                let answer = try await relay.receive()
                #expect(answer[0] as? String == "NEG-MSG", "relay NEG-OPEN refused while API sessions are exhausted: \(answer)")
            }
            #expect(node.sessions?.localSessionCount(.relay) == 2)
            #expect(node.sessions?.localSessionCount(.frontEnd) == 4)
            await relay.close()
        }
    }

    @Test("a caller reaches only its own sessions: not the relay's, not another credential's, whatever ids it sends")
    func sessionsBoundToCaller() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_FRONTEND_TOKEN": Self.frontEndToken])]) { services in
            let node = await NegentropyNode(services)
            let relay = RelayTestClient(url: node.relayURL)
            let initial = try Negentropy(storage: try SortedItems([])).initiate().map { String(format: "%02x", $0) }.joined()
            try relay.send(["NEG-OPEN", "victim", [String: Any](), initial])
            #expect(try await relay.receive()[0] as? String == "NEG-MSG")
            try await withNegentropyClient(port: node.grpcPort, admin: false) { client in
                let listed = try await client.listSessions(.init(), metadata: Self.admin).sessions
                let relaySession = try #require(listed.first { $0.subscriptionID == "victim" })
                // The relay connection's own id, sent by the front-end: not that session.
                let step = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = relaySession.connectionID
                        $0.subscriptionID = "victim"
                        $0.message = Data([0x61])
                    }, metadata: Self.frontEnd)
                #expect(step.error == NegentropySessions.notFound)
                _ = try await client.handleNegClose(
                    .with {
                        $0.connectionID = relaySession.connectionID; $0.subscriptionID = "victim"
                    },
                    metadata: Self.frontEnd)
                // A front-end's session is not the admin caller's either.
                let opened = try await client.handleNegOpen(try Self.openRequest("shared", "s"), metadata: Self.frontEnd)
                #expect(opened.error == "")
                let asAdmin = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = "shared"; $0.subscriptionID = "s"; $0.message = Data([0x61])
                    },
                    metadata: Self.admin)
                #expect(asAdmin.error == NegentropySessions.notFound)
                let asFrontEnd = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = "shared"; $0.subscriptionID = "s"; $0.message = Data([0x61])
                    },
                    metadata: Self.frontEnd)
                #expect(asFrontEnd.error == "")
            }
            // The relay's session survived the front-end's close.
            try relay.send(["NEG-MSG", "victim", "61"])
            #expect(try await relay.receive()[0] as? String == "NEG-MSG")
            await relay.close()
        }
    }
}
