import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle
import Synchronization
import WharfRuntime
import WharfTopology

/// Runs the console: its web server, the replica monitor, the gateway client and its own metrics endpoint,
/// until SIGTERM. It keeps no state of its own and needs neither PostgreSQL nor Redis: everything it shows it
/// reads from the services' gRPC APIs and metrics endpoints.
public final class ConsoleRunner: Sendable {
    public static let defaults = RuntimeConfiguration.Defaults(grpcPort: SystemShape.consolePort, metricsPort: SystemShape.consoleMetricsPort)

    public let server: ConsoleServer
    public let monitor: ReplicaMonitor
    let backend: ConsoleBackend
    private let runtime: RuntimeConfiguration
    private let registry: PrometheusCollectorRegistry
    private let logger: Logger
    private let group = RunnerServiceGroup()

    public init(
        runtime: RuntimeConfiguration, settings: ConsoleSettings, gatewayMetrics: HostPort?, registry: PrometheusCollectorRegistry,
        logger: Logger
    ) throws {
        self.runtime = runtime
        self.registry = registry
        self.logger = logger
        backend = try ConsoleBackend(settings: settings, adminToken: runtime.adminToken)
        monitor = ReplicaMonitor(backend: backend, interval: settings.scrapeInterval, gatewayMetrics: gatewayMetrics, logger: logger)
        let lifetime = settings.sessionLifetime.components.seconds
        server = try ConsoleServer(
            address: runtime.listen, settings: settings,
            signer: ConsoleSessionSigner(adminToken: runtime.adminToken, viewerToken: settings.viewerToken, lifetime: lifetime),
            pages: ConsolePages(backend: backend, monitor: monitor), quietTimeout: runtime.httpIdleTimeout, logger: logger)
    }

    public func run(handleSignals: Bool = true) async throws {
        let endpoint = runtime.metricsListen.map {
            MetricsEndpoint(registry: registry, address: $0, isServing: { true }, logger: logger, quietTimeout: runtime.httpIdleTimeout)
        }
        var helpers: [(service: any Service, name: String)] = [(backend, "gateway-client"), (monitor, "monitor")]
        if let endpoint { helpers.append((endpoint, "metrics")) }
        try await group.run(
            helpers: helpers, main: (server, "console"), handleSignals: handleSignals, shutdownGrace: runtime.shutdownGrace, logger: logger)
        logger.info("console stopped")
    }

    public func shutdownGracefully() async {
        await group.shutdownGracefully()
    }

    /// Reads the console's configuration from `environment`, reporting every problem together.
    public static func configuration(environment: [String: String]) throws(ConfigurationError) -> (
        runtime: RuntimeConfiguration, settings: ConsoleSettings, gatewayMetrics: HostPort?, effective: [(String, String)]
    ) {
        let reader = EnvironmentReader(environment: environment)
        var runtime = RuntimeConfiguration(serviceName: "console", defaults: defaults, reader: reader)
        let settings = ConsoleSettings(reader: reader)
        let gatewayMetrics =
            reader.parsed(
                "WHARF_CONSOLE_GATEWAY_METRICS", default: "\(settings.gateway.host):\(SystemShape.gateway.metricsPort)"
            ) { text throws(ConfigurationProblem) -> HostPort? in
                text.lowercased() == "off" ? nil : try HostPort(parsing: text)
            } ?? nil
        try reader.validate()
        // The console uses none of the database, Redis or job settings the shared reader also reads.
        let unused = ["POSTGRES", "REDIS", "JOB"].map { "WHARF_" + $0 }
        let shown = reader.effectiveConfiguration.filter { entry in !unused.contains { entry.0.hasPrefix($0) } }
        runtime.effectiveSettings = shown.map { ConfigurationSetting(name: $0.0, value: $0.1) }
        return (runtime, settings, gatewayMetrics, shown)
    }

    /// `console probe http://host:port/path`: exits 0 when the page answers 200 within 3 s (a container's health
    /// check; the image has no curl).
    static func probe(_ url: String) async -> Never {
        guard let components = URLComponents(string: url), components.scheme == "http", let host = components.host else {
            FileHandle.standardError.write(Data("console probe: expected http://host:port/path, got \(url)\n".utf8))
            exit(2)
        }
        do {
            _ = try await MetricsFetcher().get(host: host, port: components.port ?? 80, path: components.path.isEmpty ? "/" : components.path)
            exit(0)
        } catch {
            FileHandle.standardError.write(Data("console probe: \(error)\n".utf8))
            exit(1)
        }
    }

    /// The whole `main` of the console executable.
    public static func main() async -> Never {
        let arguments = CommandLine.arguments
        if arguments.count == 3, arguments[1] == "probe" { await probe(arguments[2]) }
        let loaded: (runtime: RuntimeConfiguration, settings: ConsoleSettings, gatewayMetrics: HostPort?, effective: [(String, String)])
        do {
            loaded = try configuration(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("console: \(error)\n".utf8))
            exit(WharfServiceMain.invalidConfigurationExitCode)
        }
        WharfLogging.bootstrap(level: loaded.runtime.logLevel)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "wharf.console")
        logger.logLevel = loaded.runtime.logLevel
        logger.info(
            "effective configuration",
            metadata: Dictionary(loaded.effective.map { ($0.0, Logger.MetadataValue.string($0.1)) }, uniquingKeysWith: { $1 }))
        do {
            let runner = try ConsoleRunner(
                runtime: loaded.runtime, settings: loaded.settings, gatewayMetrics: loaded.gatewayMetrics, registry: registry, logger: logger)
            try await runner.run()
            exit(0)
        } catch {
            logger.critical("console stopped: \(error)")
            exit(1)
        }
    }
}
