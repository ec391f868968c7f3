import Foundation
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// The clients this hub accepts (backrest's `multihost.authorized_clients`), by keyid, in PostgreSQL so
/// every replica sees the operator's changes at once. Seeded from `WHARF_BACKREST_AUTHORIZED_CLIENTS`.
public struct BackrestClients: Sendable {
    let client: PostgresClient
    let logger: Logger

    public struct Client: Sendable, Equatable {
        public var instanceID: String
        public var keyid: String
        public var permissions: [V1_Multihost.Permission]
        public var addedAt: Date
        /// The pairing token that authorized it (protocol 3); nil when an operator added it.
        public var pairedWithToken: String? = nil

        /// The sync protocol its keyid belongs to: P-256 keys (`ecdsa.`) are backrest 1.11–1.12's, ed25519 keys 1.13+'s.
        public var protocolVersion: Int { keyid.hasPrefix(Self.ed25519Prefix) ? 3 : 1 }
        static let ed25519Prefix = "ed25519."
    }

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// What is wrong with a client entry, or nil (backrest's `validatePeer`: the instance id pattern, a keyid
    /// of the form backrest derives, permissions whose scopes parse).
    public static func problem(instanceID: String, keyid: String, permissions: [V1_Multihost.Permission]) -> String? {
        if let problem = instanceIDProblem(instanceID) { return problem }
        if let problem = keyidProblem(keyid) { return problem }
        return permissionsProblem(permissions)
    }

    /// A keyid of either form backrest derives: `ecdsa.` (P-256, protocol 1) or `ed25519.` (protocol 3), then
    /// 43 base64url characters.
    public static func keyidProblem(_ keyid: String) -> String? {
        for prefix in ["ecdsa.", Client.ed25519Prefix] where keyid.hasPrefix(prefix) {
            let body = keyid.utf8.dropFirst(prefix.utf8.count)
            if body.count == 43, body.allSatisfy({ $0.isBase64URL }) { return nil }
        }
        return "keyid must be \"ecdsa.\" (backrest 1.11–1.12) or \"ed25519.\" (1.13+) followed by 43 base64url characters, as backrest derives it"
    }

    /// Permissions whose types are known and whose scopes parse (a pairing token's or a client's).
    public static func permissionsProblem(_ permissions: [V1_Multihost.Permission]) -> String? {
        guard permissions.count <= 64 else { return "at most 64 permissions per client" }
        for permission in permissions {
            // 4 is PERMISSION_RECEIVE_SHARED_REPOS (1.13+), past the 1.11–1.12 enum Wharf's proto has.
            guard (1...4).contains(permission.type.rawValue) else { return "unknown permission type \(permission.type.rawValue)" }
            guard !permission.scopes.isEmpty, permission.scopes.count <= 256 else { return "a permission needs 1 to 256 scopes" }
            for scope in permission.scopes where BackrestScope(scope) == nil {
                return "invalid scope \"\(scope)\" (one of *, repo:ID, plan:ID, !repo:ID, !plan:ID)"
            }
        }
        return nil
    }

    /// Backrest's instance id rule: `[a-zA-Z0-9_\-.]+`, not both starting and ending with `_`.
    public static func instanceIDProblem(_ instanceID: String) -> String? {
        guard !instanceID.isEmpty, instanceID.utf8.count <= 256 else { return "instance id must be 1 to 256 characters" }
        guard instanceID.utf8.allSatisfy({ $0.isInstanceIDCharacter }) else { return "instance id may contain only letters, digits, _, - and ." }
        if instanceID.hasPrefix("_") && instanceID.hasSuffix("_") { return "instance id may not start and end with _" }
        return nil
    }

    /// Adds or replaces the client with this keyid.
    public func put(instanceID: String, keyid: String, permissions: [V1_Multihost.Permission]) async throws -> Client {
        let peer = V1_Multihost.Peer.with {
            $0.instanceID = instanceID
            $0.keyid = keyid
            $0.keyidVerified = true
            $0.permissions = permissions
        }
        let bytes = ByteBuffer(bytes: try peer.serializedBytes() as [UInt8])
        let rows = try await client.query(
            """
            INSERT INTO backrest.clients (keyid, instance_id, peer) VALUES (\(keyid), \(instanceID), \(bytes))
            ON CONFLICT (keyid) DO UPDATE SET instance_id = excluded.instance_id, peer = excluded.peer
            RETURNING added_at, paired_with_token
            """, logger: logger)
        let stored = try await rows.decode((Date, String?).self).first(where: { _ in true })
        return Client(instanceID: instanceID, keyid: keyid, permissions: permissions, addedAt: stored?.0 ?? Date(), pairedWithToken: stored?.1)
    }

    @discardableResult
    public func remove(keyid: String) async throws -> Bool {
        guard PostgresText.canStore(keyid) else { return false }
        let rows = try await client.query("DELETE FROM backrest.clients WHERE keyid = \(keyid) RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    public func find(keyid: String) async throws -> Client? {
        guard PostgresText.canStore(keyid) else { return nil }
        return try await select("WHERE keyid = \(keyid)").first
    }

    public func all(limit: Int = 100_000) async throws -> [Client] {
        try await select("ORDER BY keyid LIMIT \(limit)")
    }

    private func select(_ tail: PostgresQuery) async throws -> [Client] {
        var query = PostgresQuery(unsafeSQL: "SELECT keyid, instance_id, peer, added_at, paired_with_token FROM backrest.clients ")
        query.sql += tail.sql
        query.binds = tail.binds
        var clients: [Client] = []
        for try await (keyid, instanceID, peer, addedAt, token) in try await client.query(query, logger: logger).decode(
            (String, String, ByteBuffer, Date, String?).self)
        {
            let permissions = (try? V1_Multihost.Peer(serializedBytes: Array(peer.readableBytesView)))?.permissions ?? []
            clients.append(Client(instanceID: instanceID, keyid: keyid, permissions: permissions, addedAt: addedAt, pairedWithToken: token))
        }
        return clients
    }
}

/// One scope of a backrest permission (`permissions.go`): `*`, `repo:<id>`, `plan:<id>`, or an exclusion.
public struct BackrestScope: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        case all
        case repo(String)
        case plan(String)
    }

    public var target: Target
    public var excluded: Bool

    public init?(_ text: String) {
        if text == "*" { target = .all; excluded = false; return }
        excluded = text.hasPrefix("!")
        let body = excluded ? text.dropFirst() : text[...]
        if body.hasPrefix("repo:"), body.count > 5 {
            target = .repo(String(body.dropFirst(5)))
        } else if body.hasPrefix("plan:"), body.count > 5 {
            target = .plan(String(body.dropFirst(5)))
        } else {
            return nil
        }
    }
}

extension BackrestClients.Client {
    /// Whether a permission of `type` covers the repo or plan `target` (an exclusion beats `*`; the last
    /// entry of a type wins, as backrest's permission set).
    public func allows(_ type: V1_Multihost.Permission.TypeEnum, _ target: BackrestScope.Target) -> Bool {
        guard let permission = permissions.last(where: { $0.type == type }) else { return false }
        let scopes = permission.scopes.compactMap(BackrestScope.init)
        if scopes.contains(where: { $0.excluded && $0.target == target }) { return false }
        return scopes.contains { !$0.excluded && ($0.target == .all || $0.target == target) }
    }

    /// Whether the client accepts `set_config` from the hub for anything (READ_WRITE_CONFIG on some scope).
    public var acceptsConfigPushes: Bool {
        permissions.contains { $0.type == .permissionReadWriteConfig && !$0.scopes.isEmpty }
    }
}

extension UInt8 {
    var isBase64URL: Bool {
        (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || (0x30...0x39).contains(self) || self == 0x2D || self == 0x5F
    }

    var isInstanceIDCharacter: Bool {
        (0x41...0x5A).contains(self) || (0x61...0x7A).contains(self) || (0x30...0x39).contains(self) || self == 0x2D || self == 0x5F || self == 0x2E
    }
}
