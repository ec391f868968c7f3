import Foundation
import Logging
import PostgresNIO
import WharfRuntime

/// The records this node publishes and their labels, in PostgreSQL (schema `routing`). Labels are stored
/// one row each under the C collation, so an exact label and a `/skills/v/` prefix are both btree ranges.
public struct LabelIndex: Sendable {
    public static let migrations = MigrationSet(schema: "routing", migrations: [
        Migration(version: 1, name: "published records and labels", sql: [
            "CREATE SCHEMA IF NOT EXISTS routing",
            """
            CREATE TABLE routing.records (
                cid text PRIMARY KEY,
                labels text[] NOT NULL,
                published_at timestamptz NOT NULL DEFAULT now(),
                refreshed_at timestamptz NOT NULL DEFAULT now()
            )
            """,
            """
            CREATE TABLE routing.labels (
                label text COLLATE "C" NOT NULL,
                cid text NOT NULL REFERENCES routing.records (cid) ON DELETE CASCADE,
                PRIMARY KEY (label, cid)
            )
            """,
            "CREATE INDEX labels_by_cid ON routing.labels (cid)",
        ]),
    ])

    /// A record that matched a search, with the indexes (into the deduplicated queries) it matched.
    public struct Match: Sendable, Equatable {
        public var cid: String
        public var matchedQueries: [Int]
    }

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Publishes `cid` with `labels`; true when it was not published before (a republish only refreshes).
    @discardableResult
    public func publish(_ cid: String, labels: [String]) async throws -> Bool {
        let distinct = Array(Set(labels))
        return try await client.withTransaction(logger: logger) { connection in
            let rows = try await connection.query(
                """
                INSERT INTO routing.records (cid, labels) VALUES (\(cid), \(labels))
                ON CONFLICT (cid) DO UPDATE SET refreshed_at = now()
                RETURNING (xmax = 0)
                """, logger: logger)
            let inserted = try await rows.decode(Bool.self).first(where: { _ in true }) ?? false
            if inserted {
                try await connection.query(
                    "INSERT INTO routing.labels (label, cid) SELECT unnest(\(distinct)::text[]), \(cid) ON CONFLICT DO NOTHING",
                    logger: logger)
            }
            return inserted
        }
    }

    /// Stops publishing `cid`; true when it was published.
    @discardableResult
    public func unpublish(_ cid: String) async throws -> Bool {
        let rows = try await client.query("DELETE FROM routing.records WHERE cid = \(cid) RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// Marks a published record as confirmed against the store now.
    public func refresh(_ cid: String) async throws {
        try await client.query("UPDATE routing.records SET refreshed_at = now() WHERE cid = \(cid)", logger: logger)
    }

    public func isPublished(_ cid: String) async throws -> Bool {
        let rows = try await client.query("SELECT 1 FROM routing.records WHERE cid = \(cid)", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// Every published CID (start-up reconciliation, republishing).
    public func publishedCIDs() async throws -> [String] {
        let rows = try await client.query("SELECT cid FROM routing.records ORDER BY cid", logger: logger)
        return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
    }

    /// Published records with their labels (in extraction order), ordered by CID, at most `limit` (0 = all).
    public func records(limit: Int) async throws -> [(cid: String, labels: [String])] {
        let rows = try await client.query(
            "SELECT cid, labels FROM routing.records ORDER BY cid LIMIT \(limit > 0 ? limit : Int(Int32.max))", logger: logger)
        var records: [(cid: String, labels: [String])] = []
        for try await (cid, labels) in rows.decode((String, [String]).self) { records.append((cid, labels)) }
        return records
    }

    public func labels(of cids: [String]) async throws -> [String: [String]] {
        let rows = try await client.query("SELECT cid, labels FROM routing.records WHERE cid = ANY(\(cids))", logger: logger)
        var found: [String: [String]] = [:]
        for try await (cid, labels) in rows.decode((String, [String]).self) { found[cid] = labels }
        return found
    }

    /// Label counts over the published records (the legacy list's stats item).
    public func labelCounts() async throws -> [String: UInt64] {
        let rows = try await client.query("SELECT label, count(*) FROM routing.labels GROUP BY label", logger: logger)
        var counts: [String: UInt64] = [:]
        for try await (label, count) in rows.decode((String, Int64).self) { counts[label] = UInt64(count) }
        return counts
    }

    /// Records matching at least `minimumScore` of `queries` (already deduplicated), best score first, then
    /// by CID; at most `limit` (0 = no limit). UNSPECIFIED queries match every record; unknown types none.
    public func search(_ queries: [LabelQuery], minimumScore: Int, limit: Int) async throws -> [Match] {
        let everywhere = queries.indices.filter { queries[$0].kind == .unspecified }
        let labelled = queries.indices.filter { queries[$0].exactLabel != nil }
        guard minimumScore <= everywhere.count + labelled.count else { return [] }
        let sqlLimit = limit > 0 ? limit : Int(Int32.max)
        if labelled.isEmpty {
            // Only UNSPECIFIED (and unknown) queries: every record scores the same.
            guard !everywhere.isEmpty else { return [] }
            let rows = try await client.query("SELECT cid FROM routing.records ORDER BY cid LIMIT \(sqlLimit)", logger: logger)
            return try await rows.decode(String.self).reduce(into: []) { $0.append(Match(cid: $1, matchedQueries: everywhere)) }
        }
        // One range scan per labelled query; UNSPECIFIED ones add the same amount to every score.
        let exact = labelled.map { queries[$0].exactLabel ?? "" }
        let prefixes = labelled.map { queries[$0].labelPrefix ?? "" }
        let uppers = prefixes.map(Self.prefixUpperBound)
        let required = max(0, minimumScore - everywhere.count)
        let rows = try await client.query(
            """
            SELECT cid, array_agg(q ORDER BY q) FROM (
                SELECT DISTINCT q.position - 1 AS q, l.cid
                FROM unnest(\(exact)::text[], \(prefixes)::text[], \(uppers)::text[]) WITH ORDINALITY AS q(exact, prefix, upper, position)
                JOIN routing.labels l
                  ON l.label = q.exact COLLATE "C"
                  OR (q.prefix <> '' AND l.label >= q.prefix COLLATE "C" AND l.label < q.upper COLLATE "C")
            ) hits
            GROUP BY cid
            HAVING count(*) >= \(required)
            ORDER BY count(*) DESC, cid
            LIMIT \(sqlLimit)
            """, logger: logger)
        var matches: [Match] = []
        for try await (cid, indexes) in rows.decode((String, [Int]).self) {
            matches.append(Match(cid: cid, matchedQueries: (indexes.map { labelled[$0] } + everywhere).sorted()))
        }
        return matches
    }

    /// The smallest string above every string starting with `prefix` (which ends in "/", so bumping that
    /// byte to "0" is enough); "" for no prefix.
    static func prefixUpperBound(_ prefix: String) -> String {
        guard prefix.hasSuffix("/") else { return prefix.isEmpty ? "" : prefix + "\u{10FFFF}" }
        return String(prefix.dropLast()) + "0"
    }
}
