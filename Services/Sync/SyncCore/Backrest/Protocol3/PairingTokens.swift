import Crypto
import Foundation
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// Pairing tokens (backrest 1.13+, spec §16a step 4): an operator creates one with permissions, a lifetime and a
/// number of uses; a client that does not know the hub yet sends its secret in its handshake and becomes an
/// authorized client with the token's permissions. Only the SHA-256 of a secret is stored, so a secret is found by
/// its hash (no comparison over the secret's bytes) and a database dump pairs nobody. Redeeming is one transaction
/// with the token row locked: replicas pairing at once never exceed its uses.
public struct PairingTokens: Sendable {
    let client: PostgresClient
    let logger: Logger

    public static let maximumLifetime: Duration = .seconds(365 * 24 * 3600)
    /// Tokens that ended (expired, used up, revoked) are kept this long so that a late client is told why.
    static let keptAfterEnd = "30 days"

    public struct Token: Sendable, Equatable {
        public var id: String
        public var label: String
        public var createdAt: Date
        public var expiresAt: Date
        public var maxUses: Int32
        public var uses: Int32
        public var permissions: [V1_Multihost.Permission]
        public var revoked: Bool
    }

    /// Why a pairing secret paired nobody: what the client's operator needs to know to get a working token.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case malformed
        case unknown
        case expired(id: String)
        case usedUp(id: String, uses: Int32)
        case revoked(id: String)

        public var description: String {
            switch self {
            case .malformed: "the pairing secret is not 64 hexadecimal characters (the part between ':' and '#' of the token)"
            case .unknown: "the pairing secret matches no pairing token of this hub"
            case .expired(let id): "pairing token \(id) has expired; ask the hub's operator for a new one"
            case .usedUp(let id, let uses): "pairing token \(id) is used up (\(uses) clients paired with it); ask for a new one"
            case .revoked(let id): "pairing token \(id) was revoked"
            }
        }
    }

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// `<hub keyid>:<secret>#<hub instance id>`, as backrest's `FormatPairingToken`.
    public static func text(hubKeyID: String, secret: String, hubInstanceID: String) -> String {
        "\(hubKeyID):\(secret)#\(hubInstanceID)"
    }

    static func isSecret(_ text: String) -> Bool {
        text.utf8.count == 64 && text.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func digest(_ secret: String) -> ByteBuffer { ByteBuffer(bytes: Array(SHA256.hash(data: Array(secret.utf8)))) }

    /// Creates a token; returns it with its secret (shown once).
    public func create(
        label: String, lifetime: Duration, maxUses: Int32, permissions: [V1_Multihost.Permission]
    ) async throws -> (token: Token, secret: String) {
        let secret = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let id = "pt-" + (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        let peer = V1_Multihost.Peer.with { $0.permissions = permissions }
        let bytes = ByteBuffer(bytes: try peer.serializedBytes() as [UInt8])
        let seconds = Double(lifetime.components.seconds)
        // Ended tokens past their keeping time go when a new one is made (tokens are made by hand: rarely).
        try await client.query(
            """
            DELETE FROM backrest.pairing_tokens WHERE expires_at < now() - \(Self.keptAfterEnd)::interval
                OR revoked_at < now() - \(Self.keptAfterEnd)::interval
            """, logger: logger)
        let rows = try await client.query(
            """
            INSERT INTO backrest.pairing_tokens (id, secret_sha256, label, expires_at, max_uses, permissions)
            VALUES (\(id), \(Self.digest(secret)), \(label), now() + make_interval(secs => \(seconds)), \(maxUses), \(bytes))
            RETURNING created_at, expires_at
            """, logger: logger)
        for try await (createdAt, expiresAt) in rows.decode((Date, Date).self) {
            let token = Token(
                id: id, label: label, createdAt: createdAt, expiresAt: expiresAt, maxUses: maxUses, uses: 0, permissions: permissions,
                revoked: false)
            return (token, secret)
        }
        throw RefusedInsert()
    }

    /// The tokens that can still pair a client, oldest first.
    public func active() async throws -> [Token] {
        let rows = try await client.query(
            """
            SELECT id, label, created_at, expires_at, max_uses, uses, permissions FROM backrest.pairing_tokens
            WHERE revoked_at IS NULL AND expires_at > now() AND (max_uses = 0 OR uses < max_uses)
            ORDER BY created_at, id LIMIT 10000
            """, logger: logger)
        var tokens: [Token] = []
        for try await (id, label, createdAt, expiresAt, maxUses, uses, permissions) in rows.decode(
            (String, String, Date, Date, Int32, Int32, ByteBuffer).self)
        {
            tokens.append(
                Token(
                    id: id, label: label, createdAt: createdAt, expiresAt: expiresAt, maxUses: maxUses, uses: uses,
                    permissions: Self.permissions(permissions), revoked: false))
        }
        return tokens
    }

    /// Revokes a token; false when no token that could still pair has this id.
    public func revoke(id: String) async throws -> Bool {
        guard PostgresText.canStore(id) else { return false }
        let rows = try await client.query(
            "UPDATE backrest.pairing_tokens SET revoked_at = now() WHERE id = \(id) AND revoked_at IS NULL RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// Pairs the client `keyid` (instance `instanceID`) with the token whose secret is `secret`: adds it as an
    /// authorized client with the token's permissions and counts the use, in one transaction. A client that is
    /// already authorized (a concurrent pairing of the same key) is returned as it is, without using the token.
    public func redeem(secret: String, keyid: String, instanceID: String) async throws -> BackrestClients.Client {
        guard Self.isSecret(secret) else { throw Refusal.malformed }
        let digest = Self.digest(secret)
        let logger = logger
        return try await unwrappingTransactionError(Refusal.self) {
            try await client.withTransaction(logger: logger) { connection in
                let rows = try await connection.query(
                    """
                    SELECT id, expires_at <= now(), max_uses, uses, revoked_at IS NOT NULL, permissions FROM backrest.pairing_tokens
                    WHERE secret_sha256 = \(digest) FOR UPDATE
                    """, logger: logger)
                var found: (String, Bool, Int32, Int32, Bool, ByteBuffer)?
                for try await row in rows.decode((String, Bool, Int32, Int32, Bool, ByteBuffer).self) { found = row }
                guard let (id, expired, maxUses, uses, revoked, permissionBytes) = found else { throw Refusal.unknown }
                if revoked { throw Refusal.revoked(id: id) }
                if expired { throw Refusal.expired(id: id) }
                if maxUses > 0, uses >= maxUses { throw Refusal.usedUp(id: id, uses: uses) }
                let permissions = Self.permissions(permissionBytes)
                let peer = V1_Multihost.Peer.with {
                    $0.instanceID = instanceID
                    $0.keyid = keyid
                    $0.keyidVerified = true
                    $0.permissions = permissions
                }
                let peerBytes = ByteBuffer(bytes: try peer.serializedBytes() as [UInt8])
                let inserted = try await connection.query(
                    """
                    INSERT INTO backrest.clients (keyid, instance_id, peer, paired_with_token) VALUES (\(keyid), \(instanceID), \(peerBytes), \(id))
                    ON CONFLICT (keyid) DO NOTHING RETURNING added_at
                    """, logger: logger)
                guard let addedAt = try await inserted.decode(Date.self).first(where: { _ in true }) else {
                    // Paired a moment ago by another session of the same key: that entry stands, the token is not used twice.
                    let existing = try await connection.query(
                        "SELECT instance_id, peer, added_at, paired_with_token FROM backrest.clients WHERE keyid = \(keyid)", logger: logger)
                    for try await (instance, peerBytes, addedAt, token) in existing.decode((String, ByteBuffer, Date, String?).self) {
                        return BackrestClients.Client(
                            instanceID: instance, keyid: keyid, permissions: Self.permissions(peerBytes), addedAt: addedAt, pairedWithToken: token)
                    }
                    throw Refusal.unknown
                }
                try await connection.query("UPDATE backrest.pairing_tokens SET uses = uses + 1 WHERE id = \(id)", logger: logger)
                return BackrestClients.Client(instanceID: instanceID, keyid: keyid, permissions: permissions, addedAt: addedAt, pairedWithToken: id)
            }
        }
    }

    struct RefusedInsert: Error {}

    static func permissions(_ bytes: ByteBuffer) -> [V1_Multihost.Permission] {
        (try? V1_Multihost.Peer(serializedBytes: Array(bytes.readableBytesView)))?.permissions ?? []
    }
}
