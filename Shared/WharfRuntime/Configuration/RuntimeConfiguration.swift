import Foundation
import Logging
import WharfTopology

/// The settings every Wharf service shares, read from `WHARF_*` variables. Service-specific settings are
/// read by each service from the same `EnvironmentReader` so that all problems are reported together.
public struct RuntimeConfiguration: Sendable {
    /// Defaults that differ per service (ports, message size).
    public struct Defaults: Sendable {
        public var grpcPort: Int
        public var metricsPort: Int
        public var maxMessageBytes: Int

        public init(grpcPort: Int, metricsPort: Int, maxMessageBytes: Int = 4 * 1024 * 1024) {
            self.grpcPort = grpcPort
            self.metricsPort = metricsPort
            self.maxMessageBytes = maxMessageBytes
        }

        /// A component's default ports, from the system's shape.
        public init(_ shape: ComponentShape, maxMessageBytes: Int = 4 * 1024 * 1024) {
            self.init(grpcPort: shape.grpcPort, metricsPort: shape.metricsPort, maxMessageBytes: maxMessageBytes)
        }
    }

    public struct TLSFiles: Sendable {
        public var certificateChainPath: String
        public var privateKeyPath: String
    }

    public var serviceName: String
    public var nodeID: String
    public var listen: HostPort
    public var metricsListen: HostPort?
    public var tls: TLSFiles?
    public var maxMessageBytes: Int
    /// Streams (calls) one client connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams: Int
    public var keepaliveTime: Duration
    public var keepaliveTimeout: Duration
    public var shutdownGrace: Duration
    public var startupTimeout: Duration
    public var healthInterval: Duration
    public var logLevel: Logger.Level
    public var postgres: PostgresConfiguration
    public var redis: RedisConfiguration
    public var jobs: JobSettings
    /// The credential of administrative RPCs (`AdminBoundaryInterceptor`); nil refuses them all.
    public var adminToken: SharedSecret?
    /// How long a stream holding a limited place (a reconciliation, a watcher, an upload) may make no
    /// progress before it loses the place (`WHARF_STREAM_IDLE_TIMEOUT`).
    public var streamIdleTimeout: Duration
    /// How long an HTTP connection (metrics, the relay before its WebSocket upgrade, the gateway before its
    /// HTTP/2 preface and while it has no stream) may be sent nothing before it is closed
    /// (`WHARF_HTTP_IDLE_TIMEOUT`): half-sent requests and silent sockets do not hold descriptors for ever.
    public var httpIdleTimeout: Duration

    public struct JobSettings: Sendable {
        public var lease: Duration
        public var pollInterval: Duration
        public var concurrency: Int
        public var maxAttempts: Int
    }

    /// Every setting the process read (its own with the shared ones), secrets masked, as it logs them at start:
    /// filled once everything is read (`WharfServiceMain.loadConfiguration`), empty before.
    public var effectiveSettings: [ConfigurationSetting] = []

    /// Reads the shared settings. Problems are recorded in `reader`; call `reader.validate()` afterwards.
    public init(serviceName: String, defaults: Defaults, reader: EnvironmentReader) {
        self.serviceName = serviceName
        nodeID = reader.string("WHARF_NODE_ID", default: ProcessInfo.processInfo.hostName)
        listen =
            reader.parsed("WHARF_LISTEN", default: "127.0.0.1:\(defaults.grpcPort)") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            } ?? HostPort(host: "127.0.0.1", port: defaults.grpcPort)
        let metrics = reader.raw("WHARF_METRICS_LISTEN")
        if metrics?.lowercased() == "off" {
            metricsListen = nil
            _ = reader.string("WHARF_METRICS_LISTEN", default: "off")
        } else {
            metricsListen = reader.parsed("WHARF_METRICS_LISTEN", default: "127.0.0.1:\(defaults.metricsPort)") {
                text throws(ConfigurationProblem) in try HostPort(parsing: text)
            }
        }
        let certificate = reader.optionalString("WHARF_TLS_CERT")
        let key = reader.optionalString("WHARF_TLS_KEY")
        switch (certificate, key) {
        case (let certificate?, let key?):
            tls = TLSFiles(certificateChainPath: certificate, privateKeyPath: key)
            for (name, path) in [("WHARF_TLS_CERT", certificate), ("WHARF_TLS_KEY", key)]
            where !FileManager.default.isReadableFile(atPath: path) {
                reader.fail(name, "cannot read file \"\(path)\"")
            }
        case (nil, nil):
            tls = nil
        default:
            tls = nil
            reader.fail(
                certificate == nil ? "WHARF_TLS_CERT" : "WHARF_TLS_KEY",
                "WHARF_TLS_CERT and WHARF_TLS_KEY must be set together")
        }
        maxMessageBytes = reader.int(
            "WHARF_GRPC_MAX_MESSAGE_BYTES", default: defaults.maxMessageBytes, range: 1024...(256 * 1024 * 1024))
        maxConcurrentStreams = reader.int("WHARF_GRPC_MAX_CONCURRENT_STREAMS", default: 256, range: 1...65_536)
        keepaliveTime = reader.duration("WHARF_GRPC_KEEPALIVE", default: .seconds(60), minimum: .seconds(1))
        keepaliveTimeout = reader.duration("WHARF_GRPC_KEEPALIVE_TIMEOUT", default: .seconds(20), minimum: .seconds(1))
        shutdownGrace = reader.duration("WHARF_SHUTDOWN_GRACE", default: .seconds(30))
        startupTimeout = reader.duration("WHARF_STARTUP_TIMEOUT", default: .seconds(60), minimum: .seconds(1))
        healthInterval = reader.duration("WHARF_HEALTH_INTERVAL", default: .seconds(2), minimum: .milliseconds(100))
        logLevel =
            reader.parsed("WHARF_LOG_LEVEL", default: "info") { text throws(ConfigurationProblem) in
                guard let level = Logger.Level(rawValue: text.lowercased()) else {
                    throw ConfigurationProblem(
                        "expected one of trace, debug, info, notice, warning, error, critical; got \"\(text)\"")
                }
                return level
            } ?? .info
        let poolSize = reader.int("WHARF_POSTGRES_POOL_SIZE", default: 20, range: 1...1000)
        var postgres =
            reader.parsed(
                "WHARF_POSTGRES_URL", default: "postgres://wharf@127.0.0.1:5432/wharf?sslmode=disable",
                display: { $0.maskedDescription }
            ) { text throws(ConfigurationProblem) in try PostgresConfiguration(url: text) }
            ?? PostgresConfiguration(host: "127.0.0.1", username: "wharf", database: "wharf")
        postgres.maximumConnections = poolSize
        self.postgres = postgres
        redis =
            reader.parsed(
                "WHARF_REDIS_URL", default: "redis://127.0.0.1:6379/0", display: { $0.maskedDescription }
            ) { text throws(ConfigurationProblem) in try RedisConfiguration(url: text) }
            ?? RedisConfiguration(host: "127.0.0.1")
        redis.channelPrefix =
            reader.parsed("WHARF_REDIS_CHANNEL_PREFIX", default: RedisConfiguration.defaultChannelPrefix) {
                text throws(ConfigurationProblem) in
                if let problem = RedisConfiguration.channelPrefixProblem(text) { throw ConfigurationProblem(problem) }
                return text
            } ?? RedisConfiguration.defaultChannelPrefix
        jobs = JobSettings(
            lease: reader.duration("WHARF_JOB_LEASE", default: .seconds(30), minimum: .seconds(1)),
            pollInterval: reader.duration("WHARF_JOB_POLL_INTERVAL", default: .seconds(2), minimum: .milliseconds(10)),
            concurrency: reader.int("WHARF_JOB_CONCURRENCY", default: 4, range: 1...256),
            maxAttempts: reader.int("WHARF_JOB_MAX_ATTEMPTS", default: 5, range: 1...100))
        adminToken = reader.secret("WHARF_ADMIN_TOKEN")
        streamIdleTimeout = reader.duration("WHARF_STREAM_IDLE_TIMEOUT", default: .seconds(30), minimum: .milliseconds(100))
        httpIdleTimeout = reader.duration("WHARF_HTTP_IDLE_TIMEOUT", default: .seconds(10), minimum: .milliseconds(100))
    }
}

/// One effective setting as shown: its value, or `***` for a secret.
public struct ConfigurationSetting: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
