import WharfRuntime

/// The store service's own settings (README "Configuration").
public struct StoreSettings: Sendable {
    /// Where the read-only OCI registry listens (`off` to run none).
    public var registryListen: HostPort?
    /// The `host:port` other nodes reach the registry at (RequestRegistryCredentials hands it out).
    public var registryAdvertise: String
    /// The longest validity a registry credential may be issued with.
    public var maximumCredentialTTL: Duration
    /// How long the change feed keeps a change.
    public var changeRetention: Duration
    /// How long one WatchRecords call may hold a watcher's place (`WHARF_STORE_WATCH_DURATION`); a follower
    /// then reconnects from the last sequence it saw (the sync's rounds are shorter).
    public var watchDuration: Duration

    public init(reader: EnvironmentReader) {
        let listenText = reader.string("WHARF_STORE_OCI_LISTEN", default: "127.0.0.1:5000")
        if listenText == "off" {
            registryListen = nil
        } else {
            registryListen = reader.parsed("WHARF_STORE_OCI_LISTEN", default: "127.0.0.1:5000") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            }
        }
        registryAdvertise = reader.string("WHARF_STORE_OCI_ADVERTISE", default: registryListen.map { "\($0.host):\($0.port)" } ?? "")
        maximumCredentialTTL = reader.duration("WHARF_STORE_OCI_MAX_CREDENTIAL_TTL", default: .seconds(24 * 3600), minimum: .seconds(10))
        changeRetention = reader.duration("WHARF_STORE_CHANGE_RETENTION", default: .seconds(7 * 24 * 3600), minimum: .seconds(60))
        watchDuration = reader.duration("WHARF_STORE_WATCH_DURATION", default: .seconds(300), minimum: .milliseconds(100))
    }
}
