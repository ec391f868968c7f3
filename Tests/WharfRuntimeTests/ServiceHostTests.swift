import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import Synchronization
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A tiny service for the host tests: Stat waits before answering, so a call can be in flight while the
/// server shuts down.
struct SlowBlobService: Tvix_Castore_V1_BlobService.SimpleServiceProtocol {
    var delay: Duration
    /// Stat calls that reached the handler.
    let started = CallCounter()

    init(delay: Duration) { self.delay = delay }

    func stat(request: Tvix_Castore_V1_StatBlobRequest, context: ServerContext) async throws -> Tvix_Castore_V1_StatBlobResponse {
        started.count.withLock { $0 += 1 }
        try await Task.sleep(for: delay)
        return .with { $0.bao = Data("done".utf8) }
    }

    func read(request: Tvix_Castore_V1_ReadBlobRequest, response: RPCWriter<Tvix_Castore_V1_BlobChunk>, context: ServerContext) async throws {
        throw RPCError(code: .unimplemented, message: "test service")
    }

    func put(request: RPCAsyncSequence<Tvix_Castore_V1_BlobChunk, any Error>, context: ServerContext) async throws -> Tvix_Castore_V1_PutBlobResponse
    {
        throw RPCError(code: .unimplemented, message: "test service")
    }
}

final class CallCounter: Sendable {
    let count = Mutex(0)
}

extension InProcessService {
    /// A host serving `services` (no real Wharf service), with its metrics on and health probed every 200 ms.
    static func host(serving services: [any RegistrableRPCService], environment: [String: String] = [:]) -> InProcessService {
        InProcessService(
            name: "host", environment: ["WHARF_METRICS_LISTEN": "127.0.0.1:0", "WHARF_HEALTH_INTERVAL": "200ms"].merging(environment) { $1 }
        ) { _ in WharfServiceParts(rpcServices: services) }
    }
}

/// A stopped server: a call to `port` fails (within 2 s).
func expectNothingListens(on port: Int, sourceLocation: SourceLocation = #_sourceLocation) async {
    await #expect(throws: (any Error).self, sourceLocation: sourceLocation) {
        try await withTestClient(port: port) { client in
            var options = CallOptions.defaults
            options.timeout = .seconds(2)
            _ = try await Tvix_Castore_V1_BlobService.Client(wrapping: client).stat(.init(), options: options)
        }
    }
}

@Suite("Service host: gRPC health, metrics, graceful shutdown")
struct ServiceHostTests {
    @Test("health Check answers SERVING, NOT_SERVING while PostgreSQL is stopped (liveness stays SERVING), SERVING again after; Watch sees it")
    func healthFollowsPostgres() async throws {
        let postgres = try await TestPostgres.start()
        let service = Tvix_Castore_V1_BlobService.descriptor.fullyQualifiedService
        try await withServices([.host(serving: [SlowBlobService(delay: .zero)])], database: "postgres", postgres: postgres) { services in
            let port = services.port("host")
            try await withTestClient(port: port) { client in
                let health = Grpc_Health_V1_Health.Client(wrapping: client)
                func status(_ name: String = "") async throws -> ServingStatus {
                    try await health.check(.with { $0.service = name }).status
                }
                #expect(try await eventually { try await status() == .serving })
                #expect(try await status(service) == .serving)
                await #expect {
                    try await status("no.such.Service")
                } throws: { error in
                    (error as? RPCError)?.code == .notFound
                }

                let watched = Mutex<[ServingStatus]>([])
                let watch = Task {
                    try await health.watch(.with { $0.service = service }) { response in
                        for try await message in response.messages { watched.withLock { $0.append(message.status) } }
                    }
                }
                #expect(await eventually { watched.withLock { $0 } == [.serving] })

                await postgres.stopServer()
                #expect(try await eventually(timeout: .seconds(15)) { try await status() == .notServing })
                #expect(try await status(service) == .notServing)
                #expect(await eventually { watched.withLock { $0.last } == .notServing })
                // Liveness knows nothing of dependencies: the process works, so it must not be restarted.
                #expect(try await status(HealthMonitor.livenessService) == .serving)

                try await postgres.startServer()
                #expect(try await eventually(timeout: .seconds(20)) { try await status() == .serving })
                #expect(await eventually { watched.withLock { $0 } == [.serving, .notServing, .serving] })
                watch.cancel()
            }
        }
        await postgres.stopServer()
    }

    @Test("the metrics endpoint counts RPCs and errors per method in Prometheus text format")
    func metrics() async throws {
        try await withServices([.host(serving: [SlowBlobService(delay: .zero)])]) { services in
            let host = services.host("host")
            let port = services.port("host")
            try await withTestClient(port: port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                for _ in 0..<3 { _ = try await blobs.stat(.init()) }
                await #expect(throws: RPCError.self) {
                    try await blobs.read(.init()) { try await $0.messages.reduce(0) { n, _ in n + 1 } }
                }
            }
            let metricsPort = try #require(await host.metricsPort())
            let url = try #require(URL(string: "http://127.0.0.1:\(metricsPort)/metrics"))
            let (data, response) = try await URLSession.shared.data(from: url)
            #expect((response as? HTTPURLResponse)?.statusCode == 200)
            let text = String(decoding: data, as: UTF8.self)
            #expect(text.contains(#"wharf_grpc_requests_total{method="tvix.castore.v1.BlobService/Stat"} 3"#))
            #expect(text.contains(#"wharf_grpc_errors_total{method="tvix.castore.v1.BlobService/Read",code="unimplemented"} 1"#))
            #expect(text.contains(#"wharf_grpc_request_duration_seconds_count{method="tvix.castore.v1.BlobService/Stat"} 3"#))
        }
    }

    @Test("graceful shutdown lets an in-flight RPC finish, then the server stops")
    func gracefulShutdownDrains() async throws {
        var grpcPort = 0
        let service = SlowBlobService(delay: .milliseconds(1500))
        try await withServices([.host(serving: [service])]) { services in
            let host = services.host("host")
            let port = services.port("host")
            grpcPort = port
            let health = await host.health
            try await withTestClient(port: port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                let inFlight = Task { try await blobs.stat(.init()) }
                // Shut down only once the RPC is in the handler (on a loaded machine connecting takes a while).
                #expect(await eventually { service.started.count.withLock { $0 } == 1 })
                let shutdown = Task { await host.shutdownGracefully() }
                #expect(await eventually { health.status(of: "") == .notServing })
                let answer = try await inFlight.value
                #expect(answer.bao == Data("done".utf8))
                await shutdown.value
            }
        }
        // run() has returned: once stopped, nothing listens on the port any more.
        let port = grpcPort
        await expectNothingListens(on: port)
    }

    @Test("as a ServiceLifecycle Service, a host serves until its group shuts down gracefully, then returns")
    func runsInServiceGroup() async throws {
        let postgres = try await TestPostgres.shared()
        let redis = try await TestRedis.shared()
        let (runtime, _, _) = try WharfServiceMain.loadConfiguration(
            service: "grouped", defaults: .init(grpcPort: 0, metricsPort: 0),
            environment: [
                "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
                "WHARF_POSTGRES_URL": postgres.url(database: try await postgres.createDatabase()), "WHARF_REDIS_URL": redis.url,
            ], settings: { _ in () })
        let host = WharfServiceHost(configuration: runtime, migrations: []) { _ in
            WharfServiceParts(rpcServices: [SlowBlobService(delay: .zero)])
        }
        let group = ServiceGroup(services: [host], logger: Logger(label: "test.group"))
        let running = Task { try await group.run() }
        let port = try await host.grpcPort()
        let answer = try await withTestClient(port: port) { try await Tvix_Castore_V1_BlobService.Client(wrapping: $0).stat(.init()) }
        #expect(answer.bao == Data("done".utf8))
        await group.triggerGracefulShutdown()
        try await running.value
        await expectNothingListens(on: port)
    }

    @Test("withServices: a service that cannot start fails the call with its error and stops those started before it")
    func harnessStartFailure() async throws {
        struct RefusedOnPurpose: Error {}
        let first = Mutex<WharfServiceHost?>(nil)
        await #expect(throws: RefusedOnPurpose.self) {
            try await withServices([
                InProcessService(name: "first") { host in
                    first.withLock { $0 = host }
                    return WharfServiceParts(rpcServices: [SlowBlobService(delay: .zero)])
                },
                InProcessService(name: "broken") { _ in throw RefusedOnPurpose() },
            ]) { _ in Issue.record("body ran") }
        }
        // The first one had started, and was stopped: its server says so.
        let host = try #require(first.withLock { $0 })
        await #expect(throws: (any Error).self) { try await host.grpcPort() }
    }

    @Test("a request larger than WHARF_GRPC_MAX_MESSAGE_BYTES gets RESOURCE_EXHAUSTED; the server carries on")
    func messageSizeLimit() async throws {
        try await withServices([.host(serving: [SlowBlobService(delay: .zero)], environment: ["WHARF_GRPC_MAX_MESSAGE_BYTES": "65536"])]) {
            services in
            let port = services.port("host")
            try await withTestClient(port: port) { client in
                let blobs = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                await #expect {
                    try await blobs.stat(.with { $0.digest = Data(count: 100_000) })
                } throws: { error in
                    guard let error = error as? RPCError else { return false }
                    // 100,000 digest bytes + 1 tag byte + 3 bytes of varint length.
                    return error.code == .resourceExhausted
                        && error.message == "request message of 100004 bytes is larger than the maximum of 65536 bytes"
                }
                let small = try await blobs.stat(.with { $0.digest = Data(count: 32) })
                #expect(small.bao == Data("done".utf8))
            }
        }
    }

    @Test("with WHARF_TLS_CERT and WHARF_TLS_KEY the server speaks TLS: a client trusting the certificate gets SERVING, a plaintext one fails")
    func tls() async throws {
        let (certificate, key) = try await TestCertificates.selfSigned()
        try await withServices([.host(serving: [SlowBlobService(delay: .zero)], environment: ["WHARF_TLS_CERT": certificate, "WHARF_TLS_KEY": key])])
        { services in
            let port = services.port("host")
            let transport = try HTTP2ClientTransport.Posix(
                target: .ipv4(address: "127.0.0.1", port: port),
                transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: certificate, format: .pem)]) })
            // The first dependency probes may still be running when the port opens (slower under a loaded
            // test run): SERVING must come, over TLS.
            let serving = try await withGRPCClient(transport: transport) { client in
                await eventually(timeout: .seconds(15)) {
                    (try? await Grpc_Health_V1_Health.Client(wrapping: client).check(.init()).status) == .serving
                }
            }
            #expect(serving)
            await #expect(throws: RPCError.self) {
                try await withTestClient(port: port) { client in
                    var options = CallOptions.defaults
                    options.timeout = .seconds(3)
                    _ = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.init(), options: options)
                }
            }
        }
    }

    @Test("a host whose PostgreSQL never answers gives up after WHARF_STARTUP_TIMEOUT with a clear error")
    func startupTimeout() async throws {
        let deadPort = try freePort()
        let unreachable = ["WHARF_POSTGRES_URL": "postgres://wharf@127.0.0.1:\(deadPort)/wharf", "WHARF_STARTUP_TIMEOUT": "1s"]
        await #expect {
            try await withServices([.host(serving: [], environment: unreachable)]) { _ in Issue.record("the host started") }
        } throws: { error in
            "\(error)".contains("cannot reach PostgreSQL at postgres://wharf@127.0.0.1:\(deadPort)/wharf")
        }
    }
}
