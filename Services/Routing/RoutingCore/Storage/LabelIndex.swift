import Foundation
import Logging
import PostgresNIO
import WharfRuntime

/// The records this node publishes, with their labels and match keys (`RecordLabels.matchKeys`), in
/// PostgreSQL (schema `routing`). A GIN index over the match keys turns every query into posting-list
/// operations: AND is `@>`, "any of" is `&&`, so a search never aggregates all the records a popular label
/// matches (see `search`).
public struct LabelIndex: Sendable {
    public static let migrations = MigrationSet(
        schema: "routing",
        migrations: [
            Migration(
                version: 1, name: "published records with labels and match keys",
                sql: [
                    "CREATE SCHEMA IF NOT EXISTS routing",
                    """
                    CREATE TABLE routing.records (
                        cid text PRIMARY KEY,
                        labels text[] NOT NULL,
                        match_keys text[] NOT NULL,
                        published_at timestamptz NOT NULL DEFAULT now(),
                        refreshed_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    "CREATE INDEX records_by_match_key ON routing.records USING gin (match_keys)",
                ]),
            Migration(
                version: 2, name: "records announced by peers",
                sql: [
                    """
                    CREATE TABLE routing.remote (
                        peer_id text NOT NULL,
                        cid text NOT NULL,
                        labels text[] NOT NULL,
                        match_keys text[] NOT NULL,
                        addrs text[] NOT NULL,
                        last_seen timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (peer_id, cid)
                    )
                    """,
                    "CREATE INDEX remote_by_match_key ON routing.remote USING gin (match_keys)",
                    "CREATE INDEX remote_by_last_seen ON routing.remote (last_seen)",
                ]),
            Migration(
                version: 3, name: "the inserting transaction of each record, for replicas' resident indexes",
                sql: [
                    // pg_current_xact_id() is an xid8 (a 64-bit, never wrapping id); as bigint it compares with
                    // pg_snapshot_xmin, which tells which transactions a replica has surely seen (ResidentKeyIndex).
                    "ALTER TABLE routing.records ADD COLUMN inserted_by bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint",
                    "CREATE INDEX records_by_inserting_transaction ON routing.records (inserted_by)",
                ]),
        ])

    /// Which records a search reads: this node's, or those its peers announced.
    public enum Source: Sendable, Equatable {
        case local, remote

        var selectList: String {
            switch self {
            case .local: "cid, match_keys, ''::text, '{}'::text[] FROM routing.records"
            case .remote: "cid, match_keys, peer_id, addrs FROM routing.remote"
            }
        }

        /// The same over only the first `rows` rows of the table in storage order (a bounded sequential scan).
        func probeSelectList(rows: Int) -> String {
            switch self {
            case .local: "cid, match_keys, ''::text, '{}'::text[] FROM (SELECT cid, match_keys FROM routing.records LIMIT \(rows)) probe"
            case .remote: "cid, match_keys, peer_id, addrs FROM (SELECT cid, match_keys, peer_id, addrs FROM routing.remote LIMIT \(rows)) probe"
            }
        }
    }

    /// A record that matched a search, with the indexes (into the deduplicated queries) it matched.
    public struct Match: Sendable, Equatable {
        public var cid: String
        public var matchedQueries: [Int]
        /// The announcing peer (remote matches); empty for this node's records.
        public var peerID: String
        public var peerAddrs: [String]

        public init(cid: String, matchedQueries: [Int], peerID: String = "", peerAddrs: [String] = []) {
            self.cid = cid
            self.matchedQueries = matchedQueries
            self.peerID = peerID
            self.peerAddrs = peerAddrs
        }
    }

    /// Searches with more labelled queries than this score candidates in memory instead of level by level.
    static let maximumLevelQueries = 6

    let client: PostgresClient
    let logger: Logger
    private let statistics: KeyStatistics
    /// This replica's in-memory copy of the match keys (nil when disabled); see `LabelIndex+Resident`.
    let resident: ResidentKeyIndex?

    /// `residentIndex`: keep the match keys in memory too and search there once loaded (`loadResident`).
    public init(client: PostgresClient, logger: Logger, residentIndex: Bool = false) {
        self.client = client
        self.logger = logger
        statistics = KeyStatistics(client: client, logger: logger)
        resident = residentIndex ? ResidentKeyIndex() : nil
    }

    /// Publishes `cid` with `labels`; true when it was not published before (a republish only refreshes).
    @discardableResult
    public func publish(_ cid: String, labels: [String]) async throws -> Bool {
        let keys = RecordLabels.matchKeys(labels).sorted()
        let rows = try await client.query(
            """
            INSERT INTO routing.records (cid, labels, match_keys) VALUES (\(cid), \(labels), \(keys))
            ON CONFLICT (cid) DO UPDATE SET refreshed_at = now()
            RETURNING (xmax = 0)
            """, logger: logger)
        let inserted = try await rows.decode(Bool.self).first(where: { _ in true }) ?? false
        resident?.insert([(cid, keys)])
        return inserted
    }

    /// Publishes many records in one statement; returns the CIDs that were not published before. A CID
    /// given twice is published once, with its first labels. The labels travel as JSON arrays because
    /// PostgreSQL arrays of arrays must be rectangular.
    public func publish(_ records: [(cid: String, labels: [String])]) async throws -> Set<String> {
        var seen = Set<String>()
        let unique = records.filter { seen.insert($0.cid).inserted }
        guard !unique.isEmpty else { return [] }
        let keys = unique.map { RecordLabels.matchKeys($0.labels).sorted() }
        let encoder = JSONEncoder()
        let labelLists = try unique.map { String(decoding: try encoder.encode($0.labels), as: UTF8.self) }
        let keyLists = try keys.map { String(decoding: try encoder.encode($0), as: UTF8.self) }
        let cids = unique.map(\.cid)
        let rows = try await client.query(
            """
            INSERT INTO routing.records (cid, labels, match_keys)
            SELECT c,
                   ARRAY(SELECT e FROM jsonb_array_elements_text(l) WITH ORDINALITY AS x(e, n) ORDER BY n),
                   ARRAY(SELECT e FROM jsonb_array_elements_text(k) WITH ORDINALITY AS x(e, n) ORDER BY n)
            FROM unnest(\(cids)::text[], \(labelLists)::text[]::jsonb[], \(keyLists)::text[]::jsonb[]) AS t(c, l, k)
            ON CONFLICT (cid) DO UPDATE SET refreshed_at = now()
            RETURNING cid, (xmax = 0)
            """, logger: logger)
        var inserted = Set<String>()
        for try await (cid, new) in rows.decode((String, Bool).self) where new { inserted.insert(cid) }
        resident?.insert(zip(cids, keys).map { (cid: $0, keys: $1) })
        return inserted
    }

    /// Stops publishing `cid`; true when it was published.
    @discardableResult
    public func unpublish(_ cid: String) async throws -> Bool {
        guard PostgresText.canStore(cid) else { return false }  // never published
        let rows = try await client.query("DELETE FROM routing.records WHERE cid = \(cid) RETURNING 1", logger: logger)
        let removed = try await rows.decode(Int.self).first(where: { _ in true }) != nil
        resident?.remove([cid])
        return removed
    }

    /// Marks a published record as confirmed against the store now.
    public func refresh(_ cid: String) async throws {
        try await client.query("UPDATE routing.records SET refreshed_at = now() WHERE cid = \(cid)", logger: logger)
    }

    /// Stores what `peerID` announced: provided records (refreshing `last_seen`) and withdrawn ones.
    /// Returns how many rows changed.
    public func applyAnnouncement(
        peerID: String, addrs: [String], provided: [(cid: String, labels: [String])],
        withdrawn: [String]
    ) async throws -> Int {
        let cids = provided.map(\.cid)
        let labelLists = provided.map { $0.labels.joined(separator: "\u{1F}") }
        let keyLists = provided.map { RecordLabels.matchKeys($0.labels).sorted().joined(separator: "\u{1F}") }
        return try await client.withTransaction(logger: logger) { connection in
            var applied = 0
            if !provided.isEmpty {
                let rows = try await connection.query(
                    """
                    INSERT INTO routing.remote (peer_id, cid, labels, match_keys, addrs)
                    SELECT \(peerID), c, string_to_array(l, chr(31)), string_to_array(k, chr(31)), \(addrs)
                    FROM unnest(\(cids)::text[], \(labelLists)::text[], \(keyLists)::text[]) AS t(c, l, k)
                    ON CONFLICT (peer_id, cid) DO UPDATE
                    SET labels = excluded.labels, match_keys = excluded.match_keys, addrs = excluded.addrs, last_seen = now()
                    RETURNING 1
                    """, logger: logger)
                applied += try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
            }
            if !withdrawn.isEmpty {
                let rows = try await connection.query(
                    "DELETE FROM routing.remote WHERE peer_id = \(peerID) AND cid = ANY(\(withdrawn)) RETURNING 1", logger: logger)
                applied += try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
            }
            return applied
        }
    }

    /// Forgets announcements not refreshed within `age`; returns how many.
    public func expireRemote(olderThan age: Duration) async throws -> Int {
        let seconds = Double(age.components.seconds) + Double(age.components.attoseconds) / 1e18
        let rows = try await client.query(
            "DELETE FROM routing.remote WHERE last_seen < now() - \(seconds) * interval '1 second' RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
    }

    /// This node's published records with their labels, in CID order after `after`, at most `limit`
    /// (paging through the whole set for announcements).
    public func publishedPage(after: String, limit: Int) async throws -> [(cid: String, labels: [String])] {
        let rows = try await client.query(
            "SELECT cid, labels FROM routing.records WHERE cid > \(after) ORDER BY cid LIMIT \(limit)", logger: logger)
        var page: [(cid: String, labels: [String])] = []
        for try await (cid, labels) in rows.decode((String, [String]).self) { page.append((cid, labels)) }
        return page
    }

    /// Every published CID (republishing).
    public func publishedCIDs() async throws -> [String] {
        let rows = try await client.query("SELECT cid FROM routing.records ORDER BY cid", logger: logger)
        return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
    }

    /// Published records carrying every key in `keys` (none = all), with their labels; at most `limit`
    /// (0 = all), sorted by CID among those fetched.
    public func records(havingAll keys: [String] = [], limit: Int) async throws -> [(cid: String, labels: [String])] {
        let rows = try await client.query(
            "SELECT cid, labels FROM routing.records WHERE match_keys @> \(keys)::text[] LIMIT \(limit > 0 ? limit : Int(Int32.max))",
            logger: logger)
        var records: [(cid: String, labels: [String])] = []
        for try await (cid, labels) in rows.decode((String, [String]).self) { records.append((cid, labels)) }
        return records.sorted { $0.cid < $1.cid }
    }

    public func labels(of cids: [String]) async throws -> [String: [String]] {
        let cids = cids.filter { PostgresText.canStore($0) }
        let rows = try await client.query("SELECT cid, labels FROM routing.records WHERE cid = ANY(\(cids))", logger: logger)
        var found: [String: [String]] = [:]
        for try await (cid, labels) in rows.decode((String, [String]).self) { found[cid] = labels }
        return found
    }

    /// Label counts over the published records (the legacy list's stats item).
    /// At most `maximum` labels, the most used first.
    public func labelCounts(atMost maximum: Int = 10_000) async throws -> [String: UInt64] {
        let rows = try await client.query(
            """
            SELECT label, count(*) FROM routing.records, unnest(labels) AS label GROUP BY label
            ORDER BY count(*) DESC, label LIMIT \(maximum)
            """, logger: logger)
        var counts: [String: UInt64] = [:]
        for try await (label, count) in rows.decode((String, Int64).self) { counts[label] = UInt64(count) }
        return counts
    }

    /// Records matching at least `minimumScore` of `queries` (already deduplicated), best score first (by CID
    /// within a score among those fetched); at most `limit` (0 = no limit). UNSPECIFIED queries match every
    /// record, unknown types none.
    ///
    /// Score levels are fetched from the top: score m is `match_keys @> {all m keys}`, score t is an OR of
    /// `@>` over the t-subsets minus score t+1, and the fetch stops once `limit` records are out. A search
    /// thus touches posting-list intersections and `limit` rows, not every record a broad query matches.
    public func search(_ queries: [LabelQuery], minimumScore: Int, limit: Int, in source: Source = .local) async throws -> [Match] {
        let everywhere = queries.indices.filter { queries[$0].kind == .unspecified }
        let labelled = queries.indices.filter { queries[$0].matchKey != nil }
        let keys = labelled.map { queries[$0].matchKey ?? "" }
        let required = max(0, minimumScore - everywhere.count)
        guard required <= keys.count, !(keys.isEmpty && everywhere.isEmpty) else { return [] }
        if source == .local, everywhere.isEmpty, required >= 1, (1...ResidentKeyIndex.maximumPage).contains(limit),
            Set(keys).count == keys.count,
            let found = try await searchResident(
                queries: queries, labelled: labelled, keys: keys,
                minimumScore: minimumScore, limit: limit)
        {
            return found
        }

        func match(_ row: Row) -> Match { Self.match(row, queries: queries, labelled: labelled, everywhere: everywhere) }

        if keys.count > Self.maximumLevelQueries {
            // Many queries: score every candidate in memory (rare; clients send a handful).
            let candidates = try await fetch(
                source, condition: required == 0 ? "true" : "match_keys && $1::text[]", keys: keys,
                limit: 0, conjunction: false)
            let scored = candidates.map(match).filter { $0.matchedQueries.count >= minimumScore }
            let ordered = scored.sorted { ($0.matchedQueries.count, $1.cid) > ($1.matchedQueries.count, $0.cid) }
            return limit > 0 ? Array(ordered.prefix(limit)) : ordered
        }

        let frequencies = source == .local ? await statistics.frequencies() : [:]
        var results: [Match] = []
        for level in stride(from: keys.count, through: required, by: -1) {
            let remaining = limit > 0 ? limit - results.count : 0
            if limit > 0 && remaining <= 0 { break }
            var condition = "(\(Self.atLeast(level, of: keys.count)))"
            if level < keys.count { condition += " AND NOT (\(Self.atLeast(level + 1, of: keys.count)))" }
            let density = level >= 2 ? Self.expectedDensity(level: level, keys: keys, frequencies: frequencies) : nil
            let rows = try await fetch(
                source, condition: condition, keys: keys, limit: remaining, conjunction: level >= 2,
                expectedDensity: density)
            results += rows.map(match).sorted { ($0.cid, $0.peerID) < ($1.cid, $1.peerID) }
        }
        return results
    }

    /// Rows meeting `condition` ($1 = `keys`). A `conjunction` (several keys required together) always goes
    /// through the GIN index: with a LIMIT the planner prefers a sequential scan whenever it expects enough
    /// matches, and when keys are rarer together than it assumes (two unrelated skills), that scan reads the
    /// whole table to find fewer rows than the limit (300 ms at a million records, ~5 ms through the index).
    /// Single keys keep the planner's choice: its per-key statistics are accurate, and a sequential scan
    /// stops after `limit` rows of a common key sooner than the index builds its bitmap.
    struct Row {
        var cid: String
        var keys: [String]
        var peerID: String
        var addrs: [String]
    }

    /// `row` as a match of `queries`: the labelled ones whose key it holds, and the ones matching everything.
    static func match(_ row: Row, queries: [LabelQuery], labelled: [Int], everywhere: [Int]) -> Match {
        let held = Set(row.keys)
        let matched = labelled.filter { held.contains(queries[$0].matchKey ?? "") } + everywhere
        return Match(cid: row.cid, matchedQueries: matched.sorted(), peerID: row.peerID, peerAddrs: row.addrs)
    }

    private func fetch(
        _ source: Source, condition: String, keys: [String], limit: Int, conjunction: Bool,
        expectedDensity: Double? = nil
    ) async throws -> [Row] {
        var bindings = PostgresBindings()
        bindings.append(keys)
        let query = PostgresQuery(
            unsafeSQL: "SELECT \(source.selectList) WHERE \(condition) LIMIT \(Self.sqlLimit(limit))",
            binds: bindings)
        func decode(_ rows: PostgresRowSequence) async throws -> [Row] {
            var found: [Row] = []
            for try await (cid, recordKeys, peerID, addrs) in rows.decode((String, [String], String, [String]).self) {
                found.append(Row(cid: cid, keys: recordKeys, peerID: peerID, addrs: addrs))
            }
            return found
        }
        guard conjunction else { return try await decode(try await client.query(query, logger: logger)) }
        // Keys common together (by the statistics, assuming independence) are looked for in a bounded
        // sequential probe sized to find the page twice over; if they are rarer together than that
        // (correlation the statistics cannot see), the probe comes back short and GIN answers.
        if limit > 0, let density = expectedDensity, density > 0 {
            // In Double until compared: a tiny density gives a row count no integer holds.
            let probeRowsEstimate = (2 * Double(limit) / density).rounded(.up)
            if probeRowsEstimate <= Double(Self.maximumProbeRows) {
                let probeRows = Int(probeRowsEstimate)
                let probe = PostgresQuery(
                    unsafeSQL: "SELECT \(source.probeSelectList(rows: probeRows)) WHERE \(condition) LIMIT \(limit)",
                    binds: bindings)
                let found = try await decode(try await client.query(probe, logger: logger))
                if found.count == limit { return found }
            }
        }
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query("SET LOCAL enable_seqscan = off", logger: logger)
            return try await decode(try await connection.query(query, logger: logger))
        }
    }

    /// Rows a conjunction's sequential probe may read before the GIN index is used instead (~5 ms).
    static let maximumProbeRows = 40_000

    /// The expected fraction of records holding at least `level` of `keys`, from per-key frequencies under
    /// independence; nil when a key is not among the common ones (then GIN is the right plan anyway).
    static func expectedDensity(level: Int, keys: [String], frequencies: [String: Double]) -> Double? {
        let known = keys.compactMap { frequencies[$0] }
        guard known.count == keys.count else { return nil }
        return subsets(of: Array(known.indices), size: level).reduce(0) { total, subset in
            total + subset.reduce(1) { $0 * known[$1] }
        }
    }

    /// SQL true for records holding at least `level` of the `count` keys bound as $1 (subscripts 1-based).
    static func atLeast(_ level: Int, of count: Int) -> String {
        if level <= 0 { return "true" }
        if level == 1 { return "match_keys && $1::text[]" }
        if level == count { return "match_keys @> $1::text[]" }
        return subsets(of: Array(1...count), size: level).map { subset in
            "match_keys @> ARRAY[" + subset.map { "($1::text[])[\($0)]" }.joined(separator: ", ") + "]"
        }.joined(separator: " OR ")
    }

    static func subsets(of items: [Int], size: Int) -> [[Int]] {
        guard size > 0 else { return [[]] }
        guard items.count >= size, let first = items.first else { return [] }
        let rest = Array(items.dropFirst())
        return subsets(of: rest, size: size - 1).map { [first] + $0 } + subsets(of: rest, size: size)
    }

    static func sqlLimit(_ limit: Int) -> String { limit > 0 ? String(limit) : "ALL" }
}
