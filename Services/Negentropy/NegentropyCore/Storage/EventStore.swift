import Foundation
import Logging
import NIOCore
import NegentropyProtocol
import PostgresNIO
import WharfEncoding
import WharfRuntime

/// Nostr events in PostgreSQL (schema `negentropy`), indexed for NIP-01 filters: by id, by time, by author,
/// by kind, and by single-letter tag values (GIN over `tag:value` keys). Each row keeps the event's JSON as
/// the relay sends it.
public struct EventStore: Sendable {
    public static let migrations = MigrationSet(
        schema: "negentropy",
        migrations: [
            Migration(
                version: 1, name: "events and peers",
                sql: [
                    "CREATE SCHEMA IF NOT EXISTS negentropy",
                    """
                    CREATE TABLE negentropy.events (
                        id bytea PRIMARY KEY CHECK (length(id) = 32),
                        pubkey bytea NOT NULL CHECK (length(pubkey) = 32),
                        created_at bigint NOT NULL CHECK (created_at >= 0),
                        kind integer NOT NULL,
                        d_tag text,
                        tag_keys text[] NOT NULL,
                        json text NOT NULL,
                        stored_at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    "CREATE INDEX events_by_time ON negentropy.events (created_at, id)",
                    "CREATE INDEX events_by_author ON negentropy.events (pubkey, created_at)",
                    "CREATE INDEX events_by_kind ON negentropy.events (kind, created_at)",
                    "CREATE INDEX events_by_tag ON negentropy.events USING gin (tag_keys)",
                    "CREATE INDEX events_replaceable ON negentropy.events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL",
                    """
                    CREATE TABLE negentropy.peers (
                        url text PRIMARY KEY,
                        added_at timestamptz NOT NULL DEFAULT now(),
                        last_sync bigint NOT NULL DEFAULT 0,
                        events_synced bigint NOT NULL DEFAULT 0,
                        status text NOT NULL DEFAULT 'idle' CHECK (status IN ('idle', 'syncing', 'error')),
                        last_error text NOT NULL DEFAULT '',
                        consecutive_failures integer NOT NULL DEFAULT 0
                    )
                    """,
                    """
                    CREATE TABLE negentropy.sync_loop (
                        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                        active boolean NOT NULL DEFAULT false,
                        last_sync bigint NOT NULL DEFAULT 0
                    )
                    """,
                    "INSERT INTO negentropy.sync_loop DEFAULT VALUES",
                ]),
            Migration(
                version: 2, name: "change feed",
                sql: [
                    // One row per event stored or removed, written by the statement that stores or removes it:
                    // what each replica's resident index follows.
                    """
                    CREATE TABLE negentropy.changes (
                        seq bigserial PRIMARY KEY,
                        id bytea NOT NULL,
                        created_at bigint NOT NULL,
                        present boolean NOT NULL,
                        at timestamptz NOT NULL DEFAULT now()
                    )
                    """,
                    "CREATE INDEX changes_at ON negentropy.changes (at)",
                ]),
            Migration(
                version: 3, name: "deletions (NIP-09)",
                sql: [
                    // An id a kind-5 event of `pubkey` deleted. It refuses only that author's event (a deletion
                    // names any id it likes); `confirmed` once an event of that id and author was seen, from then
                    // on peer syncs never fetch the id again.
                    """
                    CREATE TABLE negentropy.tombstones (
                        id bytea NOT NULL CHECK (length(id) = 32),
                        pubkey bytea NOT NULL,
                        deleted_by bytea NOT NULL,
                        confirmed boolean NOT NULL DEFAULT false,
                        at timestamptz NOT NULL DEFAULT now(),
                        PRIMARY KEY (id, pubkey)
                    )
                    """,
                    // Addressable events (`a` tags) deleted up to a time: versions not newer are refused.
                    """
                    CREATE TABLE negentropy.address_tombstones (
                        pubkey bytea NOT NULL,
                        kind integer NOT NULL,
                        d_tag text NOT NULL,
                        until bigint NOT NULL,
                        PRIMARY KEY (pubkey, kind, d_tag)
                    )
                    """,
                ]),
        ])

    public enum SaveOutcome: Sendable, Equatable {
        case stored
        /// Already held (the same id), or replaced by a newer event of the same replaceable address.
        case duplicate(String)
        /// Ephemeral kinds (20000–29999) are relayed, never stored.
        case ephemeral
        /// Refused: its author deleted it (NIP-09).
        case deleted

        public static let deletedMessage = "blocked: this event was deleted by its author"
    }

    let client: PostgresClient
    let logger: Logger
    /// How long one query a client's filter shapes may run (REQ pages, reconciliation sets).
    let queryTimeout: Duration
    /// Regular events stored concurrently (one connection's pipelined EVENTs, or many connections') share one
    /// statement and one commit.
    private let insertBatcher: KeyBatcher<EventRow, Result<SaveOutcome, any Error>>
    /// Told of every event this replica stores or removes, after its commit.
    public let commits = CommitListeners()

    /// Group inserts under way at once, and events in one.
    static let insertLanes = 2
    static let maximumInsertBatch = 1000

    public init(client: PostgresClient, logger: Logger, queryTimeout: Duration = .seconds(15)) {
        self.client = client
        self.logger = logger
        self.queryTimeout = queryTimeout
        let commits = self.commits
        insertBatcher = KeyBatcher(lanes: Self.insertLanes, maximumBatch: Self.maximumInsertBatch) { rows in
            let outcomes = try await Self.insertBatch(rows, client: client, logger: logger)
            commits.publish(
                rows.filter { (try? outcomes[$0]?.get()) == .stored }.map {
                    EventChange(
                        item: NegentropyItem(timestamp: UInt64(clamping: $0.createdAt), id: EventID(bytes: $0.id) ?? .zero),
                        fields: .init(pubkey: $0.pubkey, kind: $0.kind, tagKeys: $0.tagKeys))
                })
            return outcomes
        }
    }

    /// Runs `body` in a transaction whose statements PostgreSQL cancels after `queryTimeout`: a query shaped by
    /// a client never holds a backend longer than that, whether or not the client is still there.
    func withStatementTimeout<T: Sendable>(_ body: @escaping @Sendable (PostgresConnection) async throws -> T) async throws -> T {
        let milliseconds = max(1, queryTimeout.clampedMilliseconds)
        return try await client.withTransaction(logger: logger) { connection in
            try await connection.query(PostgresQuery(unsafeSQL: "SET LOCAL statement_timeout = \(milliseconds)"), logger: logger)
            return try await body(connection)
        }
    }

    /// Stores a validated event. Replaceable kinds (0, 3, 10000–19999) keep the newest event per author and
    /// kind, addressable kinds (30000–39999) per author, kind and `d` tag (NIP-01; on equal `created_at` the
    /// lowest id stays).
    /// `json`: the event's JSON as `NostrEvent.json` writes it, when the caller has it already.
    public func save(_ event: NostrEvent, json: String? = nil) async throws -> SaveOutcome {
        guard let id = Data(hexString: event.id), let pubkey = Data(hexString: event.pubkey) else {
            throw EventRejection("invalid: id and pubkey must be hex")
        }
        if (20000..<30000).contains(event.kind) { return .ephemeral }
        let tagKeys = event.indexKeys
        let json = json ?? String(decoding: event.json, as: UTF8.self)
        if event.kind == Self.deletionKind { return try await saveDeletion(event, id: id, pubkey: pubkey, tagKeys: tagKeys, json: json) }
        guard let address = Self.replaceableAddress(of: event) else {
            let row = EventRow(id: id, pubkey: pubkey, createdAt: event.created_at, kind: event.kind, tagKeys: tagKeys, json: json)
            return try await insertBatcher.load(row)?.get() ?? .duplicate("duplicate: already have this event")
        }
        let idBuffer = ByteBuffer(data: id), pubkeyBuffer = ByteBuffer(data: pubkey)
        let (outcome, replaced) = try await client.withTransaction(logger: logger) { connection -> (SaveOutcome, [EventChange]) in
            var replaced: [EventChange] = []
            if try await Self.isDeleted(
                id: idBuffer, pubkey: pubkeyBuffer, kind: event.kind, address: address, createdAt: event.created_at, on: connection, logger: logger)
            {
                return (.deleted, [])
            }
            do {
                // One writer per address at a time, across replicas.
                try await connection.query(
                    "SELECT pg_advisory_xact_lock(hashtextextended(\(event.pubkey + ":" + String(event.kind) + ":" + address), 0))",
                    logger: logger)
                let newest = try await connection.query(
                    """
                    SELECT id, created_at FROM negentropy.events
                    WHERE pubkey = \(pubkeyBuffer) AND kind = \(event.kind) AND d_tag = \(address)
                    ORDER BY created_at DESC, id ASC LIMIT 1
                    """, logger: logger)
                for try await (heldID, heldCreatedAt) in newest.decode((ByteBuffer, Int64).self) {
                    let held = Data(buffer: heldID)
                    if held == id { return (.duplicate("duplicate: already have this event"), []) }
                    if heldCreatedAt > event.created_at || (heldCreatedAt == event.created_at && held.lexicographicallyPrecedes(id)) {
                        return (.duplicate("duplicate: have a newer version of this replaceable event"), [])
                    }
                }
                let removed = try await connection.query(
                    """
                    WITH replaced AS (
                        DELETE FROM negentropy.events WHERE pubkey = \(pubkeyBuffer) AND kind = \(event.kind) AND d_tag = \(address)
                        RETURNING id, created_at
                    )
                    INSERT INTO negentropy.changes (id, created_at, present) SELECT id, created_at, false FROM replaced
                    RETURNING id, created_at
                    """,
                    logger: logger)
                for try await (removedID, createdAt) in removed.decode((ByteBuffer, Int64).self) {
                    guard let removedID = EventID(bytes: removedID.readableBytesView) else { continue }
                    replaced.append(EventChange(item: NegentropyItem(timestamp: UInt64(clamping: createdAt), id: removedID), fields: nil))
                }
            }
            let inserted = try await connection.query(
                """
                WITH inserted AS (
                    INSERT INTO negentropy.events (id, pubkey, created_at, kind, d_tag, tag_keys, json)
                    VALUES (\(idBuffer), \(pubkeyBuffer), \(event.created_at), \(event.kind), \(address), \(tagKeys), \(json))
                    ON CONFLICT (id) DO NOTHING RETURNING id, created_at
                )
                INSERT INTO negentropy.changes (id, created_at, present) SELECT id, created_at, true FROM inserted RETURNING 1
                """, logger: logger)
            var stored = false
            for try await _ in inserted { stored = true }
            return (stored ? .stored : .duplicate("duplicate: already have this event"), replaced)
        }
        var changes = replaced
        if outcome == .stored, let item = event.negentropyItem {
            changes.append(EventChange(item: item, fields: .init(pubkey: pubkey, kind: event.kind, tagKeys: tagKeys)))
        }
        commits.publish(changes)
        return outcome
    }

    /// A regular event's row, for a group insert; one per id.
    struct EventRow: Hashable, Sendable {
        var id: Data
        var pubkey: Data
        var createdAt: Int64
        var kind: Int
        var tagKeys: [String]
        var json: String
        static func == (lhs: Self, rhs: Self) -> Bool { lhs.id == rhs.id }
        func hash(into hasher: inout Hasher) { hasher.combine(id) }
    }

    /// Inserts `rows` in one statement with their change-feed rows; each gets stored, duplicate or deleted (its
    /// author deleted it). A failing statement is retried one row at a time, so a bad row fails only its own EVENT.
    private static func insertBatch(_ rows: [EventRow], client: PostgresClient, logger: Logger) async throws
        -> [EventRow: Result<SaveOutcome, any Error>]
    {
        do {
            let outcomes = try await outcomes(
                of: rows, inserted: try await insertRows(rows, client: client, logger: logger), client: client, logger: logger)
            return Dictionary(rows.map { ($0, .success(outcomes[$0.id] ?? .stored)) }) { first, _ in first }
        } catch  where rows.count > 1 {
            var outcomes: [EventRow: Result<SaveOutcome, any Error>] = [:]
            for row in rows {
                do {
                    let inserted = try await insertRows([row], client: client, logger: logger)
                    outcomes[row] = .success(
                        try await Self.outcomes(of: [row], inserted: inserted, client: client, logger: logger)[row.id] ?? .stored)
                } catch {
                    outcomes[row] = .failure(error)
                }
            }
            return outcomes
        }
    }

    /// What became of rows a group insert did not insert: deleted when a tombstone of their author holds their
    /// id (then confirmed: peer syncs stop fetching it), else already stored.
    private static func outcomes(of rows: [EventRow], inserted: Set<Data>, client: PostgresClient, logger: Logger) async throws
        -> [Data: SaveOutcome]
    {
        var outcomes: [Data: SaveOutcome] = [:]
        let refused = rows.filter { !inserted.contains($0.id) }
        guard !refused.isEmpty else { return outcomes }
        for row in refused { outcomes[row.id] = .duplicate("duplicate: already have this event") }
        let confirmed = try await client.query(
            """
            UPDATE negentropy.tombstones t SET confirmed = true
            FROM unnest(\(refused.map { ByteBuffer(data: $0.id) })::bytea[], \(refused.map { ByteBuffer(data: $0.pubkey) })::bytea[]) AS r(i, p)
            WHERE t.id = r.i AND t.pubkey = r.p RETURNING t.id
            """, logger: logger)
        for try await id in confirmed.decode(ByteBuffer.self) { outcomes[Data(buffer: id)] = .deleted }
        return outcomes
    }

    private static func insertRows(_ rows: [EventRow], client: PostgresClient, logger: Logger) async throws -> Set<Data> {
        let encoder = JSONEncoder()
        var ids: [ByteBuffer] = [], pubkeys: [ByteBuffer] = [], createdAts: [Int64] = [], kinds: [Int32] = []
        var tagKeyLists: [String] = [], jsons: [String] = []
        for row in rows {
            ids.append(ByteBuffer(data: row.id))
            pubkeys.append(ByteBuffer(data: row.pubkey))
            createdAts.append(row.createdAt)
            kinds.append(Int32(clamping: row.kind))
            tagKeyLists.append(String(decoding: try encoder.encode(row.tagKeys), as: UTF8.self))
            jsons.append(row.json)
        }
        let inserted = try await client.query(
            """
            WITH inserted AS (
                INSERT INTO negentropy.events (id, pubkey, created_at, kind, d_tag, tag_keys, json)
                SELECT i, p, c, k, NULL, ARRAY(SELECT e FROM jsonb_array_elements_text(t) WITH ORDINALITY AS x(e, n) ORDER BY n), j
                FROM unnest(\(ids)::bytea[], \(pubkeys)::bytea[], \(createdAts)::bigint[], \(kinds)::integer[],
                            \(tagKeyLists)::text[]::jsonb[], \(jsons)::text[]) AS r(i, p, c, k, t, j)
                WHERE NOT EXISTS (SELECT 1 FROM negentropy.tombstones d WHERE d.id = r.i AND d.pubkey = r.p)
                ON CONFLICT (id) DO NOTHING
                RETURNING id, created_at
            )
            INSERT INTO negentropy.changes (id, created_at, present) SELECT id, created_at, true FROM inserted RETURNING id
            """, logger: logger)
        var stored = Set<Data>()
        for try await id in inserted.decode(ByteBuffer.self) { stored.insert(Data(buffer: id)) }
        return stored
    }

    /// The `d`-tag address of a replaceable event ("" for plain replaceable kinds); nil for regular events.
    static func replaceableAddress(of event: NostrEvent) -> String? {
        switch event.kind {
        case 0, 3, 10000..<20000: ""
        case 30000..<40000: event.tags.first(where: { $0.first == "d" }).map { $0.count > 1 ? $0[1] : "" } ?? ""
        default: nil
        }
    }

    /// Events matching any of `filters`, newest first, each filter limited to its own `limit` (capped at
    /// `maximumPerFilter`), without repeats.
    public func query(_ filters: [NostrFilter], maximumPerFilter: Int) async throws -> [StoredEvent] {
        var seen = Set<Data>()
        var events: [StoredEvent] = []
        for filter in filters where filter.isSatisfiable {
            let limit = min(filter.limit ?? maximumPerFilter, maximumPerFilter)
            var (condition, bindings) = Self.condition(for: filter)
            bindings.append(limit)
            let rows = try await client.query(
                PostgresQuery(
                    unsafeSQL: """
                        SELECT id, created_at, json FROM negentropy.events WHERE \(condition)
                        ORDER BY created_at DESC, id ASC LIMIT $\(bindings.count)
                        """, binds: bindings), logger: logger)
            for try await (id, createdAt, json) in rows.decode((ByteBuffer, Int64, String).self) {
                let key = Data(buffer: id)
                if seen.insert(key).inserted { events.append(StoredEvent(id: key, createdAt: createdAt, json: json)) }
            }
        }
        return events.sorted { $0.createdAt != $1.createdAt ? $0.createdAt > $1.createdAt : $0.id.lexicographicallyPrecedes($1.id) }
    }

    public struct StoredEvent: Sendable, Equatable {
        public var id: Data
        public var createdAt: Int64
        /// The event JSON object, as sent to clients.
        public var json: String
    }

    public enum SnapshotResult: Sendable {
        case items(SortedItems)
        /// More than the allowed number of events match.
        case tooMany
    }

    /// The reconciliation set of a filter: (created_at, id) of the matching events — the newest `limit` when
    /// the filter has one — refused when more than `maximum` match.
    public func snapshot(_ filter: NostrFilter, maximum: Int) async throws -> SnapshotResult {
        guard filter.isSatisfiable else { return .items(try SortedItems(sorted: [])) }
        var (condition, bindings) = Self.condition(for: filter)
        let wanted = min(filter.limit ?? Int.max - 1, maximum + 1)
        bindings.append(wanted)
        let sql =
            filter.limit == nil
            ? "SELECT created_at, id FROM negentropy.events WHERE \(condition) ORDER BY created_at, id LIMIT $\(bindings.count)"
            : "SELECT created_at, id FROM (SELECT created_at, id FROM negentropy.events WHERE \(condition) ORDER BY created_at DESC, id ASC LIMIT $\(bindings.count)) newest ORDER BY created_at, id"
        let query = PostgresQuery(unsafeSQL: sql, binds: bindings)
        let items = try await withStatementTimeout { [logger] connection -> [NegentropyItem]? in
            var items: [NegentropyItem] = []
            for try await (createdAt, id) in try await connection.query(query, logger: logger).decode((Int64, ByteBuffer).self) {
                guard let eventID = EventID(bytes: id.readableBytesView) else { continue }
                items.append(NegentropyItem(timestamp: UInt64(clamping: createdAt), id: eventID))
                if items.count > maximum { return nil }
            }
            return items
        }
        guard let items else { return .tooMany }
        return .items(try SortedItems(sorted: items))
    }

    /// Events by id, as JSON (what a REQ by ids returns).
    public func events(ids: [EventID]) async throws -> [StoredEvent] {
        try await query([NostrFilter(ids: ids.map(\.hex))], maximumPerFilter: max(ids.count, 1))
    }

    public func count() async throws -> Int {
        let rows = try await client.query("SELECT count(*) FROM negentropy.events", logger: logger)
        for try await count in rows.decode(Int.self) { return count }
        return 0
    }

    /// The WHERE clause of a filter with its bindings ($1…): every condition is one an index answers.
    static func condition(for filter: NostrFilter) -> (String, PostgresBindings) {
        var bindings = PostgresBindings()
        var clauses: [String] = []
        func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
            bindings.append(value)
            return "$\(bindings.count)"
        }
        func bytes(_ hex: [String]) -> [ByteBuffer] { hex.compactMap { Data(hexString: $0).map { ByteBuffer(data: $0) } } }
        if let ids = filter.ids { clauses.append("id = ANY(\(bind(bytes(ids)))::bytea[])") }
        if let authors = filter.authors { clauses.append("pubkey = ANY(\(bind(bytes(authors)))::bytea[])") }
        if let kinds = filter.kinds { clauses.append("kind = ANY(\(bind(kinds))::integer[])") }
        for (name, values) in filter.tags.sorted(by: { $0.key < $1.key }) {
            clauses.append("tag_keys && \(bind(values.map { "\(name):\($0)" }))::text[]")
        }
        if let since = filter.since { clauses.append("created_at >= \(bind(since))") }
        if let until = filter.until { clauses.append("created_at <= \(bind(until))") }
        return (clauses.isEmpty ? "true" : clauses.joined(separator: " AND "), bindings)
    }
}
