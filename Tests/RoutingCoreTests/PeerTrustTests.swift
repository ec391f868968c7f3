import GRPCCore
import RoutingCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@Suite("Routing peers are proven, not claimed; the hop budget is the server's")
struct PeerTrustTests {
    static let secret = "routing-trust-secret-0002"

    @Test("forged announcements (no credential, a wrong one, a valid one claiming another peer) are refused and change nothing")
    func forgedAnnouncements() async throws {
        let postgres = try await TestPostgres.shared()
        try await withServices([
            .store,
            .routing(environment: [
                "WHARF_ROUTING_PEER_ID": "node-x",
                "WHARF_ROUTING_PEERS": "node-y=127.0.0.1:1,node-z=127.0.0.1:2",
                "WHARF_ROUTING_PEER_SECRETS": "node-y=\(Self.secret),node-z=routing-other-secret-0003",
            ]),
        ]) { services in
            let routing = services.port("routing")
            let database = services.database
            try await withTestClient(port: routing) { client in
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
        let portB = try freePort()
        // B does not list A, so it announces nothing to A: A can see B's records only by asking B.
        let nodeB = InProcessService.routing(environment: [
            "WHARF_LISTEN": "127.0.0.1:\(portB)", "WHARF_ROUTING_PEER_ID": "node-b", "WHARF_ROUTING_ADVERTISE": "127.0.0.1:\(portB)",
        ])
        try await withServices([.store, nodeB]) { services in
            let cid = try await withTestClient(port: services.port("store")) { storeClient in
                try await storeClient.pushRecords([labelledRecord("hops", skills: ["hop_budget"], locators: [])])[0]
            }
            try await withTestClient(port: portB) { client in
                _ = try await Routing_V1_RoutingService.Client(wrapping: client).publish(.with { $0.recordCid = cid })
            }
            for (budget, expected) in [("0", [String]()), ("1", ["\(cid)@node-b"])] {
                let nodeA = InProcessService.routing(environment: [
                    "WHARF_ROUTING_STORE": services.address("store"),
                    "WHARF_ROUTING_PEER_ID": "node-a", "WHARF_ROUTING_PEERS": "node-b=127.0.0.1:\(portB)",
                    "WHARF_ROUTING_PEER_SECRETS": "node-b=\(Self.secret)", "WHARF_ROUTING_SEARCH_HOPS": budget,
                ])
                // A database of its own: A holds nothing B published.
                try await withServices([nodeA]) { nodeARun in
                    try await withTestClient(port: nodeARun.port("routing")) { client in
                        let search = Routing_V1_RoutingService.Client(wrapping: client)
                        let found = try await search.search(.with { $0.queries = [skill("hop_budget")] }, metadata: ["wharf-routing-hops-left": "20"])
                        {
                            response in
                            try await response.messages.reduce(into: [String]()) { $0.append("\($1.recordCid)@\($1.peer.id)") }
                        }
                        #expect(found == expected, "budget \(budget)")
                    }
                }
            }
        }
    }
}
