import BlobCore
import ConsoleCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NegentropyCore
import Prometheus
import RoutingCore
import StoreCore
import SyncCore
import Testing
import WharfRuntime
import WharfTestSupport
import WharfTopology

/// A whole system in this test process (store, routing, sync, blob, negentropy, each serving metrics), the
/// gateway in front of it and a console reading it.
struct ConsoleFixture: Sendable {
    static let viewerToken = "viewer-token-for-console-tests"

    let services: InProcessServices
    let gatewayPort: Int
    let consolePort: Int
    /// The store's OCI registry.
    let registryPort: Int
    let runner: ConsoleRunner

    func browser() -> ConsoleHTTPClient { ConsoleHTTPClient(port: consolePort) }

    func withGatewayClient<T: Sendable>(_ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
        try await withTestClient(port: gatewayPort, admin: true, body)
    }

    static func everyService(registryPort: Int) -> [InProcessService] {
        [
            InProcessService(StoreServer.self, environment: ["WHARF_STORE_OCI_LISTEN": "127.0.0.1:\(registryPort)"]),
            InProcessService(RoutingServer.self) { ["WHARF_ROUTING_STORE": $0.address("store")] },
            InProcessService(SyncServer.self) { services in
                [
                    "WHARF_SYNC_STORE": services.address("store"), "WHARF_SYNC_ROUTING": services.address("routing"),
                    "WHARF_SYNC_ALLOWED_REMOTES": "127.0.0.1",
                    "WHARF_BACKREST_INSTANCE_ID": "console-hub", "WHARF_BACKREST_HEARTBEAT_INTERVAL": "1s",
                    "WHARF_BACKREST_KEY_FILE": services.folder + "/hub.pem",
                ]
            },
            InProcessService(BlobServer.self) { ["WHARF_BLOB_STORE": "filesystem", "WHARF_BLOB_DIR": $0.folder + "/blobs"] },
            InProcessService(NegentropyServer.self),
        ]
    }

    /// `run` with a browser signed in with the admin token.
    static func runSignedIn<T: Sendable>(_ body: (ConsoleFixture, ConsoleHTTPClient) async throws -> T) async throws -> T {
        try await run { fixture in
            let browser = fixture.browser()
            try await browser.signIn(TestCredentials.adminTokenText)
            return try await body(fixture, browser)
        }
    }

    static func run<T: Sendable>(_ body: (ConsoleFixture) async throws -> T) async throws -> T {
        let registryPort = try freePort()
        return try await withServices(everyService(registryPort: registryPort), environment: ["WHARF_METRICS_LISTEN": "127.0.0.1:0"]) { services in
            let routes = SystemShape.gatewayRoutes { services.address($0.name) }
            return try await withGateway(
                routes: routes,
                environment: ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText, "WHARF_METRICS_LISTEN": "127.0.0.1:0"]
            ) { gatewayPort, gateway in
                let gatewayMetrics = try #require(await gateway.metricsPort())
                let loaded = try ConsoleRunner.configuration(environment: [
                    "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
                    "WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText, "WHARF_CONSOLE_VIEWER_TOKEN": viewerToken,
                    "WHARF_CONSOLE_GATEWAY": "127.0.0.1:\(gatewayPort)", "WHARF_CONSOLE_GATEWAY_METRICS": "127.0.0.1:\(gatewayMetrics)",
                    "WHARF_CONSOLE_SCRAPE_INTERVAL": "300ms",
                ])
                var logger = Logger(label: "test.console")
                logger.logLevel = .warning
                let runner = try ConsoleRunner(
                    runtime: loaded.runtime, settings: loaded.settings, gatewayMetrics: loaded.gatewayMetrics,
                    registry: PrometheusCollectorRegistry(), logger: logger)
                return try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await runner.run(handleSignals: false) }
                    let port = await runner.server.boundPort()
                    let fixture = ConsoleFixture(
                        services: services, gatewayPort: gatewayPort, consolePort: port, registryPort: registryPort, runner: runner)
                    let result: Result<T, any Error>
                    do { result = .success(try await body(fixture)) } catch { result = .failure(error) }
                    await runner.shutdownGracefully()
                    try await group.waitForAll()
                    return try result.get()
                }
            }
        }
    }
}

/// The suites that run a whole system in this process, one at a time: each starts five services, a gateway and
/// a console, and side by side they loaded the 2-core machine enough to slow other suites' timing.
@Suite("console against a system in process", .serialized)
struct ConsoleSystemSuites {}
