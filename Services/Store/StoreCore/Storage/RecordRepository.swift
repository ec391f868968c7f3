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

    /// Batched reads: up to this many queries of each kind at once, each for up to `maximumBatch` CIDs.
    static let readLanes = 4
    static let maximumBatch = 256

    private let client: PostgresClient
    private let logger: Logger
    private let dataBatcher: KeyBatcher<String, ByteBuffer>
    private let metaBatcher: KeyBatcher<String, StoredMeta>

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        dataBatcher = KeyBatcher(lanes: Self.readLanes, maximumBatch: Self.maximumBatch) { cids in
            try await Self.fetchData(cids, client: client, logger: logger)
        }
        metaBatcher = KeyBatcher(lanes: Self.readLanes, maximumBatch: Self.maximumBatch) { cids in
            try await Self.fetchMeta(cids, client: client, logger: logger)
        }
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

    /// The stored canonical JSON of `cid`. Concurrent calls are batched into one query.
    public func data(of cid: String) async throws -> ByteBuffer? {
        guard PostgresText.canStore(cid) else { return nil }  // no stored CID has a NUL
        return try await dataBatcher.load(cid)
    }

    public func meta(of cid: String) async throws -> StoredMeta? {
        guard PostgresText.canStore(cid) else { return nil }
        return try await metaBatcher.load(cid)
    }

    private static func fetchData(_ cids: [String], client: PostgresClient, logger: Logger) async throws -> [String: ByteBuffer] {
        let rows = try await client.query("SELECT cid, data FROM store.records WHERE cid = ANY(\(cids))", logger: logger)
        var found: [String: ByteBuffer] = [:]
        for try await (cid, data) in rows.decode((String, ByteBuffer).self) { found[cid] = data }
        return found
    }

    private static func fetchMeta(_ cids: [String], client: PostgresClient, logger: Logger) async throws -> [String: StoredMeta] {
        let rows = try await client.query(
            """
            SELECT cid, annotation_keys, annotation_values, schema_version, created_at
            FROM store.records WHERE cid = ANY(\(cids))
            """, logger: logger)
        var found: [String: StoredMeta] = [:]
        for try await (cid, keys, values, schemaVersion, createdAt) in rows.decode((String, [String], [String], String, String).self) {
            found[cid] = StoredMeta(annotations: RecordAnnotations(manifest: Dictionary(zip(keys, values)) { $1 }),
                                    schemaVersion: schemaVersion, createdAt: createdAt)
        }
        return found
    }

    /// Removes the record and its referrers; true when it existed.
    public func delete(_ cid: String) async throws -> Bool {
        guard PostgresText.canStore(cid) else { return false }
        let rows = try await client.query("DELETE FROM store.records WHERE cid = \(cid) RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// Stores (or replaces) a referrer of an existing record; false when the record is not stored.
    public func putReferrer(_ kind: ReferrerKind, of cid: String, _ referrer: Referrer) async throws -> Bool {
        guard PostgresText.canStore(cid) else { return false }
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
        guard PostgresText.canStore(cid) else { return nil }
        let rows = try await client.query(
            "SELECT value, payload FROM store.referrers WHERE cid = \(cid) AND kind = \(kind.rawValue)", logger: logger)
        guard let (value, payload) = try await rows.decode((String, String).self).first(where: { _ in true }) else { return nil }
        return Referrer(value: value, payload: payload)
    }
}
