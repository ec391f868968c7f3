import Logging
import PostgresNIO

/// Searching this node's records in the replica's `ResidentKeyIndex` rather than through GIN, with
/// PostgreSQL still deciding what exists: the index is caught up before each search and what it picks is
/// read back from the table.
extension LabelIndex {
    /// Loads the resident index from `routing.records`; returns how many records it holds (nil without a
    /// resident index). Until it returns, searches go to PostgreSQL.
    @discardableResult
    public func loadResident() async throws -> Int? {
        guard let resident else { return nil }
        resident.reset()
        // The horizon first: every transaction below it has ended, so the scan sees all of their rows; rows of
        // the transactions at or above it are read again by the first catch-up.
        let horizon = try await catchUpRows(since: Int64.max).horizon
        let rows = try await client.query("SELECT cid, match_keys FROM routing.records", logger: logger)
        var batch: [(cid: String, keys: [String])] = []
        batch.reserveCapacity(Self.loadBatch)
        for try await (cid, keys) in rows.decode((String, [String]).self) {
            batch.append((cid, keys))
            if batch.count == Self.loadBatch {
                resident.insert(batch)
                batch.removeAll(keepingCapacity: true)
            }
        }
        resident.insert(batch, horizon: horizon)
        return resident.count
    }

    /// Adds the records committed since the last catch-up (or load) to the resident index.
    public func catchUpResident() async throws {
        guard let resident, let since = resident.horizon else { return }
        let (horizon, records) = try await catchUpRows(since: since)
        resident.insert(records, horizon: horizon)
    }

    static let loadBatch = 10_000

    /// Records in the resident index (nil without one; 0 until loaded).
    public var residentCount: Int? { resident?.count }

    /// The rows inserted by transactions with ids from `since`, and the new horizon: the oldest transaction
    /// still running when this statement's snapshot was taken (all below it have committed or aborted).
    private func catchUpRows(since: Int64) async throws -> (horizon: Int64, records: [(cid: String, keys: [String])]) {
        let rows = try await client.query(
            """
            SELECT h.horizon, r.cid, r.match_keys
            FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS horizon) h
            LEFT JOIN routing.records r ON r.inserted_by >= \(since)
            """, logger: logger)
        var horizon: Int64?
        var records: [(cid: String, keys: [String])] = []
        for try await (current, cid, keys) in rows.decode((Int64, String?, [String]?).self) {
            horizon = current
            if let cid, let keys { records.append((cid, keys)) }
        }
        // The subquery always gives a row; without one nothing is known of what was committed.
        guard let horizon else { throw RoutingError.storage(operation: "read the transaction horizon") }
        return (horizon, records)
    }

    /// `searchLevels`'s answer from the resident index, or nil when it cannot give one (not loaded yet, or
    /// the records it picks keep disappearing): then PostgreSQL answers.
    func searchResident(queries: [LabelQuery], labelled: [Int], keys: [String], minimumScore: Int, limit: Int) async throws -> [Match]? {
        guard let resident, resident.isLoaded else { return nil }
        try await catchUpResident()
        for _ in 0..<3 {
            guard let candidates = resident.candidates(keys: keys, required: minimumScore, limit: limit) else { return nil }
            let picked = candidates.map(\.cid)
            guard !picked.isEmpty else { return [] }
            let rows = try await client.query(
                "SELECT cid, match_keys FROM routing.records WHERE cid = ANY(\(picked))", logger: logger)
            var found: [Match] = []
            for try await (cid, recordKeys) in rows.decode((String, [String]).self) {
                let row = Row(cid: cid, keys: recordKeys, peerID: "", addrs: [])
                found.append(Self.match(row, queries: queries, labelled: labelled, everywhere: []))
            }
            guard found.count == picked.count else {
                // Unpublished on another replica since it was loaded: forget those and pick again.
                let present = Set(found.map(\.cid))
                resident.remove(picked.filter { !present.contains($0) })
                continue
            }
            return found.filter { $0.matchedQueries.count >= minimumScore }
                .sorted { ($0.matchedQueries.count, $1.cid) > ($1.matchedQueries.count, $0.cid) }
        }
        logger.debug("resident index kept picking unpublished records; searching PostgreSQL")
        return nil
    }
}
