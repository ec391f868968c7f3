import Crypto
import Foundation
import Logging
import NIOCore
import PostgresNIO
import WharfEncoding
import WharfRuntime

/// The basic-auth credentials of the store's read-only OCI registry, one set per request of a node
/// (SyncService.RequestRegistryCredentials): random, short-lived, revocable per node, and kept only as the
/// SHA-256 of the password (the password is 32 random bytes, so a slow hash adds nothing).
public struct RegistryCredentialStore: Sendable {
    public static let migration = Migration(
        version: 2, name: "registry credentials",
        sql: [
            """
            CREATE TABLE store.registry_credentials (
                username text PRIMARY KEY,
                node_id text NOT NULL,
                password_sha256 bytea NOT NULL,
                issued_at timestamptz NOT NULL DEFAULT now(),
                expires_at timestamptz NOT NULL,
                revoked_at timestamptz
            )
            """,
            "CREATE INDEX registry_credentials_node ON store.registry_credentials (node_id) WHERE revoked_at IS NULL",
        ])

    /// Live credentials one node may hold; issuing more removes its oldest (a node asks once per sync round).
    public static let maximumPerNode = 16
    /// Live credentials of all nodes together: issuing beyond it is refused (`TooMany`), so the table never
    /// grows with requests, however many node ids callers make up.
    public static let maximumLive = 1_000

    /// Issuing would exceed `maximumLive`.
    public struct TooMany: Error, Sendable {}
    /// Bytes of a node id (upstream: `directory://local-node`).
    public static let maximumNodeIDBytes = 256

    public struct Issued: Sendable {
        public var username: String
        public var password: String
        public var expiresAt: Date
    }

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    public func issue(nodeID: String, ttl: Duration) async throws -> Issued {
        let username = "wharf-" + Self.randomHex(byteCount: 12)
        let password = Self.randomHex(byteCount: 32)
        let seconds = Double(ttl.components.seconds)
        let expiresAt = Date().addingTimeInterval(seconds)
        let hash = ByteBuffer(bytes: SHA256.hash(data: Array(password.utf8)))
        try await unwrappingTransactionError(TooMany.self) {
            try await issueRow(username: username, nodeID: nodeID, hash: hash, expiresAt: expiresAt)
        }
        return Issued(username: username, password: password, expiresAt: expiresAt)
    }

    private func issueRow(username: String, nodeID: String, hash: ByteBuffer, expiresAt: Date) async throws {
        let logger = logger
        try await client.withTransaction(logger: logger) { connection in
            // One issuer at a time (the count below must not be raced), and no row that can never be used
            // again is kept: expired and revoked credentials are deleted, not marked.
            try await connection.query("SELECT pg_advisory_xact_lock(\(Self.issueLockKey))", logger: logger)
            try await connection.query(
                "DELETE FROM store.registry_credentials WHERE expires_at <= now() OR revoked_at IS NOT NULL", logger: logger)
            try await connection.query(
                """
                DELETE FROM store.registry_credentials WHERE username IN (
                    SELECT username FROM store.registry_credentials WHERE node_id = \(nodeID)
                    ORDER BY issued_at DESC OFFSET \(Self.maximumPerNode - 1))
                """, logger: logger)
            let live = try await connection.query("SELECT count(*) FROM store.registry_credentials", logger: logger)
            for try await count in live.decode(Int64.self) where count >= Self.maximumLive { throw TooMany() }
            try await connection.query(
                """
                INSERT INTO store.registry_credentials (username, node_id, password_sha256, expires_at)
                VALUES (\(username), \(nodeID), \(hash), \(expiresAt))
                """, logger: logger)
        }
    }

    /// The advisory lock that serialises issuing (any constant no other lock of the store uses).
    static let issueLockKey: Int64 = 0x5748_4152_4643_5231  // "WHARFCR1"

    /// Rows in the table (expired and revoked ones are removed at the next issue).
    public func rowCount() async throws -> Int {
        let rows = try await client.query("SELECT count(*) FROM store.registry_credentials", logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(clamping: count) }
        return 0
    }

    /// Revokes every credential of `nodeID` still valid; returns how many.
    public func revoke(nodeID: String) async throws -> Int {
        let rows = try await client.query(
            """
            UPDATE store.registry_credentials SET revoked_at = now()
            WHERE node_id = \(nodeID) AND revoked_at IS NULL AND expires_at > now() RETURNING 1
            """, logger: logger)
        return try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
    }

    /// A credential as listed: never its password or hash.
    public struct Listed: Sendable, Equatable {
        public var username: String
        public var nodeID: String
        public var issuedAt: Date
        public var expiresAt: Date
        public var revokedAt: Date?
    }

    /// The newest `limit` rows (live, expired or revoked: the latter two stay until the next issue removes them).
    public func list(limit: Int) async throws -> [Listed] {
        let rows = try await client.query(
            """
            SELECT username, node_id, issued_at, expires_at, revoked_at FROM store.registry_credentials
            ORDER BY issued_at DESC, username LIMIT \(limit)
            """, logger: logger)
        var listed: [Listed] = []
        for try await (username, node, issued, expires, revoked) in rows.decode((String, String, Date, Date, Date?).self) {
            listed.append(Listed(username: username, nodeID: node, issuedAt: issued, expiresAt: expires, revokedAt: revoked))
        }
        return listed
    }

    /// The node a username/password pair belongs to, when it is valid now (not expired, not revoked).
    public func verify(username: String, password: String) async throws -> String? {
        guard username.utf8.count <= 64, password.utf8.count <= 128, PostgresText.canStore(username) else { return nil }
        let rows = try await client.query(
            """
            SELECT node_id, password_sha256 FROM store.registry_credentials
            WHERE username = \(username) AND revoked_at IS NULL AND expires_at > now()
            """, logger: logger)
        guard let (nodeID, stored) = try await rows.decode((String, ByteBuffer).self).first(where: { _ in true }) else { return nil }
        let presented = [UInt8](SHA256.hash(data: Array(password.utf8)))
        return ConstantTime.equal(presented, Array(buffer: stored)) ? nodeID : nil
    }

    static func randomHex(byteCount: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }.hexString
    }
}
