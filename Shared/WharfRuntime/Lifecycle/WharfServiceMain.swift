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
        var runtime = RuntimeConfiguration(serviceName: service, defaults: defaults, reader: reader)
        let own = settings(reader)
        try reader.validate()
        runtime.effectiveSettings = reader.effectiveConfiguration.map { ConfigurationSetting(name: $0.0, value: $0.1) }
            .sorted { $0.name < $1.name }
        return (runtime, own, reader.effectiveConfiguration)
    }

    /// The executable's `main`: configuration from the process environment, then the program until SIGTERM.
    public static func run<Program: WharfServiceProgram>(_ program: Program.Type) async -> Never {
        let service = Program.name
        let configuration: (runtime: RuntimeConfiguration, settings: Program.Settings, effective: [(String, String)])
        do {
            configuration = try Program.configuration(environment: ProcessInfo.processInfo.environment)
        } catch {
            FileHandle.standardError.write(Data("\(service): \(error)\n".utf8))
            exit(invalidConfigurationExitCode)
        }
        let runtime = configuration.runtime
        WharfLogging.bootstrap(level: runtime.logLevel)
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        var logger = Logger(label: "wharf.\(service)")
        logger.logLevel = runtime.logLevel
        logger.info(
            "effective configuration",
            metadata: Dictionary(
                configuration.effective.map { ($0.0, Logger.MetadataValue.string($0.1)) }, uniquingKeysWith: { $1 }))
        let host = Program.host(configuration: runtime, settings: configuration.settings, logger: logger, registry: registry)
        do {
            try await host.run(handleSignals: true)
            exit(0)
        } catch {
            logger.critical("\(service) stopped: \(error)")
            exit(1)
        }
    }
}
