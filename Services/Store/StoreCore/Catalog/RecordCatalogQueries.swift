import Foundation
import Logging
import PostgresNIO
import WharfRuntime

/// What the store holds, counted, and its latest pushes: read by `RecordCatalogService` for the console.
struct RecordCatalogQueries: Sendable {
    struct Totals: Sendable, Equatable {
        var records: Int64
        var storedBytes: Int64
        var referrers: [String: Int64]
    }

    struct Recent: Sendable, Equatable {
        var cid: String
        var name: String
        var version: String
        var schemaVersion: String
        var pushedAt: Date
        var signed: Bool
    }

    let client: PostgresClient
    let logger: Logger

    func totals() async throws -> Totals {
        var totals = Totals(records: 0, storedBytes: 0, referrers: [:])
        // pg_column_size reads the stored (compressed) size without decompressing the record.
        let counts = try await client.query(
            "SELECT count(*), coalesce(sum(pg_column_size(data)), 0)::bigint FROM store.records", logger: logger)
        for try await (records, bytes) in counts.decode((Int64, Int64).self) {
            totals.records = records
            totals.storedBytes = bytes
        }
        let kinds = try await client.query("SELECT kind, count(*) FROM store.referrers GROUP BY kind", logger: logger)
        for try await (kind, count) in kinds.decode((String, Int64).self) { totals.referrers[kind] = count }
        return totals
    }

    /// The newest `limit` pushes. Names and versions come from the record's JSON, which the store validated
    /// as canonical JSON when it was pushed.
    func recent(limit: Int) async throws -> [Recent] {
        let rows = try await client.query(
            """
            SELECT r.cid,
                   coalesce(convert_from(r.data, 'UTF8')::jsonb ->> 'name', ''),
                   coalesce(convert_from(r.data, 'UTF8')::jsonb ->> 'version', ''),
                   r.schema_version, r.pushed_at,
                   EXISTS (SELECT 1 FROM store.referrers f WHERE f.cid = r.cid AND f.kind = 'signature')
            FROM (SELECT cid, data, schema_version, pushed_at FROM store.records ORDER BY pushed_at DESC, cid LIMIT \(limit)) r
            ORDER BY r.pushed_at DESC, r.cid
            """, logger: logger)
        var recent: [Recent] = []
        for try await (cid, name, version, schema, pushed, signed) in rows.decode((String, String, String, String, Date, Bool).self) {
            recent.append(Recent(cid: cid, name: name, version: version, schemaVersion: schema, pushedAt: pushed, signed: signed))
        }
        return recent
    }
}

extension RecordCatalogQueries {
    /// The latest pushes are found by an index, not by sorting every record.
    static let pushedAtIndexMigration = Migration(
        version: 5, name: "records by push time",
        sql: ["CREATE INDEX records_pushed_at ON store.records (pushed_at DESC, cid)"])
}
