import Foundation
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// Syncs in PostgreSQL (schema `sync`): the upstream row (id, remote, registry, cids, status, timestamps)
/// plus what the mirror has done, so that any replica's worker can continue one and any replica can report
/// it. Rows are never removed (upstream keeps DELETED syncs, and ListSyncs returns them).
public struct SyncRepository: Sendable {
    public static let migrations = MigrationSet(
        schema: "sync",
        migrations: [
            Migration(
                version: 1, name: "syncs",
                sql: [
                    "CREATE SCHEMA IF NOT EXISTS sync",
                    """
                    CREATE TABLE sync.syncs (
                        position bigserial UNIQUE,
                        id uuid PRIMARY KEY,
                        remote_directory_url text NOT NULL,
                        remote_registry_url text NOT NULL DEFAULT '',
                        cids text[] NOT NULL DEFAULT '{}',
                        status smallint NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now(),
                        updated_at timestamptz NOT NULL DEFAULT now(),
                        method text NOT NULL DEFAULT '',
                        discovered bigint NOT NULL DEFAULT 0,
                        copied bigint NOT NULL DEFAULT 0,
                        already_present bigint NOT NULL DEFAULT 0,
                        rejected bigint NOT NULL DEFAULT 0,
                        bytes bigint NOT NULL DEFAULT 0,
                        last_error text NOT NULL DEFAULT '',
                        consecutive_failures integer NOT NULL DEFAULT 0,
                        last_round_at timestamptz,
                        in_step_at timestamptz
                    )
                    """,
                    "CREATE INDEX syncs_active ON sync.syncs (status) WHERE status IN (1, 2, 4)",
                ]),
            // Records a round has verified and is pushing, publishing and giving their referrers: a worker killed
            // between those steps leaves them here, and the next round finishes them first.
            Migration(
                version: 2, name: "copies in flight",
                sql: [
                    """
                    CREATE TABLE sync.copies_in_flight (
                        sync_id uuid NOT NULL REFERENCES sync.syncs (id),
                        cid text NOT NULL,
                        PRIMARY KEY (sync_id, cid)
                    )
                    """
                ]),
        ])

    /// A sync as GetSync and ListSyncs show it.
    public struct Row: Sendable, Equatable {
        public var id: UUID
        public var remoteDirectoryURL: String
        public var cids: [String]
        public var status: Agntcy_Dir_Store_V1_SyncStatus
        public var createdAt: Date
        public var updatedAt: Date
    }

    static let activeStatuses: [Int16] = [
        Int16(Agntcy_Dir_Store_V1_SyncStatus.pending.rawValue), Int16(Agntcy_Dir_Store_V1_SyncStatus.inProgress.rawValue),
        Int16(Agntcy_Dir_Store_V1_SyncStatus.deletePending.rawValue),
    ]

    private let client: PostgresClient
    private let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Inserts a PENDING sync, unless `maximumActive` syncs are already active (then nil).
    public func create(remote: String, cids: [String], maximumActive: Int) async throws -> UUID? {
        let id = UUID()
        let pending = Int16(Agntcy_Dir_Store_V1_SyncStatus.pending.rawValue)
        let rows = try await client.query(
            """
            INSERT INTO sync.syncs (id, remote_directory_url, cids, status)
            SELECT \(id), \(remote), \(cids), \(pending)
            WHERE (SELECT count(*) FROM sync.syncs WHERE status = ANY(\(Self.activeStatuses))) < \(maximumActive)
            RETURNING id
            """, logger: logger)
        return try await rows.decode(UUID.self).first(where: { _ in true })
    }

    public func find(_ id: UUID) async throws -> Row? {
        let rows = try await client.query(
            "SELECT id, remote_directory_url, cids, status, created_at, updated_at FROM sync.syncs WHERE id = \(id)",
            logger: logger)
        return try await Self.rows(rows).first
    }

    /// Syncs in creation order, from `offset`, at most `limit` (nil: all).
    public func page(offset: Int, limit: Int) async throws -> [Row] {
        let rows = try await client.query(
            """
            SELECT id, remote_directory_url, cids, status, created_at, updated_at FROM sync.syncs
            ORDER BY position OFFSET \(offset) LIMIT \(limit)
            """, logger: logger)
        return try await Self.rows(rows)
    }

    /// Sets `status` (and `updated_at`) when the sync's status is one of `from`; false otherwise.
    @discardableResult
    public func transition(
        _ id: UUID, to status: Agntcy_Dir_Store_V1_SyncStatus,
        from: [Agntcy_Dir_Store_V1_SyncStatus], lastError: String? = nil
    ) async throws -> Bool {
        let target = Int16(status.rawValue)
        let sources = from.map { Int16($0.rawValue) }
        let rows = try await client.query(
            """
            UPDATE sync.syncs SET status = \(target), updated_at = now(), last_error = coalesce(\(lastError), last_error)
            WHERE id = \(id) AND status = ANY(\(sources)) RETURNING 1
            """, logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }

    /// What a sync's mirror has done (SyncProgress, metrics).
    public struct Progress: Sendable, Equatable {
        public var method = ""
        public var discovered: Int64 = 0
        public var copied: Int64 = 0
        public var alreadyPresent: Int64 = 0
        public var rejected: Int64 = 0
        public var bytes: Int64 = 0
        public var lastError = ""
        public var consecutiveFailures = 0
        public var lastRoundAt: Date?
        public var inStepAt: Date?
    }

    public func progress(of id: UUID) async throws -> Progress? {
        let rows = try await client.query(
            """
            SELECT method, discovered, copied, already_present, rejected, bytes, last_error, consecutive_failures,
                   last_round_at, in_step_at
            FROM sync.syncs WHERE id = \(id)
            """, logger: logger)
        for try await (method, discovered, copied, present, rejected, bytes, lastError, failures, lastRound, inStep)
            in rows.decode((String, Int64, Int64, Int64, Int64, Int64, String, Int, Date?, Date?).self)
        {
            return Progress(
                method: method, discovered: discovered, copied: copied, alreadyPresent: present, rejected: rejected,
                bytes: bytes, lastError: lastError, consecutiveFailures: failures, lastRoundAt: lastRound, inStepAt: inStep)
        }
        return nil
    }

    /// The syncs that are not DELETED, newest first, with their progress (metrics).
    public func reported(limit: Int) async throws -> [(Row, Progress)] {
        let deleted = Int16(Agntcy_Dir_Store_V1_SyncStatus.deleted.rawValue)
        let ids = try await client.query(
            "SELECT id FROM sync.syncs WHERE status <> \(deleted) ORDER BY position DESC LIMIT \(limit)", logger: logger)
        var reported: [(Row, Progress)] = []
        for try await id in ids.decode(UUID.self) {
            if let row = try await find(id), let progress = try await progress(of: id) { reported.append((row, progress)) }
        }
        return reported
    }

    /// Adds one batch's counts; `inStep` marks the sync as caught up with the remote now.
    public func add(
        _ id: UUID, method: String?, discovered: Int, copied: Int, alreadyPresent: Int, rejected: Int, bytes: Int,
        inStep: Bool
    ) async throws {
        try await client.query(
            """
            UPDATE sync.syncs SET method = COALESCE(\(method), method), discovered = discovered + \(discovered), copied = copied + \(copied),
                already_present = already_present + \(alreadyPresent), rejected = rejected + \(rejected),
                bytes = bytes + \(bytes), last_round_at = now(), updated_at = now(),
                in_step_at = CASE WHEN \(inStep) THEN now() ELSE in_step_at END,
                consecutive_failures = 0
            WHERE id = \(id)
            """, logger: logger)
    }

    /// Marks the sync as caught up with the remote now (its change feed has sent nothing left to copy).
    public func markInStep(_ id: UUID) async throws {
        try await client.query("UPDATE sync.syncs SET in_step_at = now() WHERE id = \(id)", logger: logger)
    }

    /// Notes `cids` as being copied (before the first step that writes to this node).
    public func beginCopies(_ id: UUID, cids: [String]) async throws {
        guard !cids.isEmpty else { return }
        try await client.query(
            "INSERT INTO sync.copies_in_flight (sync_id, cid) SELECT \(id), unnest(\(cids)::text[]) ON CONFLICT DO NOTHING",
            logger: logger)
    }

    /// Forgets `cids` once they are pushed, published and given their referrers.
    public func endCopies(_ id: UUID, cids: [String]) async throws {
        guard !cids.isEmpty else { return }
        try await client.query("DELETE FROM sync.copies_in_flight WHERE sync_id = \(id) AND cid = ANY(\(cids))", logger: logger)
    }

    /// Copies an earlier round began and did not finish (its worker was killed), at most `limit`.
    public func unfinishedCopies(_ id: UUID, limit: Int) async throws -> [String] {
        let rows = try await client.query(
            "SELECT cid FROM sync.copies_in_flight WHERE sync_id = \(id) ORDER BY cid LIMIT \(limit)", logger: logger)
        return try await rows.decode(String.self).reduce(into: [String]()) { $0.append($1) }
    }

    /// Records a failed round; returns how many rounds have failed in a row.
    public func recordFailure(_ id: UUID, error: String) async throws -> Int {
        let rows = try await client.query(
            """
            UPDATE sync.syncs SET last_error = \(String(error.prefix(2000))), consecutive_failures = consecutive_failures + 1,
                updated_at = now()
            WHERE id = \(id) RETURNING consecutive_failures
            """, logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) ?? 0
    }

    private static func rows(_ rows: PostgresRowSequence) async throws -> [Row] {
        var found: [Row] = []
        for try await (id, remote, cids, status, created, updated) in rows.decode((UUID, String, [String], Int16, Date, Date).self) {
            found.append(
                Row(
                    id: id, remoteDirectoryURL: remote, cids: cids,
                    status: Agntcy_Dir_Store_V1_SyncStatus(rawValue: Int(status)) ?? .unspecified,
                    createdAt: created, updatedAt: updated))
        }
        return found
    }
}
