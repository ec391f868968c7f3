import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SyncCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

extension RobustnessSuites {
    /// Every RPC called without a credential, with a wrong one and with the right one, each answer compared
    /// with `AuthorizationTable`; the README's trust section holds the table's rows.
    @Suite("Robustness: who may call what", .serialized)
    struct AuthorizationTests {
        static let wrongAdmin: Metadata = [AdminBoundaryInterceptor.metadataKey: .string(TestCredentials.adminTokenText + "-but-longer")]
        /// The admin token followed by 256 more bytes: its length differs from the token's by 256, which folded
        /// into 8 bits compared as equal once.
        static let paddedAdmin: Metadata = [
            AdminBoundaryInterceptor.metadataKey: .string(TestCredentials.adminTokenText + String(repeating: "x", count: 256))
        ]
        static let credentialRefusals: Set<RPCError.Code> = [.unauthenticated, .permissionDenied]

        @Test("the table names every RPC the descriptor set defines, and the README lists its rows")
        func tableIsComplete() throws {
            let served = Set(ProtoSchema.shared.methods.keys)
            let listed = Set(AuthorizationTable.rpcs.keys)
            #expect(listed == served, "without a row: \(served.subtracting(listed).sorted()); not served: \(listed.subtracting(served).sorted())")
            let readme = try String(contentsOf: ProjectPaths.root.appendingPathComponent("README.md"), encoding: .utf8)
            let missing = AuthorizationTable.markdownRows.filter { !readme.contains($0) }
            #expect(
                missing.isEmpty,
                "README.md's trust table lacks these rows (the whole table, in order):\n\(AuthorizationTable.markdownRows.joined(separator: "\n"))")
        }

        @Test("every RPC answers as the table says without a credential, with a wrong one and with the right one")
        func everyRPCAsTheTableSays() async throws {
            let system = try await Robustness.system()
            let failures = FailureLog()
            for (path, caller) in AuthorizationTable.rpcs.sorted(by: { $0.key < $1.key }) {
                guard let row = RobustnessTable.rows.first(where: { $0.method == path }) else {
                    failures.record("\(path): no robustness row")
                    continue
                }
                for port in Robustness.directPorts(row, in: system) {
                    try await withRawClient(port: port) { client in
                        switch caller {
                        case .anyone, .relayClient:
                            for (label, metadata) in [("none", Metadata()), ("wrong", Self.wrongAdmin), ("admin", adminMetadata)] {
                                let outcome = await call(client, row, metadata: metadata)
                                if let code = outcome.code, Self.credentialRefusals.contains(code) {
                                    failures.record("\(path) (\(caller.rawValue)) with \(label) credential: \(outcome)")
                                }
                            }
                        case .admin:
                            for (label, metadata) in [("none", Metadata()), ("wrong", Self.wrongAdmin), ("padded", Self.paddedAdmin)] {
                                let outcome = await call(client, row, metadata: metadata)
                                if outcome.code != .unauthenticated { failures.record("\(path) (admin) with \(label) credential: \(outcome)") }
                            }
                            let right = await call(client, row, metadata: adminMetadata)
                            if let code = right.code, Self.credentialRefusals.contains(code) {
                                failures.record("\(path) (admin) with the admin token: \(right)")
                            }
                        case .relayFrontEnd:
                            let wrongFrontEnd: Metadata = ["wharf-frontend-token": .string(Robustness.frontEndToken + "x")]
                            for (label, metadata) in [("none", Metadata()), ("wrong", wrongFrontEnd), ("wrong admin", Self.wrongAdmin)] {
                                let outcome = await call(client, row, metadata: metadata)
                                if outcome.code != .unauthenticated {
                                    failures.record("\(path) (relay front-end) with \(label) credential: \(outcome)")
                                }
                            }
                            let frontEnd: Metadata = ["wharf-frontend-token": .string(Robustness.frontEndToken)]
                            for (label, metadata) in [("front-end", frontEnd), ("admin", adminMetadata)] {
                                let outcome = await call(client, row, metadata: metadata)
                                if let code = outcome.code, Self.credentialRefusals.contains(code) {
                                    failures.record("\(path) (relay front-end) with the \(label) token: \(outcome)")
                                }
                            }
                        case .backrestPeer:
                            try await checkBackrestPeer(client, system: system, failures: failures)
                        case .nodeCredential:
                            await checkRoutingPeer(client, failures: failures)
                        }
                    }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "the authorization table")
        }

        private func call(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ row: RobustnessRow, metadata: Metadata) async -> CallOutcome {
            await rawCall(
                client, method: row.method, messages: [row.seeds.first ?? []], timeout: min(row.timeout, .seconds(10)),
                metadata: metadata, readAtMost: row.readAtMost)
        }

        /// None: a first item that is no handshake; wrong: a valid handshake of a key the hub does not know;
        /// right: an authorized client's handshake.
        private func checkBackrestPeer(_ client: GRPCClient<HTTP2ClientTransport.Posix>, system: WharfSystem, failures: FailureLog) async throws {
            let method = "/v1sync.BackrestSyncService/Sync"
            let none = await rawCall(
                client, method: method, messages: [RobustnessTable.bytes(V1sync_SyncStreamItem.with { $0.heartbeat = .init() })],
                timeout: .seconds(10), metadata: [:])
            if none.code != .unauthenticated { failures.record("\(method) without a handshake: \(none)") }
            let stranger = BackrestIdentity.generate()
            let strange = V1sync_SyncStreamItem.with {
                $0.handshake = .with {
                    $0.protocolVersion = 1
                    $0.publicKey = stranger.publicKey.proto
                    $0.instanceID = (try? stranger.signedMessage(payload: Data("robustness-stranger".utf8))) ?? .init()
                }
            }
            let wrong = await rawCall(client, method: method, messages: [RobustnessTable.bytes(strange)], timeout: .seconds(10), metadata: [:])
            if wrong.code != .permissionDenied { failures.record("\(method) with an unknown key's handshake: \(wrong)") }
            let authorized = try await BackrestConversation.register(in: system, instanceID: "robustness-authorization")
            let right = await rawCall(client, method: method, messages: [try authorized.conversation()[0]], timeout: .seconds(10), metadata: [:])
            if right.code != nil || right.responses < 3 { failures.record("\(method) with an authorized client's handshake: \(right)") }
        }

        /// None, a wrong secret, and the secret shared with the peer the robustness system is configured with.
        private func checkRoutingPeer(_ client: GRPCClient<HTTP2ClientTransport.Posix>, failures: FailureLog) async {
            let method = "/wharf.routing.v1.PeerAnnouncements/Announce"
            let request = RobustnessTable.bytes(
                Wharf_Routing_V1_AnnounceRequest.with {
                    $0.peer = .with {
                        $0.id = Robustness.routingPeerID; $0.addrs = ["127.0.0.1:9"]
                    }
                })
            func metadata(_ secret: String) -> Metadata {
                ["wharf-peer-id": .string(Robustness.routingPeerID), "wharf-peer-secret": .string(secret)]
            }
            let none = await rawCall(client, method: method, messages: [request], metadata: [:])
            let wrong = await rawCall(client, method: method, messages: [request], metadata: metadata(Robustness.routingPeerSecret + "x"))
            let right = await rawCall(client, method: method, messages: [request], metadata: metadata(Robustness.routingPeerSecret))
            if none.code != .unauthenticated { failures.record("\(method) without a credential: \(none)") }
            if wrong.code != .unauthenticated { failures.record("\(method) with a wrong secret: \(wrong)") }
            if right.code != nil { failures.record("\(method) with the peer's secret: \(right)") }
        }
    }
}
