import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import WharfRuntime
import WharfTopology

/// Runs the gateway: its listener, the upstream prober and the metrics endpoint, until SIGTERM (or
/// `shutdownGracefully`). The gateway keeps no state and needs neither PostgreSQL nor Redis.
public final class GatewayRunner: Sendable {
    public static let defaults = RuntimeConfiguration.Defaults(SystemShape.gateway)

    public let server: GatewayServer
    private let runtime: RuntimeConfiguration
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let group = RunnerServiceGroup()
    private let metrics = OnceValue<MetricsEndpoint?>()

    public init(runtime: RuntimeConfiguration, settings: GatewaySettings, registry: PrometheusCollectorRegistry, logger: Logger) {
        self.runtime = runtime
        self.registry = registry
        self.logger = logger
        server = GatewayServer(runtime: runtime, settings: settings, metricsFactory: PrometheusMetricsFactory(registry: registry), logger: logger)
    }

    /// The metrics endpoint's port once it listens (nil when disabled).
    public func metricsPort() async -> Int? {
        guard let endpoint = await metrics.value else { return nil }
        return await endpoint.boundPort()
    }

    public func run(handleSignals: Bool = true) async throws {
        let gateway = server.gateway
        let endpoint = runtime.metricsListen.map {
            MetricsEndpoint(
                registry: registry, address: $0, isServing: { gateway.health.status(of: "") == .serving }, logger: logger,
                quietTimeout: runtime.httpIdleTimeout)
        }
        metrics.set(endpoint)
        var helpers: [(service: any Service, name: String)] = [(server.prober, "prober")]
        if let endpoint { helpers.append((endpoint, "metrics")) }
        try await group.run(
            helpers: helpers, main: (server, "gateway"), handleSignals: handleSignals, shutdownGrace: runtime.shutdownGrace, logger: logger)
        logger.info("gateway stopped")
    }

    public func shutdownGracefully() async {
        await group.shutdownGracefully()
    }

    /// The whole `main` of the gateway executable.
    public static func main() async -> Never {
        let reader = EnvironmentReader(environment: ProcessInfo.processInfo.environment)
        let runtime = RuntimeConfiguration(serviceName: "gateway", defaults: defaults, reader: reader)
        let settings = GatewaySettings(reader: reader)
        do {
            try reader.validate()
        } catch {
            FileHandle.standardError.write(Data("gateway: \(error)\n".utf8))
            exit(WharfServiceMain.invalidConfigurationExitCode)
        }
        WharfLogging.bootstrap(level: runtime.logLevel)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "wharf.gateway")
        logger.logLevel = runtime.logLevel
        // The gateway uses none of the database or Redis settings the shared reader also reads.
        let unused = ["POSTGRES", "REDIS", "JOB"].map { "WHARF_" + $0 }
        let shown = reader.effectiveConfiguration.filter { entry in !unused.contains { entry.0.hasPrefix($0) } }
        logger.info(
            "effective configuration", metadata: Dictionary(shown.map { ($0.0, Logger.MetadataValue.string($0.1)) }, uniquingKeysWith: { $1 }))
        do {
            try await GatewayRunner(runtime: runtime, settings: settings, registry: registry, logger: logger).run()
            exit(0)
        } catch {
            logger.critical("gateway stopped: \(error)")
            exit(1)
        }
    }
}
