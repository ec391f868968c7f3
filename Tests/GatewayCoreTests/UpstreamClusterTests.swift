import GatewayCore
import Testing
import WharfRuntime

@Suite("Gateway routes and upstream clusters")
struct UpstreamClusterTests {
    let a = HostPort(host: "10.0.0.1", port: 50051)
    let b = HostPort(host: "10.0.0.2", port: 50051)
    let c = HostPort(host: "10.0.0.3", port: 50051)

    func cluster(
        _ targets: [UpstreamCluster.Target], balancing: UpstreamCluster.Balancing = .roundRobin,
        ejection: Duration = .seconds(30)
    ) -> UpstreamCluster {
        UpstreamCluster(.init(name: "x.v1.S", targets: targets), balancing: balancing, ejection: ejection)
    }

    @Test("WHARF_GATEWAY_ROUTES: fixed and dns: addresses per service; malformed entries are refused with the entry")
    func parsing() throws {
        let table = try RouteTable.parse("a.v1.A=store:50051; 10.0.0.2:7 ,b.v1.B=dns:store-pods.wharf.svc:50051")
        #expect(table.routes.count == 2)
        #expect(
            table.route(forService: "a.v1.A")?.cluster.targets
                == [.fixed(HostPort(host: "store", port: 50051)), .fixed(HostPort(host: "10.0.0.2", port: 7))])
        #expect(table.route(forService: "b.v1.B")?.cluster.targets == [.dns(HostPort(host: "store-pods.wharf.svc", port: 50051))])
        #expect(table.route(forService: "c.v1.C") == nil)
        #expect(RouteTable.service(ofPath: "/a.v1.A/Get") == "a.v1.A")

        for bad in ["a.v1.A", "a.v1.A=", "=store:1", "a/b=store:1", "a.v1.A=store", "a.v1.A=dns:store"] {
            let error = #expect(throws: ConfigurationProblem.self) { try RouteTable.parse(bad) }
            #expect(error != nil, "accepted \(bad)")
        }
    }

    @Test("round-robin starts each request at the next address; an ejected address goes last until its time is up")
    func roundRobinAndEjection() async throws {
        let cluster = cluster([.fixed(a), .fixed(b), .fixed(c)], ejection: .milliseconds(300))
        #expect((0..<4).map { _ in cluster.candidates() } == [[a, b, c], [b, c, a], [c, a, b], [a, b, c]])

        cluster.recordFailure(b)
        #expect(cluster.candidates() == [c, a, b])  // [b, c, a] with b moved last
        #expect(cluster.candidates() == [c, a, b])
        #expect(cluster.hasLiveAddress)
        cluster.recordFailure(a)
        cluster.recordFailure(c)
        #expect(!cluster.hasLiveAddress)
        #expect(Set(cluster.candidates()) == [a, b, c], "every address is still offered when all are ejected")

        cluster.recordSuccess(b)
        #expect(cluster.candidates().first == b)
        try await Task.sleep(for: .milliseconds(400))
        #expect(Set(cluster.candidates().prefix(3)) == [a, b, c] && cluster.hasLiveAddress)
        #expect(cluster.candidates() != cluster.candidates(), "rotation resumes once the ejection expired")
    }

    @Test("least-outstanding picks the address with the fewest open streams")
    func leastOutstanding() {
        let cluster = cluster([.fixed(a), .fixed(b), .fixed(c)], balancing: .leastOutstanding)
        cluster.streamOpened(a)
        cluster.streamOpened(a)
        cluster.streamOpened(b)
        #expect(cluster.candidates() == [c, b, a])
        cluster.streamOpened(c)
        cluster.streamOpened(c)
        cluster.streamClosed(a)
        cluster.streamClosed(a)
        #expect(cluster.candidates().first == a)
    }

    @Test("re-resolving a dns: target replaces its addresses and keeps the fixed ones")
    func reResolution() {
        let cluster = cluster([.fixed(a), .dns(HostPort(host: "pods", port: 50051))])
        #expect(cluster.addresses == [a])
        #expect(cluster.dnsTargets == [HostPort(host: "pods", port: 50051)])
        cluster.replaceResolved([b, c])
        #expect(cluster.addresses == [a, b, c])
        cluster.replaceResolved([c, a])  // a pod went away; one answer repeats the fixed address
        #expect(cluster.addresses == [a, c])
        #expect(Set((0..<2).flatMap { _ in cluster.candidates() }) == [a, c])
        cluster.replaceResolved([])
        #expect(cluster.addresses == [a])
    }
}
