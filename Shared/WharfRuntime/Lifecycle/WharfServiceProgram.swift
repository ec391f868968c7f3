import Logging
import Prometheus

/// What a Wharf service executable is, apart from the process around it: its name, default ports, schema,
/// own settings and how it builds its parts on a `WharfServiceHost`. The executable's `main` runs one with
/// `WharfServiceMain.run(_:)`; tests run any set of them in process with the same code.
public protocol WharfServiceProgram: SendableMetatype {
    associatedtype Settings: Sendable
    /// What `build` gives: the parts, plus whatever the service wants tests to reach (the relay's port).
    associatedtype Built: BuiltWharfService = WharfServiceParts

    /// As `WHARF_*` configuration and logs name it (`store`, `blob`, ...).
    static var name: String { get }
    static var defaults: RuntimeConfiguration.Defaults { get }
    static var migrations: [MigrationSet] { get }
    /// The service's own settings, read (and validated with the shared ones) from `reader`.
    static func settings(reader: EnvironmentReader) -> Settings
    /// Creates the service's parts once PostgreSQL is migrated.
    static func build(host: WharfServiceHost, settings: Settings) async throws -> Built
}

/// The result of `WharfServiceProgram.build`.
public protocol BuiltWharfService: Sendable {
    var parts: WharfServiceParts { get }
}

extension WharfServiceParts: BuiltWharfService {
    public var parts: WharfServiceParts { self }
}

extension WharfServiceProgram {
    /// Reads `environment` as the program's executable would, reporting every problem together.
    public static func configuration(
        environment: [String: String]
    ) throws(ConfigurationError) -> (runtime: RuntimeConfiguration, settings: Settings, effective: [(String, String)]) {
        try WharfServiceMain.loadConfiguration(service: name, defaults: defaults, environment: environment) {
            settings(reader: $0)
        }
    }

    /// A host that runs this program with `settings`; `built` sees what `build` made (before the server starts).
    public static func host(
        configuration: RuntimeConfiguration, settings: Settings,
        logger: Logger? = nil, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        built: @escaping @Sendable (Built) -> Void = { _ in }
    ) -> WharfServiceHost {
        WharfServiceHost(configuration: configuration, migrations: migrations, logger: logger, registry: registry) { host in
            let made = try await build(host: host, settings: settings)
            built(made)
            return made.parts
        }
    }
}
