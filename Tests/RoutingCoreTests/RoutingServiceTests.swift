import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RoutingCore
import Testing
import WharfProto
import WharfTestSupport

@Suite("Routing service with the store, over gRPC")
struct RoutingServiceTests {
    static let generation = "natural_language_processing/natural_language_generation/text_completion"
    static let reasoning = "natural_language_processing/analytical_reasoning/problem_solving"
    static let vision = "images_computer_vision/image_classification"
    /// The secret node pairs of these tests share (WHARF_ROUTING_PEER_SECRETS).
    static let pairSecret = "routing-pair-secret-0001"

    @Test("List and Search return exactly the expected CIDs and scores; Unpublish and store Delete remove records")
    func singleNode() async throws {
        try await withServices([.store, .routing(environment: ["WHARF_ROUTING_PEER_ID": "node-a"])]) { services in
            let (store, routing) = (services.port("store"), services.port("routing"))
            try await withTestClient(port: store) { storeClient in
                try await withTestClient(port: routing) { client in
                    let cids = try await storeClient.pushRecords([
                        labelledRecord("a", skills: [Self.generation], locators: ["docker_image"]),
                        labelledRecord("b", skills: [Self.generation, Self.reasoning], locators: ["source_code"]),
                        labelledRecord("c", skills: [Self.vision], locators: ["docker_image"]),
                        labelledRecord("d", skills: [Self.vision], locators: ["docker_image"], schemaVersion: "0.8.0"),
                    ])
                    let (a, b, c, d) = (cids[0], cids[1], cids[2], cids[3])
                    let routingClient = Routing_V1_RoutingService.Client(wrapping: client)
                    for cid in cids + [a] { _ = try await routingClient.publish(.with { $0.recordCid = cid }) }  // idempotent

                    #expect(Set(try await routingClient.listCIDs([])) == Set(cids))
                    #expect(try await routingClient.listCIDs([], limit: 2).count == 2)
                    #expect(Set(try await routingClient.listCIDs([skill("natural_language_processing")])) == [a, b])
                    #expect(
                        try await routingClient.listCIDs([skill("natural_language_processing/natural_language_generation"), locator("docker_image")])
                            == [
                                a
                            ])
                    #expect(try await routingClient.listCIDs([skill("natural_language")]).isEmpty)  // not at a / boundary
                    #expect(try await routingClient.listCIDs([locator("docker")]).isEmpty)
                    #expect(try await routingClient.listCIDs([skill(Self.vision)]) == [c])  // d has no labels (0.8.0)

                    let queries = [skill(Self.generation), locator("docker_image"), skill(Self.generation)]
                    let results = try await routingClient.searchAll(queries)
                    #expect(results.map(\.recordCid) == [a] + [b, c].sorted())
                    #expect(results.map(\.matchScore) == [2, 1, 1])
                    #expect(results[0].matchQueries == [skill(Self.generation), locator("docker_image")])
                    #expect(results.allSatisfy { $0.peer.id == "node-a" })
                    #expect(try await routingClient.searchAll(queries, minScore: 2).map(\.recordCid) == [a])
                    #expect(try await routingClient.searchAll(queries, limit: 1).map(\.recordCid) == [a])
                    #expect(try await routingClient.searchAll([]).isEmpty)
                    #expect(!(try await routingClient.searchAll([skill(Self.vision)]).map(\.recordCid).contains(d)))

                    await #expect(throws: RPCError.self) { _ = try await routingClient.publish(.with { $0.recordCid = "baeareinotthere" }) }
                    do {
                        _ = try await routingClient.publish(.with { $0.recordCid = "baeareinotthere" })
                    } catch let error as RPCError {
                        #expect(error.code == .notFound)
                        #expect(error.message == "failed to get record: failed to lookup object: record not found: baeareinotthere")
                    }
                    do {
                        _ = try await routingClient.publish(.with { $0.recordCid = "" })
                    } catch let error as RPCError {
                        #expect(error.code == .invalidArgument)
                    }

                    _ = try await routingClient.unpublish(.with { $0.recordCid = b })
                    _ = try await routingClient.unpublish(.with { $0.recordCid = b })
                    #expect(!(try await routingClient.listCIDs([])).contains(b))
                    // A record deleted from the store leaves routing at once (record.deleted event).
                    try await storeClient.deleteRecords([c])
                    #expect(try await eventually { !(try await routingClient.listCIDs([])).contains(c) })
                }
            }
        }
    }

    @Test("records deleted from the store while routing was down are unpublished when it starts")
    func startUpReconciliation() async throws {
        try await withServices([.store]) { services in
            try await withTestClient(port: services.port("store")) { storeClient in
                let cids = try await storeClient.pushRecords([
                    labelledRecord("kept", skills: [Self.generation], locators: ["docker_image"]),
                    labelledRecord("lost", skills: [Self.generation], locators: ["docker_image"]),
                ])
                let storeAddress = services.address("store")
                try await withServices([.routing(environment: ["WHARF_ROUTING_STORE": storeAddress])], database: services.database) {
                    routing in
                    try await withTestClient(port: routing.port("routing")) { client in
                        let routingClient = Routing_V1_RoutingService.Client(wrapping: client)
                        for cid in cids { _ = try await routingClient.publish(.with { $0.recordCid = cid }) }
                    }
                }
                try await storeClient.deleteRecords([cids[1]])  // nobody hears record.deleted
                try await withServices([.routing(environment: ["WHARF_ROUTING_STORE": storeAddress])], database: services.database) {
                    routing in
                    try await withTestClient(port: routing.port("routing")) { client in
                        // Compared with the store through its reconciliation RPC as the reconciler starts.
                        let reconciled = try await eventually(timeout: .seconds(10)) {
                            try await Routing_V1_RoutingService.Client(wrapping: client).listCIDs([]) == [cids[0]]
                        }
                        #expect(reconciled)
                    }
                }
            }
        }
    }

    @Test("the legacy list answers one ListResponse: stats, or items carrying every requested label")
    func legacyList() async throws {
        try await withServices([.store, .routing(environment: ["WHARF_ROUTING_PEER_ID": "node-l"])]) { services in
            let (store, routing) = (services.port("store"), services.port("routing"))
            try await withTestClient(port: store) { storeClient in
                try await withTestClient(port: routing) { client in
                    let cids = try await storeClient.pushRecords([
                        labelledRecord("a", skills: [Self.generation], locators: ["docker_image"]),
                        labelledRecord("b", skills: [Self.reasoning], locators: ["docker_image"]),
                    ])
                    let routingClient = Routing_V1_RoutingService.Client(wrapping: client)
                    for cid in cids { _ = try await routingClient.publish(.with { $0.recordCid = cid }) }
                    func legacy(_ request: Routing_V1_LegacyListRequest) async throws -> [Routing_V1_ListResponse] {
                        try await routingClient.list(.with { $0.legacyListRequest = request }) { response in
                            try await response.messages.reduce(into: [Routing_V1_ListResponse]()) { $0.append($1) }
                        }
                    }
                    let stats = try await legacy(.init())
                    #expect(stats.count == 1 && stats[0].recordCid == "")
                    #expect(stats[0].legacyListResponse.items.count == 1)
                    #expect(stats[0].legacyListResponse.items[0].labelCounts["/locators/docker_image"] == 2)
                    #expect(stats[0].legacyListResponse.items[0].peer.id == "node-l")
                    let byLabel = try await legacy(.with { $0.labels = ["/skills/natural_language_processing", "/locators/docker_image"] })
                    #expect(byLabel.count == 1)
                    #expect(Set(byLabel[0].legacyListResponse.items.map(\.ref.cid)) == Set(cids))
                    let narrow = try await legacy(.with { $0.labels = ["/skills/" + Self.generation] })
                    #expect(narrow[0].legacyListResponse.items.map(\.ref.cid) == [cids[0]])
                    #expect(narrow[0].legacyListResponse.items[0].labels == ["/skills/" + Self.generation, "/locators/docker_image"])
                    do {
                        _ = try await legacy(.with { $0.maxHops = 21 })
                        Issue.record("expected max hops exceeded")
                    } catch let error as RPCError {
                        #expect(error.code == .unknown)
                        #expect(error.message == "failed to list: max hops exceeded")
                    }
                }
            }
        }
    }

    @Test("two routing nodes as peers find each other's records with the right peer; a stopped peer degrades, never fails")
    func peers() async throws {
        let postgres = try await TestPostgres.shared()
        let (portA, portB) = (try freePort(), try freePort())
        // Hop budget 3 on both: requests could bounce A → B → A; the path metadata stops them. Each node has its
        // own database; both read one store.
        try await withServices([.store]) { storeRun in
            let store = storeRun.address("store")
            let nodeAEnvironment = [
                "WHARF_LISTEN": "127.0.0.1:\(portA)", "WHARF_ROUTING_STORE": store,
                "WHARF_ROUTING_PEER_ID": "node-a", "WHARF_ROUTING_ADVERTISE": "127.0.0.1:\(portA)",
                "WHARF_ROUTING_PEERS": "node-b=127.0.0.1:\(portB)", "WHARF_ROUTING_SEARCH_HOPS": "3",
                "WHARF_ROUTING_PEER_SECRETS": "node-b=\(Self.pairSecret)",
                // Margins for a loaded machine (the other suites run alongside): a peer may take 2 s to answer, and
                // B's announcement must outlive the steps before the degraded search.
                "WHARF_ROUTING_PEER_TIMEOUT": "2s", "WHARF_ROUTING_REMOTE_TTL": "12s", "WHARF_ROUTING_EXPIRE_INTERVAL": "1s",
            ]
            let nodeBEnvironment = [
                "WHARF_LISTEN": "127.0.0.1:\(portB)", "WHARF_ROUTING_STORE": store,
                "WHARF_ROUTING_PEER_ID": "node-b", "WHARF_ROUTING_ADVERTISE": "127.0.0.1:\(portB)",
                "WHARF_ROUTING_PEERS": "node-a=127.0.0.1:\(portA)", "WHARF_ROUTING_SEARCH_HOPS": "3",
                "WHARF_ROUTING_PEER_SECRETS": "node-a=\(Self.pairSecret)",
            ]
            try await withServices([.routing(environment: nodeAEnvironment)]) { nodeARun in
                let (nodeA, nodeADatabase) = (nodeARun.port("routing"), nodeARun.database)
                try await withTestClient(port: storeRun.port("store")) { storeClient in
                    let cids = try await storeClient.pushRecords([
                        labelledRecord("on-a", skills: [Self.generation], locators: ["docker_image"]),
                        labelledRecord("on-b", skills: [Self.vision], locators: ["docker_image"]),
                    ])
                    try await withServices([.routing(environment: nodeBEnvironment)]) { nodeBRun in
                        let nodeB = nodeBRun.port("routing")
                        try await withTestClient(port: nodeA) { clientA in
                            try await withTestClient(port: nodeB) { clientB in
                                let routingA = Routing_V1_RoutingService.Client(wrapping: clientA)
                                let routingB = Routing_V1_RoutingService.Client(wrapping: clientB)
                                _ = try await routingA.publish(.with { $0.recordCid = cids[0] })
                                _ = try await routingB.publish(.with { $0.recordCid = cids[1] })

                                let fromA = try await routingA.searchAll([locator("docker_image")])
                                #expect(Set(fromA.map { "\($0.recordCid)@\($0.peer.id)" }) == ["\(cids[0])@node-a", "\(cids[1])@node-b"])
                                #expect(fromA.count == 2)  // no duplicates from the A → B → A bounce
                                #expect(fromA.first { $0.peer.id == "node-b" }?.peer.addrs == ["127.0.0.1:\(portB)"])
                                let fromB = try await routingB.searchAll([skill(Self.generation)])
                                #expect(fromB.map(\.recordCid) == [cids[0]])
                                #expect(fromB.first?.peer.id == "node-a")
                                // List is local only.
                                #expect(try await routingA.listCIDs([]) == [cids[0]])
                                // Legacy list with max_hops asks peers live; on a loaded machine B may miss the 2 s deadline
                                // once (A then answers with its own records, by design), so a few tries are allowed.
                                let expectedLegacy: Set<String> = ["\(cids[0])@node-a", "\(cids[1])@node-b"]
                                var legacy: Set<String> = []
                                #expect(
                                    try await eventually(timeout: .seconds(15), every: .milliseconds(200)) {
                                        legacy = Set(
                                            try await routingA.list(
                                                .with {
                                                    $0.legacyListRequest = .with {
                                                        $0.maxHops = 1; $0.labels = ["/locators/docker_image"]
                                                    }
                                                }
                                            ) { response in
                                                try await response.messages.reduce(into: [String]()) {
                                                    $0 += $1.legacyListResponse.items.map { "\($0.ref.cid)@\($0.peer.id)" }
                                                }
                                            })
                                        return legacy == expectedLegacy
                                    }, "\(legacy)")
                            }
                        }
                        // B announced its record to A (a job, done within moments of the publish).
                        #expect(try await eventually { try await postgres.count("routing.remote", database: nodeADatabase) == 1 })
                    }
                    // B has stopped.
                    try await withTestClient(port: nodeA) { clientA in
                        let routingA = Routing_V1_RoutingService.Client(wrapping: clientA)
                        let clock = ContinuousClock()
                        let start = clock.now
                        // B is down: its record still comes from its announcement, with B as the peer; the live
                        // request to B is skipped after the deadline instead of failing the search.
                        let degraded = try await routingA.searchAll([locator("docker_image")])
                        #expect(Set(degraded.map { "\($0.recordCid)@\($0.peer.id)" }) == ["\(cids[0])@node-a", "\(cids[1])@node-b"])
                        // Bounded by the 2 s peer deadline, not by a connect timeout (tens of seconds); the margin is for
                        // a machine running every other suite at the same time.
                        #expect(clock.now - start < .seconds(10))
                        // Once the announcement is older than WHARF_ROUTING_REMOTE_TTL, the expiry job forgets it.
                        #expect(
                            try await eventually(timeout: .seconds(30)) {
                                try await routingA.searchAll([locator("docker_image")]).map(\.recordCid) == [cids[0]]
                            })
                    }
                }
            }
        }
    }

    @Test("announcements are taken only from configured peers, within the size limit")
    func announcementLimits() async throws {
        try await withServices([
            .store,
            .routing(environment: [
                "WHARF_ROUTING_PEER_ID": "node-x", "WHARF_ROUTING_PEERS": "node-y=127.0.0.1:1",
                "WHARF_ROUTING_PEER_SECRETS": "node-y=\(Self.pairSecret)",
            ]),
        ]) { services in
            let routing = services.port("routing")
            try await withTestClient(port: routing) { client in
                let announcements = Wharf_Routing_V1_PeerAnnouncements.Client(wrapping: client)
                let asNodeY = peerMetadata(id: "node-y", secret: Self.pairSecret)
                func status(_ request: Wharf_Routing_V1_AnnounceRequest) async -> RPCError.Code? {
                    do {
                        _ = try await announcements.announce(request, metadata: asNodeY)
                        return nil
                    } catch let error as RPCError {
                        return error.code
                    } catch {
                        return .unknown
                    }
                }
                let one = Wharf_Routing_V1_Announcement.with {
                    $0.recordCid = "baeareione"; $0.labels = ["/locators/binary"]
                }
                // node-y's credential claiming another peer's id.
                #expect(
                    await status(
                        .with {
                            $0.peer.id = "stranger"; $0.provided = [one]
                        }) == .permissionDenied)
                #expect(await status(.with { $0.provided = [one] }) == .invalidArgument)
                #expect(
                    await status(
                        .with {
                            $0.peer.id = "node-y"; $0.provided = Array(repeating: one, count: 10_001)
                        }) == .resourceExhausted)
                #expect(
                    await status(
                        .with {
                            $0.peer.id = "node-y"; $0.provided = [one]
                        }) == nil)
                let found = try await Routing_V1_RoutingService.Client(wrapping: client).searchAll([locator("binary")])
                #expect(found.map { "\($0.recordCid)@\($0.peer.id)" } == ["baeareione@node-y"])
                #expect(
                    await status(
                        .with {
                            $0.peer.id = "node-y"; $0.withdrawnCids = ["baeareione"]
                        }) == nil)
                #expect(try await Routing_V1_RoutingService.Client(wrapping: client).searchAll([locator("binary")]).isEmpty)
            }
        }
    }
}
