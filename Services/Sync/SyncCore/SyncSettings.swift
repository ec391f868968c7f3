import Foundation
import WharfRuntime

/// The sync service's own settings (README "Configuration").
public struct SyncSettings: Sendable {
    /// The local store: records are pushed there, and its registry issues the credentials handed out.
    public var store: HostPort
    /// The local routing service: mirrored records are published there.
    public var routing: HostPort
    /// Remote directories a sync may dial (`WHARF_SYNC_ALLOWED_REMOTES`; internal addresses refused unless listed).
    public var allowedRemotes: OutboundAllowList
    /// How long registry credentials handed to another node stay valid.
    public var credentialTTL: Duration
    /// How often a remote that offers no change feed (any non-Wharf Directory) is enumerated again.
    public var pollInterval: Duration
    /// Rounds that fail in a row before a sync becomes FAILED.
    public var maximumFailures: Int
    /// Syncs that may be PENDING, IN_PROGRESS or DELETE_PENDING at once.
    public var maximumActiveSyncs: Int
    /// The backrest hub (`WHARF_BACKREST_*`).
    public var backrest: BackrestSettings

    public init(reader: EnvironmentReader) {
        store =
            reader.parsed("WHARF_SYNC_STORE", default: "127.0.0.1:50051") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            } ?? HostPort(host: "127.0.0.1", port: 50051)
        routing =
            reader.parsed("WHARF_SYNC_ROUTING", default: "127.0.0.1:50053") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            } ?? HostPort(host: "127.0.0.1", port: 50053)
        allowedRemotes = reader.allowList("WHARF_SYNC_ALLOWED_REMOTES")
        credentialTTL = reader.duration("WHARF_SYNC_CREDENTIAL_TTL", default: .seconds(3600), minimum: .seconds(10))
        pollInterval = reader.duration("WHARF_SYNC_POLL_INTERVAL", default: .seconds(60), minimum: .milliseconds(100))
        maximumFailures = reader.int("WHARF_SYNC_MAX_FAILURES", default: 5, range: 1...1000)
        maximumActiveSyncs = reader.int("WHARF_SYNC_MAX_ACTIVE", default: 100, range: 1...100_000)
        backrest = BackrestSettings(reader: reader)
    }
}
