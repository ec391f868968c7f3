import Foundation
import WharfRuntime

/// The backrest hub's settings (README "Configuration").
public struct BackrestSettings: Sendable {
    /// The hub's instance id, which clients have in their known_hosts (`WHARF_BACKREST_INSTANCE_ID`; default
    /// the node id).
    public var instanceID: String?
    /// PEM file of the hub's P-256 key (protocol 1), created (mode 0600) on first start when absent.
    public var keyFile: String
    /// PEM file (PKCS#8, as `openssl genpkey -algorithm ed25519` writes) of the hub's ed25519 key (protocol 3),
    /// created on first start when absent; by default beside `keyFile`.
    public var ed25519KeyFile: String
    /// Largest decrypted protocol-3 item (`WHARF_BACKREST_MAX_ITEM_BYTES`): a manifest of 100,000 operations is
    /// about 2 MB. The gRPC message limit (`WHARF_MAX_MESSAGE_BYTES`) bounds it too.
    public var maximumItemBytes: Int
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
        ed25519KeyFile = reader.string("WHARF_BACKREST_ED25519_KEY_FILE", default: Self.besideKeyFile(keyFile))
        maximumItemBytes = reader.int("WHARF_BACKREST_MAX_ITEM_BYTES", default: 4 << 20, range: 64 << 10...64 << 20)
        heartbeatInterval = reader.duration("WHARF_BACKREST_HEARTBEAT_INTERVAL", default: .seconds(60), minimum: .milliseconds(100))
        clientHeartbeatInterval = reader.duration("WHARF_BACKREST_CLIENT_HEARTBEAT_INTERVAL", default: .seconds(600), minimum: .milliseconds(100))
        handshakeTimeout = reader.duration("WHARF_BACKREST_HANDSHAKE_TIMEOUT", default: .seconds(15), minimum: .milliseconds(100))
        seedClients = reader.string("WHARF_BACKREST_AUTHORIZED_CLIENTS", default: "")
        authorizationRecheck = reader.duration("WHARF_BACKREST_AUTHORIZATION_RECHECK", default: .seconds(10), minimum: .milliseconds(100))
    }

    /// `key.pem` → `key-ed25519.pem`, in the same folder.
    static func besideKeyFile(_ keyFile: String) -> String {
        let url = URL(fileURLWithPath: keyFile)
        let stem = url.pathExtension.isEmpty ? url.lastPathComponent : url.deletingPathExtension().lastPathComponent
        let name = "\(stem)-ed25519.pem"
        return keyFile.contains("/") ? url.deletingLastPathComponent().appendingPathComponent(name).path : name
    }

    /// Loads the hub's P-256 key (protocol 1) from `keyFile`, or creates it there (0600) when the file does not exist.
    func loadOrCreateIdentity() throws -> BackrestIdentity {
        try PrivateKeyFile.loadOrCreate(
            path: keyFile, setting: "WHARF_BACKREST_KEY_FILE", generate: { BackrestIdentity.generate().privatePEM },
            parse: { try BackrestIdentity(pem: $0) })
    }

    /// Loads the hub's ed25519 key (protocol 3) from `ed25519KeyFile`, or creates it there (0600) when absent.
    func loadOrCreateEd25519Identity() throws -> BackrestEd25519Identity {
        try PrivateKeyFile.loadOrCreate(
            path: ed25519KeyFile, setting: "WHARF_BACKREST_ED25519_KEY_FILE",
            generate: { BackrestEd25519Identity.generate().privatePEM }, parse: { try BackrestEd25519Identity(pem: $0) })
    }
}
