import Foundation
import WharfRuntime

#if canImport(Glibc)
    import Glibc
#endif

/// The backrest hub's settings (README "Configuration").
public struct BackrestSettings: Sendable {
    /// The hub's instance id, which clients have in their known_hosts (`WHARF_BACKREST_INSTANCE_ID`; default
    /// the node id).
    public var instanceID: String?
    /// PEM file of the hub's P-256 key, created (mode 0600) on first start when absent.
    public var keyFile: String
    /// How often the hub sends a heartbeat (backrest's own default is 600 s; a shorter one keeps proxies open).
    public var heartbeatInterval: Duration
    /// How often clients send theirs (backrest's `--multihost-heartbeat-interval`, 600 s): a session silent
    /// for twice this long is ended and its peer marked DISCONNECTED.
    public var clientHeartbeatInterval: Duration
    /// How long a client has to send its handshake (backrest: 15 s).
    public var handshakeTimeout: Duration
    /// `instance_id=keyid[;PERM=SCOPE,SCOPE…]…` entries separated by spaces (`WHARF_BACKREST_AUTHORIZED_CLIENTS`),
    /// added at start-up as `wharfctl backrest client add` would.
    public var seedClients: String
    /// How often a connected client's authorization is read again, beside the operator's change events
    /// (`WHARF_BACKREST_AUTHORIZATION_RECHECK`): a removed client's session lasts at most this long even if
    /// the event is lost.
    public var authorizationRecheck: Duration

    public init(reader: EnvironmentReader) {
        instanceID = reader.optionalString("WHARF_BACKREST_INSTANCE_ID")
        keyFile = reader.string("WHARF_BACKREST_KEY_FILE", default: "backrest-hub-key.pem")
        heartbeatInterval = reader.duration("WHARF_BACKREST_HEARTBEAT_INTERVAL", default: .seconds(60), minimum: .milliseconds(100))
        clientHeartbeatInterval = reader.duration("WHARF_BACKREST_CLIENT_HEARTBEAT_INTERVAL", default: .seconds(600), minimum: .milliseconds(100))
        handshakeTimeout = reader.duration("WHARF_BACKREST_HANDSHAKE_TIMEOUT", default: .seconds(15), minimum: .milliseconds(100))
        seedClients = reader.string("WHARF_BACKREST_AUTHORIZED_CLIENTS", default: "")
        authorizationRecheck = reader.duration("WHARF_BACKREST_AUTHORIZATION_RECHECK", default: .seconds(10), minimum: .milliseconds(100))
    }

    /// Loads the hub's key from `keyFile`, or creates it there (0600) when the file does not exist.
    func loadOrCreateIdentity() throws -> BackrestIdentity {
        let url = URL(fileURLWithPath: keyFile)
        if let text = try? String(contentsOf: url, encoding: .utf8) {
            do {
                return try BackrestIdentity(pem: text)
            } catch {
                throw ConfigurationProblem("WHARF_BACKREST_KEY_FILE \(keyFile): \(error)")
            }
        }
        let identity = BackrestIdentity.generate()
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        // The key is written whole to a private temporary file (mode 0600 from its creation, so never readable by
        // others), then hard-linked into place: link(2) fails if the name exists, so a replica starting at the
        // same moment neither overwrites the key another one wrote nor reads a half-written file.
        let temporary = "\(keyFile).\(getpid()).\(UInt32.random(in: 0...UInt32.max)).tmp"
        let descriptor = open(temporary, O_CREAT | O_EXCL | O_WRONLY, 0o600)
        guard descriptor >= 0 else { throw ConfigurationProblem("WHARF_BACKREST_KEY_FILE \(keyFile): cannot be created (errno \(errno))") }
        defer { unlink(temporary) }
        let bytes = Array(identity.privatePEM.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == bytes.count, synced else { throw ConfigurationProblem("WHARF_BACKREST_KEY_FILE \(keyFile): cannot be written") }
        if link(temporary, keyFile) != 0, errno != EEXIST {
            throw ConfigurationProblem("WHARF_BACKREST_KEY_FILE \(keyFile): cannot be created (errno \(errno))")
        }
        // Another replica may have created it first: the file wins.
        return try BackrestIdentity(pem: String(contentsOf: url, encoding: .utf8))
    }
}
