import CoreMetrics
import Foundation
import Logging
import NegentropyProtocol
import PostgresNIO
import Synchronization
import WharfRuntime

/// This replica's resident reconciliation sets: every stored event's (created_at, id), and those of each filter
/// the operator configured, loaded once at start and kept current — this replica's commits at once, every
/// replica's from the change feed (`negentropy.changes`) a moment later. A NEG-OPEN whose filter is an indexed
/// one (plus a time range or a limit) reconciles against an immutable snapshot shared by every session and reads
/// nothing from PostgreSQL.
///
/// The feed is followed by sequence number. A number allocated by a transaction that has not committed yet
/// shows as a gap, read again (by number) until it fills or until every transaction that could fill it has
/// ended: a gap remembers the transactions running under the snapshot that found it (the one holding the number
/// is among them: every writer of the feed writes its event row first, so it has an id before it takes a
/// number), and is given up once none of them runs and a read since shows no row — a rolled-back insert. A gap
/// held longer than `gapLifetime` (a transaction open that long) is given up with a reload, which reads whatever
/// it held; `gapsGivenUpByAge` counts those. The whole set is also reloaded every `reloadInterval`, and after the
/// feed could not be read for longer than the feed is kept.
public final class ResidentIndexes: Sendable {
    public struct Settings: Sendable {
        /// Filters indexed besides every event.
        public var definitions: [IndexDefinition] = []
        public var followInterval: Duration = .milliseconds(200)
        public var gapLifetime: Duration = .seconds(600)
        public var reloadInterval: Duration = .seconds(6 * 3600)
        /// Change-feed rows older than this are deleted (by every replica, harmlessly often).
        public var feedRetention: Duration = .seconds(3600)
        public init() {}
    }

    /// Index 0 is every event.
    public let definitions: [IndexDefinition]
    private let settings: Settings
    private let client: PostgresClient
    private let logger: Logger
    private let itemGauges: [Gauge]?

    private struct State {
        var indexes: [ItemIndex]
        /// Each index's snapshot, taken when a session first asks after a change (ingest changes the indexes far
        /// more often than sessions open).
        var snapshots: [ItemIndexSnapshot?]
        var loaded = false
        /// The highest change sequence number applied; numbers below it in `gaps` are not applied yet.
        var watermark: Int64 = 0
        var gaps: [Int64: Gap] = [:]
        var reloadWanted = false
        var gapsGivenUpByAge = 0
    }

    /// A change-feed number not visible yet: when it was first seen missing, and the transactions running under
    /// the snapshot that found it (the one that took the number is one of them).
    private struct Gap {
        var seenAt: ContinuousClock.Instant
        var running: [Int64]
    }

    /// The transactions of one snapshot: the oldest still running (`xmin`) and those running below `xmax`.
    private struct RunningTransactions: Sendable {
        var xmin: Int64
        var running: Set<Int64>

        /// Whether every one of `transactions` had ended when this snapshot was taken.
        func haveEnded(_ transactions: [Int64]) -> Bool {
            transactions.allSatisfy { $0 < xmin || !running.contains($0) }
        }
    }

    private let state: Mutex<State>
    static let feedPage = 10_000
    static let maximumGaps = 50_000
    /// Gaps asked for by number in one read of the feed (the oldest first).
    static let gapsPerRead = 1000

    public init(settings: Settings, client: PostgresClient, commits: CommitListeners, logger: Logger, metrics: (any MetricsFactory)? = nil) {
        var definitions = [IndexDefinition.everything]
        for definition in settings.definitions where !definitions.contains(definition) { definitions.append(definition) }
        self.definitions = definitions
        self.settings = settings
        self.client = client
        self.logger = logger
        state = Mutex(State(indexes: definitions.map { _ in ItemIndex() }, snapshots: definitions.map { _ in nil }))
        itemGauges = metrics.map { factory in
            definitions.indices.map { Gauge(label: "wharf_negentropy_index_items", dimensions: [("index", String($0))], factory: factory) }
        }
        commits.add { [weak self] changes in self?.apply(changes) }
    }

    /// Whether the sets are loaded (until then every NEG-OPEN reads PostgreSQL, as without an index).
    public var isLoaded: Bool { state.withLock { $0.loaded } }

    /// The highest change-feed number applied (changes below it may still be gaps).
    public var feedWatermark: Int64 { state.withLock { $0.watermark } }

    /// Change-feed numbers below the watermark not seen yet (transactions still open, or rolled back).
    public var feedGapCount: Int { state.withLock { $0.gaps.count } }

    /// Gaps given up because they stayed open longer than `gapLifetime` (each followed by a reload).
    public var gapsGivenUpByAge: Int { state.withLock { $0.gapsGivenUpByAge } }

    /// Items in each index, in `definitions` order.
    public var counts: [Int] { state.withLock { $0.indexes.map(\.count) } }

    /// The set a NEG-OPEN with `filter` reconciles against, from memory: an index's snapshot windowed to the
    /// filter's time range and limit; nil when no index answers the filter or the indexes are still loading.
    public func snapshot(for filter: NostrFilter) -> ItemIndexSnapshot? {
        guard let position = definitions.firstIndex(where: { $0.answers(filter) }) else { return nil }
        let snapshot = state.withLock { state -> ItemIndexSnapshot? in
            guard state.loaded else { return nil }
            if let taken = state.snapshots[position] { return taken }
            let taken = state.indexes[position].snapshot
            state.snapshots[position] = taken
            return taken
        }
        guard let snapshot else { return nil }
        return snapshot.window(
            since: UInt64(clamping: filter.since ?? 0), until: filter.until.map { UInt64(clamping: $0) } ?? .max, limit: filter.limit)
    }

    /// Loads the sets, then follows the feed until cancelled.
    public func run() async {
        while !Task.isCancelled {
            do {
                try await load()
                break
            } catch {
                logger.warning("resident negentropy index not loaded; retrying", metadata: ["error": "\(String(reflecting: error))"])
                try? await Task.sleep(for: .seconds(2))
            }
        }
        let clock = ContinuousClock()
        var loadedAt = clock.now, followedAt = clock.now, prunedAt = clock.now
        while !Task.isCancelled {
            try? await Task.sleep(for: settings.followInterval)
            do {
                while try await follow() == Self.feedPage {}  // a backlog is read at once, page after page
                followedAt = clock.now
                if clock.now - prunedAt > .seconds(60) {
                    try await prune()
                    prunedAt = clock.now
                }
                let wanted = state.withLock { $0.reloadWanted }
                if wanted || clock.now - loadedAt > settings.reloadInterval {
                    try await load()
                    loadedAt = clock.now
                }
            } catch  where !Task.isCancelled {
                logger.warning("negentropy change feed not read", metadata: ["error": "\(String(reflecting: error))"])
                // Rows may be pruned before this replica reads them again: then only a reload is complete.
                if clock.now - followedAt > settings.feedRetention / 2 { state.withLock { $0.reloadWanted = true } }
            } catch {
                return
            }
        }
    }

    // MARK: loading

    private struct Loaded: Sendable {
        var items: [[NegentropyItem]]
        var watermark: Int64
        var gaps: [Int64]
        var running: [Int64]
    }

    private func load() async throws {
        let started = ContinuousClock.now
        let definitions = self.definitions
        let withFields = definitions.contains(where: \.needsFields)
        let loaded = try await client.withTransaction(logger: logger) { [logger] connection -> Loaded in
            // One snapshot for the set and the feed position: a change after it is in the feed, above it.
            try await connection.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY", logger: logger)
            var watermark: Int64 = 0
            let running = try await Self.runningTransactions(on: connection, logger: logger).running
            for try await seq in try await connection.query("SELECT coalesce(max(seq), 0) FROM negentropy.changes", logger: logger)
                .decode(Int64.self)
            {
                watermark = seq
            }
            // Numbers below the watermark not visible yet belong to transactions still open: gaps to read again.
            var visible = Set<Int64>()
            let floor = max(0, watermark - Int64(Self.maximumGaps))
            for try await seq in try await connection.query(
                "SELECT seq FROM negentropy.changes WHERE seq > \(floor)", logger: logger
            ).decode(Int64.self) {
                visible.insert(seq)
            }
            let gaps = watermark > floor ? ((floor + 1)...watermark).filter { !visible.contains($0) } : []
            var items = definitions.map { _ in [NegentropyItem]() }
            if withFields {
                let rows = try await connection.query(
                    "SELECT created_at, id, pubkey, kind, tag_keys FROM negentropy.events ORDER BY created_at, id", logger: logger)
                for try await (createdAt, id, pubkey, kind, tagKeys) in rows.decode((Int64, ByteBuffer, ByteBuffer, Int, [String]).self) {
                    guard let eventID = EventID(bytes: id.readableBytesView) else { continue }
                    let item = NegentropyItem(timestamp: UInt64(clamping: createdAt), id: eventID)
                    let author = Data(buffer: pubkey)
                    for (position, definition) in definitions.enumerated()
                    where definition.contains(pubkey: author, kind: kind, tagKeys: tagKeys) {
                        items[position].append(item)
                    }
                }
            } else {
                let rows = try await connection.query("SELECT created_at, id FROM negentropy.events ORDER BY created_at, id", logger: logger)
                for try await (createdAt, id) in rows.decode((Int64, ByteBuffer).self) {
                    guard let eventID = EventID(bytes: id.readableBytesView) else { continue }
                    items[0].append(NegentropyItem(timestamp: UInt64(clamping: createdAt), id: eventID))
                }
            }
            return Loaded(items: items, watermark: watermark, gaps: gaps, running: Array(running))
        }
        let indexes = try loaded.items.map { try ItemIndex(sorted: $0) }
        let now = ContinuousClock.now
        let counts = state.withLock { state -> [Int] in
            state.indexes = indexes
            state.snapshots = indexes.map { _ in nil }
            state.watermark = loaded.watermark
            state.gaps = Dictionary(loaded.gaps.map { ($0, Gap(seenAt: now, running: loaded.running)) }) { first, _ in first }
            state.loaded = true
            state.reloadWanted = false
            return indexes.map(\.count)
        }
        publish(counts)
        logger.info(
            "resident negentropy index loaded",
            metadata: [
                "events": "\(counts[0])", "indexes": "\(definitions.map(\.description))",
                "milliseconds": "\((ContinuousClock.now - started).clampedMilliseconds)",
            ])
    }

    // MARK: following

    /// Reads and applies one page of the feed from the oldest gap (or the watermark); returns the rows read.
    private func follow() async throws -> Int {
        // New rows above the watermark, and the oldest gaps by number (not the whole range above them again); each
        // half on the primary key (an OR of the two made PostgreSQL scan the whole feed, every 200 ms).
        let (watermark, asked) = state.withLock { state in (state.watermark, Array(state.gaps.keys.sorted().prefix(Self.gapsPerRead))) }
        // The page and the running transactions in one statement, so under one snapshot: a transaction that took
        // a number missing here is running under it, and one that ended before it would be seen.
        let rows = try await client.query(
            """
            WITH snapshot AS (SELECT pg_current_snapshot() AS s),
            bounds AS (
                SELECT pg_snapshot_xmin(s)::text::bigint AS xmin,
                       ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x) AS running FROM snapshot),
            numbers AS (
                (SELECT seq FROM negentropy.changes WHERE seq = ANY(\(asked)))
                UNION ALL
                (SELECT seq FROM negentropy.changes WHERE seq > \(watermark) ORDER BY seq LIMIT \(Self.feedPage))),
            page AS (
                SELECT c.seq, c.id, c.created_at, c.present, e.pubkey, e.kind, e.tag_keys
                FROM numbers n JOIN negentropy.changes c ON c.seq = n.seq
                LEFT JOIN negentropy.events e ON c.present AND e.id = c.id)
            SELECT b.xmin, b.running, p.seq, p.id, p.created_at, p.present, p.pubkey, p.kind, p.tag_keys
            FROM bounds b LEFT JOIN page p ON true ORDER BY p.seq
            """, logger: logger)
        var read: [(seq: Int64, change: EventChange?)] = []
        var transactions = RunningTransactions(xmin: 0, running: [])
        for try await (xmin, running, seq, id, createdAt, present, pubkey, kind, tagKeys) in rows.decode(
            (Int64, [Int64], Int64?, ByteBuffer?, Int64?, Bool?, ByteBuffer?, Int?, [String]?).self)
        {
            if transactions.xmin == 0 { transactions = RunningTransactions(xmin: xmin, running: Set(running)) }
            guard let seq, let id, let createdAt, let present else { continue }  // an empty page: the bounds alone
            guard let eventID = EventID(bytes: id.readableBytesView) else {
                read.append((seq, nil))
                continue
            }
            let item = NegentropyItem(timestamp: UInt64(clamping: createdAt), id: eventID)
            if !present {
                read.append((seq, EventChange(item: item, fields: nil)))
            } else if let pubkey, let kind {
                read.append((seq, EventChange(item: item, fields: .init(pubkey: Data(buffer: pubkey), kind: kind, tagKeys: tagKeys ?? []))))
            } else {
                read.append((seq, nil))  // stored, then removed since: the removal's own row follows
            }
        }
        let now = ContinuousClock.now
        let runningNow = Array(transactions.running)
        let changes = state.withLock { state -> [EventChange] in
            var changes: [EventChange] = []
            for (seq, change) in read {
                if seq <= state.watermark {
                    guard state.gaps.removeValue(forKey: seq) != nil else { continue }  // applied before
                } else {
                    if seq > state.watermark + 1 {
                        let missing = seq - state.watermark - 1
                        if missing + Int64(state.gaps.count) > Int64(Self.maximumGaps) {
                            state.reloadWanted = true
                        } else {
                            for gap in (state.watermark + 1)..<seq { state.gaps[gap] = Gap(seenAt: now, running: runningNow) }
                        }
                    }
                    state.watermark = seq
                }
                if let change { changes.append(change) }
            }
            // Gaps this read asked for whose transactions had all ended before it will never fill (the gaps come
            // first in the page, below every new row).
            for seq in asked where state.gaps[seq].map({ transactions.haveEnded($0.running) }) == true {
                state.gaps.removeValue(forKey: seq)
            }
            let held = state.gaps.count
            state.gaps = state.gaps.filter { now - $0.value.seenAt < settings.gapLifetime }
            if state.gaps.count < held {
                state.gapsGivenUpByAge += held - state.gaps.count
                state.reloadWanted = true
            }
            return changes
        }
        apply(changes)
        return read.count
    }

    /// The transactions running under the current snapshot.
    private static func runningTransactions(on connection: PostgresConnection, logger: Logger) async throws -> RunningTransactions {
        let rows = try await connection.query(
            """
            SELECT pg_snapshot_xmin(s)::text::bigint, ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x)
            FROM (SELECT pg_current_snapshot() AS s) AS snapshot
            """, logger: logger)
        for try await (xmin, running) in rows.decode((Int64, [Int64]).self) { return RunningTransactions(xmin: xmin, running: Set(running)) }
        return RunningTransactions(xmin: 0, running: [])
    }

    private func prune() async throws {
        let seconds = Int64(settings.feedRetention.components.seconds)
        try await client.query(
            "DELETE FROM negentropy.changes WHERE at < now() - \(seconds) * interval '1 second'", logger: logger)
    }

    // MARK: applying

    /// Applies changes in the order given (an item removed after it was stored ends up removed).
    func apply(_ changes: [EventChange]) {
        guard !changes.isEmpty else { return }
        let counts = state.withLock { state -> [Int]? in
            guard state.loaded else { return nil }  // the load that is under way reads them, or the feed does
            for (position, definition) in definitions.enumerated() {
                var inserting: [NegentropyItem] = [], removing: [NegentropyItem] = []
                for change in changes {
                    if let fields = change.fields {
                        guard position == 0 || definition.contains(pubkey: fields.pubkey, kind: fields.kind, tagKeys: fields.tagKeys) else {
                            continue
                        }
                        inserting.append(change.item)
                    } else {
                        removing.append(change.item)
                    }
                }
                guard !inserting.isEmpty || !removing.isEmpty else { continue }
                state.indexes[position].apply(inserting: inserting, removing: removing)
                state.snapshots[position] = nil
            }
            return state.indexes.map(\.count)
        }
        if let counts { publish(counts) }
    }

    private func publish(_ counts: [Int]) {
        guard let itemGauges else { return }
        for (gauge, count) in zip(itemGauges, counts) { gauge.record(count) }
    }
}
