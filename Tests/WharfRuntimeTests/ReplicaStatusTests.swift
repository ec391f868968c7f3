import Foundation
import GRPCCore
import Prometheus
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

@Suite("a process describes itself (ReplicaStatus) and exports its dependencies and limits as metrics")
struct ReplicaStatusTests {
    @Test(
        "Describe names the component, its metrics port, its services, its dependencies' state and its settings (the admin token masked); without the admin token it is refused"
    )
    func describe() async throws {
        try await withServices([.host(serving: [SlowBlobService(delay: .zero)])]) { services in
            let host = services.host("host")
            let metricsPort = try #require(await host.metricsPort())
            try await withTestClient(port: services.port("host")) { client in
                let status = Wharf_Runtime_V1_ReplicaStatus.Client(wrapping: client)
                await #expect(throws: RPCError.self) { _ = try await status.describe(.init()) }
                do {
                    _ = try await status.describe(.init(), metadata: [AdminBoundaryInterceptor.metadataKey: .string("not-the-token-at-all")])
                    Issue.record("a wrong admin token was accepted")
                } catch let error as RPCError {
                    #expect(error.code == .unauthenticated)
                }
                let described = try await status.describe(.init(), metadata: TestCredentials.adminMetadata)
                #expect(described.component == "host")
                #expect(described.metricsPort == UInt32(metricsPort))
                #expect(described.services == ["tvix.castore.v1.BlobService"])
                #expect(described.dependencies.map(\.name) == ["postgres", "redis"])
                #expect(await eventually { (try? await status.describe(.init(), metadata: TestCredentials.adminMetadata).serving) == true })
                let settings = Dictionary(described.settings.map { ($0.name, $0.value) }, uniquingKeysWith: { $1 })
                #expect(settings["WHARF_METRICS_LISTEN"] == "127.0.0.1:0")
                #expect(settings["WHARF_ADMIN_TOKEN"] == "***")
                #expect(!described.settings.contains { $0.value.contains(TestCredentials.adminTokenText) })
                #expect(described.settings.map(\.name) == described.settings.map(\.name).sorted())
            }
            let (data, _) = try await URLSession.shared.data(from: try #require(URL(string: "http://127.0.0.1:\(metricsPort)/metrics")))
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains(#"wharf_dependency_up{dependency="postgres"} 1"#), "\(text)")
            #expect(text.contains(#"wharf_dependency_up{dependency="redis"} 1"#))
        }
    }

    @Test("a limiter exports its limit beside its places in use; gauges published as a whole drop the series a reading no longer has")
    func gauges() throws {
        let registry = PrometheusCollectorRegistry()
        let factory = PrometheusMetricsFactory(registry: registry)
        let limiter = SlotLimiter(name: "test_places", limit: 3, metrics: factory)
        let slot = limiter.acquire()
        var text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"wharf_limiter_slots_limit{limiter="test_places"} 3"#))
        #expect(text.contains(#"wharf_limiter_slots_in_use{limiter="test_places"} 1"#))
        slot?.release()
        _ = LimiterGauge(name: "test_sessions", limit: 1024, metrics: factory)
        let snapshot = GaugeSnapshot(factory: factory)
        snapshot.publish([.init("test_host_up", [("host", "laptop")], 1), .init("test_host_up", [("host", "desktop")], 0)])
        text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"wharf_limiter_slots_in_use{limiter="test_places"} 0"#))
        #expect(text.contains(#"wharf_limiter_slots_limit{limiter="test_sessions"} 1024"#))
        #expect(text.contains(#"test_host_up{host="laptop"} 1"#) && text.contains(#"test_host_up{host="desktop"} 0"#))
        snapshot.publish([.init("test_host_up", [("host", "laptop")], 0)])
        text = String(decoding: registry.emitToBuffer(), as: UTF8.self)
        #expect(text.contains(#"test_host_up{host="laptop"} 0"#))
        #expect(!text.contains(#"host="desktop""#), "\(text)")
    }
}
