import Foundation
import Logging
import NIOCore
import PostgresNIO
import RecordIdentity
import WharfRuntime

/// Records, their manifest annotations and referrers in PostgreSQL (schema `store`). A record row is
/// immutable once written (its key is the hash of its data); referrers go with it on delete.
public struct RecordRepository: Sendable {
    public static let migrations = MigrationSet(
        schema: "store",
        migrations: [
            Migration(
                version: 1, name: "records and referrers",
                sql: [
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
                ])
        ])

    /// The registry finds a record by its manifest digest (filled at Push; older rows by a backfill).
    public static let manifestDigestMigration = Migration(
        version: 4, name: "manifest digests",
        sql: [
            "ALTER TABLE store.records ADD COLUMN manifest_digest text",
            "CREATE INDEX records_manifest_digest ON store.records (manifest_digest)",
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

    let client: PostgresClient
    let logger: Logger
    private let dataBatcher: KeyBatcher<String, ByteBuffer>
    private let metaBatcher: KeyBatcher<String, StoredMeta>
    private let referrerBatcher: KeyBatcher<ReferrerKey, Referrer>
    private let insertBatcher: KeyBatcher<PendingInsert, Result<Bool, any Error>>

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
        dataBatcher = KeyBatcher(lanes: Self.readLanes, maximumBatch: Self.maximumBatch) { cids in
            try await Self.fetchData(cids, client: client, logger: logger)
        }
        metaBatcher = KeyBatcher(lanes: Self.readLanes, maximumBatch: Self.maximumBatch) { cids in
            try await Self.fetchMeta(cids, client: client, logger: logger)
        }
        insertBatcher = KeyBatcher(lanes: Self.writeLanes, maximumBatch: Self.maximumBatch) { pending in
            try await Self.insertBatch(pending.map(\.record), client: client, logger: logger)
        }
        referrerBatcher = KeyBatcher(lanes: Self.readLanes, maximumBatch: Self.maximumBatch) { keys in
            try await Self.fetchReferrers(keys, client: client, logger: logger)
        }
    }

    /// Concurrent inserts (a mirror pushing over several streams) share one statement and one commit, up to
    /// this many at once.
    static let writeLanes = 4

    struct PendingInsert: Hashable, Sendable {
        var record: PreparedRecord
        static func == (lhs: Self, rhs: Self) -> Bool { lhs.record.cid == rhs.record.cid }
        func hash(into hasher: inout Hasher) { hasher.combine(record.cid) }
    }

    /// Stores the record unless its CID is already stored; true when this call inserted it. Returns after
    /// the commit.
    public func insert(_ record: PreparedRecord) async throws -> Bool {
        try await insertBatcher.load(PendingInsert(record: record))?.get() ?? false
    }

    /// Inserts `records` in one statement (the change feed's rows with them, so a committed record always
    /// has one); each gets whether it was inserted. A failing statement is retried one record at a time, so
    /// a bad record fails only its own push.
    private static func insertBatch(_ records: [PreparedRecord], client: PostgresClient, logger: Logger) async throws
        -> [PendingInsert: Result<Bool, any Error>]
    {
        do {
            let inserted = try await insertRows(records, client: client, logger: logger)
            return Dictionary(records.map { (PendingInsert(record: $0), .success(inserted.contains($0.cid))) }) { first, _ in first }
        } catch  where records.count > 1 {
            var outcomes: [PendingInsert: Result<Bool, any Error>] = [:]
            for record in records {
                do {
                    outcomes[PendingInsert(record: record)] = .success(
                        try await insertRows([record], client: client, logger: logger).contains(record.cid))
                } catch {
                    outcomes[PendingInsert(record: record)] = .failure(error)
                }
            }
            return outcomes
        }
    }

    private static func insertRows(_ records: [PreparedRecord], client: PostgresClient, logger: Logger) async throws -> Set<String> {
        let rows = try RecordRows(records)
        let inserted = try await client.query(
            """
            WITH inserted AS (\(unescaped: RecordRows.insertStatement)
                FROM unnest(\(rows.cids)::text[], \(rows.data)::bytea[], \(rows.keyLists)::text[]::jsonb[], \(rows.valueLists)::text[]::jsonb[],
                            \(rows.versions)::text[], \(rows.createdAts)::text[], \(rows.digests)::text[]) AS r(c, d, k, v, s, t, m)
                ON CONFLICT (cid) DO NOTHING
                RETURNING cid
            )
            INSERT INTO store.changes (cid, present) SELECT cid, true FROM inserted RETURNING cid
            """, logger: logger)
        return try await inserted.decode(String.self).reduce(into: Set<String>()) { $0.insert($1) }
    }

    /// `store.records` columns of prepared records, as arrays for one `unnest` insert.
    struct RecordRows {
        /// The INSERT … SELECT of `store.records` whose FROM clause unnests the arrays as r(c, d, k, v, s, t, m).
        static let insertStatement = """
            INSERT INTO store.records (cid, data, annotation_keys, annotation_values, schema_version, created_at, manifest_digest)
                SELECT c, d,
                       ARRAY(SELECT e FROM jsonb_array_elements_text(k) WITH ORDINALITY AS x(e, n) ORDER BY n),
                       ARRAY(SELECT e FROM jsonb_array_elements_text(v) WITH ORDINALITY AS x(e, n) ORDER BY n),
                       s, t, m
            """
        var cids: [String] = [], data: [ByteBuffer] = [], keyLists: [String] = [], valueLists: [String] = []
        var versions: [String] = [], createdAts: [String] = [], digests: [String] = []

        init(_ records: [PreparedRecord]) throws {
            let encoder = JSONEncoder()
            func json(_ texts: [String]) throws -> String { String(decoding: try encoder.encode(texts), as: UTF8.self) }
            for record in records {
                let keys = Array(record.annotations.manifest.keys)
                cids.append(record.cid)
                data.append(ByteBuffer(bytes: record.canonicalJSON))
                keyLists.append(try json(keys))
                valueLists.append(try json(keys.map { record.annotations.manifest[$0] ?? "" }))
                versions.append(record.schemaVersion)
                createdAts.append(record.createdAt)
                digests.append(record.manifest.digest)
            }
        }
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
            found[cid] = StoredMeta(
                annotations: RecordAnnotations(manifest: Dictionary(zip(keys, values)) { $1 }),
                schemaVersion: schemaVersion, createdAt: createdAt)
        }
        return found
    }

    /// Stored CIDs after `cid` in byte order, at most `limit` (the registry's tag list).
    public func cids(after cid: String, limit: Int) async throws -> [String] {
        let rows = try await client.query(
            "SELECT cid FROM store.records WHERE cid > \(cid) ORDER BY cid LIMIT \(limit)", logger: logger)
        return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
    }

    /// The record whose registry manifest has `digest` (`sha256:<hex>`).
    public func cid(forManifestDigest digest: String) async throws -> String? {
        guard PostgresText.canStore(digest) else { return nil }
        let rows = try await client.query("SELECT cid FROM store.records WHERE manifest_digest = \(digest)", logger: logger)
        return try await rows.decode(String.self).first(where: { _ in true })
    }

    /// Fills `manifest_digest` for up to `limit` records stored before the registry existed; returns how many.
    public func backfillManifestDigests(limit: Int) async throws -> Int {
        let rows = try await client.query(
            """
            SELECT cid, octet_length(data), annotation_keys, annotation_values FROM store.records
            WHERE manifest_digest IS NULL LIMIT \(limit)
            """, logger: logger)
        var digests: [(String, String)] = []
        for try await (cid, size, keys, values) in rows.decode((String, Int, [String], [String]).self) {
            let manifest = OCIManifest(cid: cid, layerSize: size, annotations: Dictionary(zip(keys, values)) { $1 })
            digests.append((cid, manifest.digest))
        }
        guard !digests.isEmpty else { return 0 }
        try await client.query(
            """
            UPDATE store.records r SET manifest_digest = t.digest
            FROM unnest(\(digests.map(\.0))::text[], \(digests.map(\.1))::text[]) AS t(cid, digest) WHERE r.cid = t.cid
            """, logger: logger)
        return digests.count
    }

    /// Removes the record and its referrers; true when it existed.
    public func delete(_ cid: String) async throws -> Bool {
        guard PostgresText.canStore(cid) else { return false }
        let rows = try await client.query(
            """
            WITH deleted AS (DELETE FROM store.records WHERE cid = \(cid) RETURNING cid)
            INSERT INTO store.changes (cid, present) SELECT cid, false FROM deleted RETURNING 1
            """, logger: logger)
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
        return try await referrerBatcher.load(ReferrerKey(cid: cid, kind: kind))
    }

    struct ReferrerKey: Hashable, Sendable {
        var cid: String
        var kind: ReferrerKind
    }

    /// A mirror asks for both referrers of every record it copies: concurrent reads share one query.
    private static func fetchReferrers(_ keys: [ReferrerKey], client: PostgresClient, logger: Logger) async throws -> [ReferrerKey: Referrer] {
        let cids = Array(Set(keys.map(\.cid)))
        let rows = try await client.query("SELECT cid, kind, value, payload FROM store.referrers WHERE cid = ANY(\(cids))", logger: logger)
        var found: [ReferrerKey: Referrer] = [:]
        for try await (cid, kind, value, payload) in rows.decode((String, String, String, String).self) {
            guard let kind = ReferrerKind(rawValue: kind) else { continue }
            found[ReferrerKey(cid: cid, kind: kind)] = Referrer(value: value, payload: payload)
        }
        return found
    }
}
