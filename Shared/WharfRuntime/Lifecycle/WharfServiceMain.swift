import Foundation
import Logging
import Metrics
import Prometheus

/// The whole `main` of a Wharf service executable: read and validate the `WHARF_*` configuration (an
/// invalid value stops the process with exit code 78 and a message naming the variable), log the effective
/// configuration with secrets masked, then run a `WharfServiceHost` until SIGTERM.
public enum WharfServiceMain {
    public static let invalidConfigurationExitCode: Int32 = 78

    /// Reads the shared settings plus the service's own (`settings`), reporting every problem together.
    public static func loadConfiguration<Settings>(
        service: String, defaults: RuntimeConfiguration.Defaults,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        settings: (EnvironmentReader) -> Settings
    ) throws(ConfigurationError) -> (RuntimeConfiguration, Settings, [(String, String)]) {
        let reader = EnvironmentReader(environment: environment)
        let runtime = RuntimeConfiguration(serviceName: service, defaults: defaults, reader: reader)
        let own = settings(reader)
        try reader.validate()
        return (runtime, own, reader.effectiveConfiguration)
    }

    public static func run<Settings: Sendable>(
        service: String, defaults: RuntimeConfiguration.Defaults, migrations: [MigrationSet],
        settings: (EnvironmentReader) -> Settings,
        build: @escaping @Sendable (WharfServiceHost, Settings) async throws -> WharfServiceParts
    ) async -> Never {
        let runtime: RuntimeConfiguration
        let own: Settings
        let effective: [(String, String)]
        do {
            (runtime, own, effective) = try loadConfiguration(service: service, defaults: defaults, settings: settings)
        } catch {
            FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
            exit(invalidConfigurationExitCode)
        }
        WharfLogging.bootstrap(level: runtime.logLevel)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "wharf.\(service)")
        logger.logLevel = runtime.logLevel
        logger.info(
            "effective configuration",
            metadata: Dictionary(
                effective.map { ($0.0, Logger.MetadataValue.string($0.1)) }, uniquingKeysWith: { $1 }))
        let host = WharfServiceHost(configuration: runtime, migrations: migrations, logger: logger, registry: registry)
        do {
            try await host.run { host in try await build(host, own) }
            exit(0)
        } catch {
            logger.critical("\(service) stopped: \(error)")
            exit(1)
        }
    }
}
