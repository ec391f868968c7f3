import Foundation
import Logging
import PostgresNIO
import WharfRuntime

/// `store.changes`: one row per record stored or deleted, written by the same statement as the change
/// (RecordRepository), numbered in insertion order. Mirrors follow it for low latency (WatchRecords);
/// since sequence numbers are taken before commit, a row can become visible after a higher one, so a
/// follower also reconciles now and then (sync does, every WHARF_SYNC_POLL_INTERVAL). Rows older than
/// `retention` are pruned.
public struct RecordChangeFeed: Sendable {
    public static let migration = Migration(
        version: 3, name: "record change feed",
        sql: [
            """
            CREATE TABLE store.changes (
                sequence bigserial PRIMARY KEY,
                cid text NOT NULL,
                present boolean NOT NULL,
                at timestamptz NOT NULL DEFAULT now()
            )
            """,
            "CREATE INDEX changes_at ON store.changes (at)",
        ])

    public struct Change: Sendable, Equatable {
        public var sequence: Int64
        public var cid: String
        public var present: Bool
    }

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Changes after `sequence`, oldest first, at most `limit`.
    public func changes(after sequence: Int64, limit: Int) async throws -> [Change] {
        let rows = try await client.query(
            "SELECT sequence, cid, present FROM store.changes WHERE sequence > \(sequence) ORDER BY sequence LIMIT \(limit)",
            logger: logger)
        var found: [Change] = []
        for try await (sequence, cid, present) in rows.decode((Int64, String, Bool).self) {
            found.append(Change(sequence: sequence, cid: cid, present: present))
        }
        return found
    }

    /// The newest sequence number (0 when there is none).
    public func latestSequence() async throws -> Int64 {
        let rows = try await client.query("SELECT coalesce(max(sequence), 0) FROM store.changes", logger: logger)
        return try await rows.decode(Int64.self).first(where: { _ in true }) ?? 0
    }

    /// Removes changes older than `retention`; returns how many.
    public func prune(olderThan retention: Duration) async throws -> Int {
        let seconds = Double(retention.components.seconds)
        let rows = try await client.query(
            "DELETE FROM store.changes WHERE at < now() - \(seconds) * interval '1 second' RETURNING 1", logger: logger)
        return try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
    }
}
