import Logging
import NIOCore
import PostgresNIO
import WharfRuntime

/// Reads and writes of many records at once, with their referrers (wharf.store.v1.RecordTransfer).
extension RecordRepository {
    /// A stored record as RecordTransfer moves it: its canonical JSON and referrers.
    public struct StoredRecord: Sendable, Equatable {
        public var canonicalJSON: ByteBuffer
        public var signature: Referrer?
        public var publicKey: Referrer?
    }

    /// The stored records among `cids`, with their referrers when asked: one query.
    public func records(_ cids: [String], referrers: Bool) async throws -> [String: StoredRecord] {
        let wanted = cids.filter { PostgresText.canStore($0) }
        guard !wanted.isEmpty else { return [:] }
        var found: [String: StoredRecord] = [:]
        if referrers {
            let rows = try await client.query(
                """
                SELECT r.cid, r.data, s.value, s.payload, k.value FROM store.records r
                LEFT JOIN store.referrers s ON s.cid = r.cid AND s.kind = 'signature'
                LEFT JOIN store.referrers k ON k.cid = r.cid AND k.kind = 'public_key'
                WHERE r.cid = ANY(\(wanted))
                """, logger: logger)
            for try await (cid, data, signature, payload, key) in rows.decode((String, ByteBuffer, String?, String?, String?).self) {
                found[cid] = StoredRecord(
                    canonicalJSON: data, signature: signature.map { Referrer(value: $0, payload: payload ?? "") },
                    publicKey: key.map { Referrer(value: $0, payload: "") })
            }
        } else {
            let rows = try await client.query("SELECT cid, data FROM store.records WHERE cid = ANY(\(wanted))", logger: logger)
            for try await (cid, data) in rows.decode((String, ByteBuffer).self) {
                found[cid] = StoredRecord(canonicalJSON: data, signature: nil, publicKey: nil)
            }
        }
        return found
    }

    /// A record to import with the referrers that come with it.
    public struct ImportedRecord: Sendable {
        public var record: PreparedRecord
        public var signature: Referrer?
        public var publicKey: Referrer?

        public init(record: PreparedRecord, signature: Referrer?, publicKey: Referrer?) {
            self.record = record
            self.signature = signature
            self.publicKey = publicKey
        }
    }

    /// Stores `records` that are not stored yet, and every given referrer (replacing one of the same kind),
    /// in one statement: a record and its referrers are committed together. Returns the CIDs it inserted.
    /// The CIDs must be distinct.
    public func importRecords(_ records: [ImportedRecord]) async throws -> Set<String> {
        guard !records.isEmpty else { return [] }
        let rows = try RecordRows(records.map(\.record))
        var referrerCIDs: [String] = [], kinds: [String] = [], values: [String] = [], payloads: [String] = []
        for imported in records {
            for (kind, referrer) in [(ReferrerKind.signature, imported.signature), (.publicKey, imported.publicKey)] {
                guard let referrer else { continue }
                referrerCIDs.append(imported.record.cid)
                kinds.append(kind.rawValue)
                values.append(referrer.value)
                payloads.append(referrer.payload)
            }
        }
        // The referrers' foreign key is checked at the end of the statement, when the records inserted by
        // the first part are there.
        let inserted = try await client.query(
            """
            WITH inserted AS (\(unescaped: RecordRows.insertStatement)
                FROM unnest(\(rows.cids)::text[], \(rows.data)::bytea[], \(rows.keyLists)::text[]::jsonb[], \(rows.valueLists)::text[]::jsonb[],
                            \(rows.versions)::text[], \(rows.createdAts)::text[], \(rows.digests)::text[]) AS r(c, d, k, v, s, t, m)
                ON CONFLICT (cid) DO NOTHING
                RETURNING cid
            ), changed AS (
                INSERT INTO store.changes (cid, present) SELECT cid, true FROM inserted RETURNING cid
            ), referred AS (
                INSERT INTO store.referrers (cid, kind, value, payload)
                SELECT c, k, v, p FROM unnest(\(referrerCIDs)::text[], \(kinds)::text[], \(values)::text[], \(payloads)::text[]) AS x(c, k, v, p)
                ON CONFLICT (cid, kind) DO UPDATE SET value = excluded.value, payload = excluded.payload, updated_at = now()
                RETURNING 1
            )
            SELECT cid FROM changed
            """, logger: logger)
        return try await inserted.decode(String.self).reduce(into: Set<String>()) { $0.insert($1) }
    }
}
