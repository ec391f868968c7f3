import Foundation
import GatewayCore
import Logging
import Prometheus
import WharfRuntime

/// Runs a gateway in process with `routes` (WHARF_GATEWAY_ROUTES syntax).
public func withGateway<T: Sendable>(
    routes: String, environment extra: [String: String] = [:],
    _ body: (Int, GatewayRunner) async throws -> T
) async throws -> T {
    var environment = [
        "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_GATEWAY_ROUTES": routes, "WHARF_GATEWAY_HEALTH_INTERVAL": "200ms", "WHARF_GATEWAY_ACCESS_LOG": "off",
    ]
    environment.merge(extra) { $1 }
    let reader = EnvironmentReader(environment: environment)
    let runtime = RuntimeConfiguration(serviceName: "gateway", defaults: GatewayRunner.defaults, reader: reader)
    let settings = GatewaySettings(reader: reader)
    try reader.validate()
    var logger = Logger(label: "test.gateway")
    logger.logLevel = .warning
    let runner = GatewayRunner(runtime: runtime, settings: settings, registry: PrometheusCollectorRegistry(), logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await runner.run(handleSignals: false) }
        let port = await runner.server.boundPort()
        await runner.server.probeNow()
        let result = try await body(port, runner)
        await runner.shutdownGracefully()
        try await group.waitForAll()
        return result
    }
}
