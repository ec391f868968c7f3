import Foundation
import Logging
import NIOCore
import PostgresNIO
import WharfRuntime

/// Records, their manifest annotations and referrers in PostgreSQL (schema `store`). A record row is
/// immutable once written (its key is the hash of its data); referrers go with it on delete.
public struct RecordRepository: Sendable {
    public static let migrations = MigrationSet(schema: "store", migrations: [
        Migration(version: 1, name: "records and referrers", sql: [
            "CREATE SCHEMA IF NOT EXISTS store",
            """
            CREATE TABLE store.records (
                cid text PRIMARY KEY,
                data bytea NOT NULL,
                annotation_keys text[] NOT NULL,
                annotation_values text[] NOT NULL,
                schema_version text NOT NULL,
                created_at text NOT NULL,
                pushed_at timestamptz NOT NULL DEFAULT now(),
                CHECK (cardinality(annotation_keys) = cardinality(annotation_values))
            )
            """,
            // Canonical JSON compresses well and is read whole: keep pglz on (the default).
            """
            CREATE TABLE store.referrers (
                cid text NOT NULL REFERENCES store.records (cid) ON DELETE CASCADE,
                kind text NOT NULL CHECK (kind IN ('signature', 'public_key')),
                value text NOT NULL,
                payload text NOT NULL DEFAULT '',
                updated_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (cid, kind)
            )
            """,
        ]),
    ])

    /// What Lookup needs of a stored record.
    public struct StoredMeta: Sendable, Equatable {
        public var annotations: RecordAnnotations
        public var schemaVersion: String
        public var createdAt: String
    }

    public enum ReferrerKind: String, Sendable {
        case signature
        case publicKey = "public_key"
    }

    public struct Referrer: Sendable, Equatable {
        /// The base64 signature, or the PEM public key.
        public var value: String
        /// The signed payload (signatures only).
        public var payload: String
    }

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Stores the record unless its CID is already stored; true when this call inserted it. Returns after
    /// the commit.
    public func insert(_ record: PreparedRecord) async throws -> Bool {
        let keys = Array(record.annotations.manifest.keys)
        let values = keys.map { record.annotations.manifest[$0] ?? "" }
        let rows = try await client.query(
            """
            INSERT INTO store.records (cid, data, annotation_keys, annotation_values, schema_version, created_at)
            VALUES (\(record.cid), \(ByteBuffer(bytes: record.canonicalJSON)), \(keys), \(values),
                    \(record.schemaVersion), \(record.createdAt))
            ON CONFLICT (cid) DO NOTHING
            RETURNING 1
            """, logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// The stored canonical JSON of `cid`.
    public func data(of cid: String) async throws -> ByteBuffer? {
        let rows = try await client.query("SELECT data FROM store.records WHERE cid = \(cid)", logger: logger)
        return try await rows.decode(ByteBuffer.self).first(where: { _ in true })
    }

    public func meta(of cid: String) async throws -> StoredMeta? {
        let rows = try await client.query(
            "SELECT annotation_keys, annotation_values, schema_version, created_at FROM store.records WHERE cid = \(cid)",
            logger: logger)
        guard let (keys, values, schemaVersion, createdAt) = try await rows.decode(([String], [String], String, String).self)
            .first(where: { _ in true }) else { return nil }
        return StoredMeta(annotations: RecordAnnotations(manifest: Dictionary(zip(keys, values)) { $1 }),
                          schemaVersion: schemaVersion, createdAt: createdAt)
    }

    /// Removes the record and its referrers; true when it existed.
    public func delete(_ cid: String) async throws -> Bool {
        let rows = try await client.query("DELETE FROM store.records WHERE cid = \(cid) RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// Stores (or replaces) a referrer of an existing record; false when the record is not stored.
    public func putReferrer(_ kind: ReferrerKind, of cid: String, _ referrer: Referrer) async throws -> Bool {
        do {
            let rows = try await client.query(
                """
                INSERT INTO store.referrers (cid, kind, value, payload)
                SELECT cid, \(kind.rawValue), \(referrer.value), \(referrer.payload) FROM store.records WHERE cid = \(cid)
                ON CONFLICT (cid, kind) DO UPDATE SET value = excluded.value, payload = excluded.payload, updated_at = now()
                RETURNING 1
                """, logger: logger)
            return try await rows.decode(Int.self).first(where: { _ in true }) != nil
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23503" {
            return false  // the record was deleted between the SELECT and the insert
        }
    }

    public func referrer(_ kind: ReferrerKind, of cid: String) async throws -> Referrer? {
        let rows = try await client.query(
            "SELECT value, payload FROM store.referrers WHERE cid = \(cid) AND kind = \(kind.rawValue)", logger: logger)
        guard let (value, payload) = try await rows.decode((String, String).self).first(where: { _ in true }) else { return nil }
        return Referrer(value: value, payload: payload)
    }
}
