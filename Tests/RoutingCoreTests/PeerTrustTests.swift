import GRPCCore
import RoutingCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@Suite("Routing peers are proven, not claimed; the hop budget is the server's", .serialized)
struct PeerTrustTests {
    static let secret = "routing-trust-secret-0002"

    @Test("forged announcements (no credential, a wrong one, a valid one claiming another peer) are refused and change nothing")
    func forgedAnnouncements() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        let store = try await startStore(database: database)
        let routing = try await startRouting(
            database: database, storePort: store.port,
            extra: [
                "WHARF_ROUTING_PEER_ID": "node-x",
                "WHARF_ROUTING_PEERS": "node-y=127.0.0.1:1,node-z=127.0.0.1:2",
                "WHARF_ROUTING_PEER_SECRETS": "node-y=\(Self.secret),node-z=routing-other-secret-0003",
            ])
        defer {
            Task {
                await routing.stop(); await store.stop()
            }
        }
        try await withTestClient(port: routing.port) { client in
            let announcements = Wharf_Routing_V1_PeerAnnouncements.Client(wrapping: client)
            let forged = Wharf_Routing_V1_AnnounceRequest.with {
                $0.peer.id = "node-z"
                $0.peer.addrs = ["evil.example:50053"]
                $0.provided = [
                    .with {
                        $0.recordCid = "baeareiforged"; $0.labels = ["/skills/forged"]
                    }
                ]
            }
            for (metadata, code, text) in [
                (Metadata(), RPCError.Code.unauthenticated, "wharf-peer-id"),
                (peerMetadata(id: "node-z", secret: "routing-wrong-secret-00"), .unauthenticated, "not valid"),
                (peerMetadata(id: "node-unknown", secret: Self.secret), .unauthenticated, "not valid"),
                (peerMetadata(id: "node-y", secret: Self.secret), .permissionDenied, "proves peer node-y"),
            ] {
                let refused = await #expect(throws: RPCError.self) { _ = try await announcements.announce(forged, metadata: metadata) }
                #expect(refused?.code == code, "\(String(describing: refused))")
                #expect(refused?.message.contains(text) == true, "\(refused?.message ?? "")")
            }
            #expect(try await postgres.count("routing.remote", database: database) == 0)
            let search = Routing_V1_RoutingService.Client(wrapping: client)
            #expect(try await search.searchAll([skill("forged")]).isEmpty)
            // The real node-z, with its own secret, is heard.
            _ = try await announcements.announce(forged, metadata: peerMetadata(id: "node-z", secret: "routing-other-secret-0003"))
            #expect(try await search.searchAll([skill("forged")]).map { "\($0.recordCid)@\($0.peer.id)" } == ["baeareiforged@node-z"])
        }
    }

    @Test("a peer without a secret, or a secret without a peer, is a configuration error")
    func secretsRequired() {
        for environment in [
            ["WHARF_ROUTING_PEERS": "node-y=127.0.0.1:1"],
            ["WHARF_ROUTING_PEERS": "node-y=127.0.0.1:1", "WHARF_ROUTING_PEER_SECRETS": "node-q=\(Self.secret)"],
            ["WHARF_ROUTING_PEERS": "node-y=127.0.0.1:1", "WHARF_ROUTING_PEER_SECRETS": "node-y=short"],
        ] {
            let reader = EnvironmentReader(environment: environment)
            _ = RoutingSettings(reader: reader)
            #expect(throws: ConfigurationError.self, "\(environment)") { try reader.validate() }
        }
    }

    @Test("a client's wharf-routing-hops-left above WHARF_ROUTING_SEARCH_HOPS is lowered to it: no peer is asked when the budget is 0")
    func hopBudget() async throws {
        let postgres = try await TestPostgres.shared()
        let store = try await startStore(database: try await postgres.createDatabase())
        let portB = try freePort()
        // B does not list A, so it announces nothing to A: A can see B's records only by asking B.
        let nodeB = try await startRouting(
            database: try await postgres.createDatabase(), storePort: store.port, port: portB,
            extra: [
                "WHARF_ROUTING_PEER_ID": "node-b", "WHARF_ROUTING_ADVERTISE": "127.0.0.1:\(portB)",
            ])
        defer {
            Task {
                await nodeB.stop(); await store.stop()
            }
        }
        let cid = try await withTestClient(port: store.port) { storeClient in
            try await storeClient.pushRecords([labelledRecord("hops", skills: ["hop_budget"], locators: [])])[0]
        }
        try await withTestClient(port: nodeB.port) { client in
            _ = try await Routing_V1_RoutingService.Client(wrapping: client).publish(.with { $0.recordCid = cid })
        }
        for (budget, expected) in [("0", [String]()), ("1", ["\(cid)@node-b"])] {
            let nodeA = try await startRouting(
                database: try await postgres.createDatabase(), storePort: store.port,
                extra: [
                    "WHARF_ROUTING_PEER_ID": "node-a", "WHARF_ROUTING_PEERS": "node-b=127.0.0.1:\(portB)",
                    "WHARF_ROUTING_PEER_SECRETS": "node-b=\(Self.secret)", "WHARF_ROUTING_SEARCH_HOPS": budget,
                ])
            try await withTestClient(port: nodeA.port) { client in
                let search = Routing_V1_RoutingService.Client(wrapping: client)
                let found = try await search.search(.with { $0.queries = [skill("hop_budget")] }, metadata: ["wharf-routing-hops-left": "20"]) {
                    response in
                    try await response.messages.reduce(into: [String]()) { $0.append("\($1.recordCid)@\($1.peer.id)") }
                }
                #expect(found == expected, "budget \(budget)")
            }
            await nodeA.stop()
        }
    }
}
