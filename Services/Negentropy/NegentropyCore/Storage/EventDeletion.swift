import Foundation
import Logging
import NIOCore
import NegentropyProtocol
import PostgresNIO
import WharfEncoding

/// NIP-09: a kind-5 event deletes its author's events it names — `e` tags by id, `a` tags (`kind:pubkey:d`) by
/// address up to its own `created_at` — and leaves tombstones, so that the same events arriving again (from a
/// client, or a peer that has not seen the deletion) are refused. A deletion is itself an event: it is stored,
/// reconciled and synced like any other, which is how deletions reach peers. Deletions are never deleted.
extension EventStore {
    static let deletionKind = 5

    /// The ids and addresses a deletion names; only its author's addresses count.
    struct DeletionTargets: Sendable {
        var ids: [Data] = []
        var addresses: [(kind: Int, dTag: String)] = []

        init(_ event: NostrEvent) {
            var seen = Set<Data>()
            for tag in event.tags where tag.count >= 2 {
                switch tag[0] {
                case "e":
                    if tag[1].utf8.count == 64, let id = Data(hexString: tag[1]), seen.insert(id).inserted { ids.append(id) }
                case "a":
                    let parts = tag[1].split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
                    guard parts.count == 3, let kind = Int(parts[0]), parts[1].lowercased() == event.pubkey,
                        kind == 0 || kind == 3 || (10000..<20000).contains(kind) || (30000..<40000).contains(kind),
                        !parts[2].utf8.contains(0)
                    else { continue }
                    addresses.append((kind, String(parts[2])))
                default:
                    continue
                }
            }
        }
    }

    /// Whether its author deleted this event: by id (the tombstone is then confirmed), or, for a replaceable or
    /// addressable event, by address at or after its `created_at`.
    static func isDeleted(
        id: ByteBuffer, pubkey: ByteBuffer, kind: Int, address: String?, createdAt: Int64, on connection: PostgresConnection,
        logger: Logger
    ) async throws -> Bool {
        let confirmed = try await connection.query(
            "UPDATE negentropy.tombstones SET confirmed = true WHERE id = \(id) AND pubkey = \(pubkey) RETURNING 1", logger: logger)
        for try await _ in confirmed { return true }
        guard let address else { return false }
        let byAddress = try await connection.query(
            """
            SELECT 1 FROM negentropy.address_tombstones
            WHERE pubkey = \(pubkey) AND kind = \(kind) AND d_tag = \(address) AND until >= \(createdAt)
            """, logger: logger)
        for try await _ in byAddress {
            // Remembered by id too, so that peer syncs stop fetching this version.
            try await connection.query(
                """
                INSERT INTO negentropy.tombstones (id, pubkey, deleted_by, confirmed) VALUES (\(id), \(pubkey), ''::bytea, true)
                ON CONFLICT (id, pubkey) DO UPDATE SET confirmed = true
                """, logger: logger)
            return true
        }
        return false
    }

    /// Stores a deletion and applies it, in one transaction.
    func saveDeletion(_ event: NostrEvent, id: Data, pubkey: Data, tagKeys: [String], json: String) async throws -> SaveOutcome {
        let targets = DeletionTargets(event)
        let idBuffer = ByteBuffer(data: id), pubkeyBuffer = ByteBuffer(data: pubkey)
        let targetBuffers = targets.ids.map { ByteBuffer(data: $0) }
        let logger = self.logger
        let changes = try await client.withTransaction(logger: logger) { connection -> [EventChange]? in
            let inserted = try await connection.query(
                """
                WITH inserted AS (
                    INSERT INTO negentropy.events (id, pubkey, created_at, kind, d_tag, tag_keys, json)
                    VALUES (\(idBuffer), \(pubkeyBuffer), \(event.created_at), \(event.kind), NULL, \(tagKeys), \(json))
                    ON CONFLICT (id) DO NOTHING RETURNING id, created_at
                )
                INSERT INTO negentropy.changes (id, created_at, present) SELECT id, created_at, true FROM inserted RETURNING 1
                """, logger: logger)
            var stored = false
            for try await _ in inserted { stored = true }
            guard stored else { return nil }  // applied when it was first stored
            var removed: [EventChange] = []
            func collect(_ rows: PostgresRowSequence) async throws {
                for try await (removedID, createdAt) in rows.decode((ByteBuffer, Int64).self) {
                    guard let eventID = EventID(bytes: removedID.readableBytesView) else { continue }
                    removed.append(EventChange(item: NegentropyItem(timestamp: UInt64(clamping: createdAt), id: eventID), fields: nil))
                }
            }
            if !targetBuffers.isEmpty {
                try await connection.query(
                    """
                    INSERT INTO negentropy.tombstones (id, pubkey, deleted_by)
                    SELECT t, \(pubkeyBuffer), \(idBuffer) FROM unnest(\(targetBuffers)::bytea[]) AS t
                    ON CONFLICT (id, pubkey) DO NOTHING
                    """, logger: logger)
                try await collect(
                    try await connection.query(
                        """
                        WITH gone AS (
                            DELETE FROM negentropy.events
                            WHERE id = ANY(\(targetBuffers)::bytea[]) AND pubkey = \(pubkeyBuffer) AND kind <> \(Self.deletionKind)
                            RETURNING id, created_at
                        ), confirmed AS (
                            UPDATE negentropy.tombstones SET confirmed = true
                            WHERE pubkey = \(pubkeyBuffer) AND id IN (SELECT id FROM gone)
                        )
                        INSERT INTO negentropy.changes (id, created_at, present) SELECT id, created_at, false FROM gone
                        RETURNING id, created_at
                        """, logger: logger))
            }
            for address in targets.addresses {
                try await connection.query(
                    """
                    INSERT INTO negentropy.address_tombstones (pubkey, kind, d_tag, until)
                    VALUES (\(pubkeyBuffer), \(address.kind), \(address.dTag), \(event.created_at))
                    ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = GREATEST(address_tombstones.until, EXCLUDED.until)
                    """, logger: logger)
                try await collect(
                    try await connection.query(
                        """
                        WITH gone AS (
                            DELETE FROM negentropy.events
                            WHERE pubkey = \(pubkeyBuffer) AND kind = \(address.kind) AND d_tag = \(address.dTag)
                              AND created_at <= \(event.created_at)
                            RETURNING id, created_at
                        ), remembered AS (
                            INSERT INTO negentropy.tombstones (id, pubkey, deleted_by, confirmed)
                            SELECT id, \(pubkeyBuffer), \(idBuffer), true FROM gone
                            ON CONFLICT (id, pubkey) DO UPDATE SET confirmed = true
                        )
                        INSERT INTO negentropy.changes (id, created_at, present) SELECT id, created_at, false FROM gone
                        RETURNING id, created_at
                        """, logger: logger))
            }
            return removed
        }
        guard let changes else { return .duplicate("duplicate: already have this event") }
        var all = changes
        if let item = event.negentropyItem {
            all.append(EventChange(item: item, fields: .init(pubkey: pubkey, kind: event.kind, tagKeys: tagKeys)))
        }
        commits.publish(all)
        return .stored
    }

    /// Those of `ids` whose events were deleted here by their authors: a peer sync never fetches them again.
    func deletedIDs(among ids: [EventID]) async throws -> Set<EventID> {
        guard !ids.isEmpty else { return [] }
        let rows = try await client.query(
            "SELECT DISTINCT id FROM negentropy.tombstones WHERE confirmed AND id = ANY(\(ids.map { ByteBuffer(bytes: $0.bytes) })::bytea[])",
            logger: logger)
        var deleted = Set<EventID>()
        for try await id in rows.decode(ByteBuffer.self) {
            if let eventID = EventID(bytes: id.readableBytesView) { deleted.insert(eventID) }
        }
        return deleted
    }
}
