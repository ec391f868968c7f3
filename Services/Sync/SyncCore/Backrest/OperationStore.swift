import Foundation
import Logging
import PostgresNIO
import WharfProto
import WharfRuntime

/// Operations backrest clients pushed, keyed by (peer keyid, the peer's operation id) — spec §7.4 and the
/// Wharf decisions. Created and updated operations are both upserts (seed clients send updates as created
/// and repeat or garble batches over 256, §13); a flow maps to the hub-local flow of the first stored
/// operation of that peer flow; deletes of unknown operations are ignored.
public struct OperationStore: Sendable {
    let client: PostgresClient
    let logger: Logger

    public init(client: PostgresClient, logger: Logger) {
        self.client = client
        self.logger = logger
    }

    /// Why an operation is not stored (the rules of backrest's `ValidateOperation`, and the peer's own
    /// instance id: a client speaks for itself only), or nil.
    static func problem(with operation: V1_Operation, peerInstanceID: String) -> String? {
        if operation.id == 0 { return "id is 0" }
        if operation.repoGuid.isEmpty || operation.repoID.isEmpty || operation.planID.isEmpty || operation.instanceID.isEmpty {
            return "repo_guid, repo_id, plan_id and instance_id are required"
        }
        if operation.unixTimeStartMs == 0 { return "unix_time_start_ms is 0" }
        if !operation.snapshotID.isEmpty && operation.snapshotID.utf8.count != 64 { return "snapshot_id is not 64 characters" }
        if operation.instanceID != peerInstanceID {
            return "instance_id \(operation.instanceID) is not the peer's own (\(peerInstanceID))"
        }
        let texts = [operation.repoID, operation.repoGuid, operation.planID, operation.instanceID, operation.snapshotID]
        if !PostgresText.canStoreAll(texts) { return "a NUL character (U+0000) in an id" }
        return nil
    }

    /// The peer is no longer an authorized client (removed while its session was open): nothing it sends
    /// afterwards is stored.
    public struct PeerRemoved: Error, Sendable {}

    /// Inside a write's transaction: locks the peer's client row against removal until the commit, or throws
    /// `PeerRemoved` when it is gone. An operator's RemoveClient then either waits for this write or makes it fail.
    private static func requireAuthorized(_ peerKeyID: String, instanceID: String?, on connection: PostgresConnection, logger: Logger) async throws {
        let rows = try await connection.query(
            "SELECT instance_id FROM backrest.clients WHERE keyid = \(peerKeyID) FOR SHARE", logger: logger)
        for try await current in rows.decode(String.self) {
            if let instanceID, current != instanceID { throw PeerRemoved() }
            return
        }
        throw PeerRemoved()
    }

    public struct Applied: Sendable, Equatable {
        public var stored = 0
        public var skipped: [(id: Int64, reason: String)] = []
        public static func == (lhs: Self, rhs: Self) -> Bool { lhs.stored == rhs.stored && lhs.skipped.map(\.id) == rhs.skipped.map(\.id) }
    }

    /// Upserts `operations` of `peerKeyID`. Invalid ones are skipped with their reason. When one id comes
    /// several times the last copy wins (a garbled batch repeats operations). Reads what the database knows,
    /// plans the rows (`OperationUpsertPlan`) and writes them, in one transaction.
    public func upsert(_ operations: [V1_Operation], peerKeyID: String, peerInstanceID: String) async throws -> Applied {
        let plan = OperationUpsertPlan(operations, peerInstanceID: peerInstanceID)
        var applied = Applied(skipped: plan.skipped)
        guard !plan.batch.isEmpty else { return applied }
        let logger = logger
        try await unwrappingTransactionError(PeerRemoved.self) {
            try await client.withTransaction(logger: logger) { connection in
                // One peer's batches are applied one at a time (two sessions of a reconnecting client, or two
                // replicas), so flow mapping and id assignment see each other's rows.
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('backrest.operations'), hashtext(\(peerKeyID)))", logger: logger)
                try await Self.requireAuthorized(peerKeyID, instanceID: peerInstanceID, on: connection, logger: logger)
                let known = try await Self.pairs(
                    "SELECT original_id, id FROM backrest.operations WHERE peer_keyid = \(peerKeyID) AND original_id = ANY(\(plan.originalIDs))",
                    on: connection, logger: logger)
                let flows = try await Self.pairs(
                    """
                    SELECT DISTINCT ON (original_flow_id) original_flow_id, flow_id FROM backrest.operations
                    WHERE peer_keyid = \(peerKeyID) AND original_flow_id = ANY(\(plan.originalFlowIDs)) ORDER BY original_flow_id, id
                    """, on: connection, logger: logger)
                let freshIDs = try await Self.next(plan.newOperations(known: known), of: "backrest.operation_ids", on: connection, logger: logger)
                let modnos = try await Self.next(plan.batch.count, of: "backrest.modnos", on: connection, logger: logger)
                let rows = try plan.rows(peerKeyID: peerKeyID, known: known, flows: flows, freshIDs: freshIDs, modnos: modnos)
                try await Self.write(rows, peerKeyID: peerKeyID, on: connection, logger: logger)
            }
        }
        applied.stored = plan.batch.count
        return applied
    }

    /// The write step: the planned rows, inserted or (for ids stored before) updated in one statement.
    private static func write(_ rows: OperationUpsertPlan.Rows, peerKeyID: String, on connection: PostgresConnection, logger: Logger) async throws {
        let blobs = try rows.stored.map { ByteBuffer(bytes: try $0.serializedBytes() as [UInt8]) }
        try await connection.query(
            """
            INSERT INTO backrest.operations (id, peer_keyid, original_id, original_flow_id, peer_modno, flow_id, modno,
                instance_id, repo_id, repo_guid, plan_id, snapshot_id, status, start_time_ms, operation, kind)
            SELECT i, \(peerKeyID), o, f, pm, fl, m, inst, r, g, p, s, st, t, b, k
            FROM unnest(\(rows.ids)::bigint[], \(rows.originals)::bigint[], \(rows.originalFlows)::bigint[], \(rows.peerModnos)::bigint[],
                        \(rows.flowIDs)::bigint[], \(rows.modnos)::bigint[], \(rows.instances)::text[], \(rows.repos)::text[],
                        \(rows.guids)::text[], \(rows.plans)::text[], \(rows.snapshots)::text[], \(rows.statuses)::integer[],
                        \(rows.starts)::bigint[], \(blobs)::bytea[], \(rows.kinds)::text[])
                 AS t(i, o, f, pm, fl, m, inst, r, g, p, s, st, t, b, k)
            ON CONFLICT (peer_keyid, original_id) DO UPDATE SET
                original_flow_id = excluded.original_flow_id, peer_modno = excluded.peer_modno, flow_id = excluded.flow_id,
                modno = excluded.modno, instance_id = excluded.instance_id, repo_id = excluded.repo_id,
                repo_guid = excluded.repo_guid, plan_id = excluded.plan_id, snapshot_id = excluded.snapshot_id,
                status = excluded.status, start_time_ms = excluded.start_time_ms, operation = excluded.operation,
                kind = excluded.kind
            """, logger: logger)
    }

    /// (key, value) rows of `query` as a dictionary.
    private static func pairs(_ query: PostgresQuery, on connection: PostgresConnection, logger: Logger) async throws -> [Int64: Int64] {
        var found: [Int64: Int64] = [:]
        for try await (key, value) in try await connection.query(query, logger: logger).decode((Int64, Int64).self) { found[key] = value }
        return found
    }

    /// `count` values of the sequence `sequence` (a name from this file, never from input).
    private static func next(_ count: Int, of sequence: StaticString, on connection: PostgresConnection, logger: Logger) async throws -> [Int64] {
        guard count > 0 else { return [] }
        var values: [Int64] = []
        var query = PostgresQuery(unsafeSQL: "SELECT nextval('\(sequence)') FROM generate_series(1, $1)")
        query.binds.append(count)
        for try await value in try await connection.query(query, logger: logger).decode(Int64.self) { values.append(value) }
        guard values.count == count else { throw PostgresSequenceShortfall() }
        return values
    }

    /// Deletes the peer's operations with these (peer) ids; returns how many existed.
    @discardableResult
    public func delete(originalIDs: [Int64], peerKeyID: String) async throws -> Int {
        guard !originalIDs.isEmpty else { return 0 }
        let logger = logger
        return try await unwrappingTransactionError(PeerRemoved.self) {
            try await client.withTransaction(logger: logger) { connection in
                try await Self.requireAuthorized(peerKeyID, instanceID: nil, on: connection, logger: logger)
                let rows = try await connection.query(
                    "DELETE FROM backrest.operations WHERE peer_keyid = \(peerKeyID) AND original_id = ANY(\(originalIDs)) RETURNING 1",
                    logger: logger)
                return try await rows.decode(Int.self).reduce(0) { count, _ in count + 1 }
            }
        }
    }

    /// What request_operations asks a reconnecting peer for, in the peer's own numbering: its highest
    /// operation id and modno stored here (0 and 0 for a new peer: everything).
    public func catchUpPoint(peerKeyID: String) async throws -> (highOpID: Int64, highModno: Int64) {
        let rows = try await client.query(
            "SELECT coalesce(max(original_id), 0), coalesce(max(peer_modno), 0) FROM backrest.operations WHERE peer_keyid = \(peerKeyID)",
            logger: logger)
        for try await (id, modno) in rows.decode((Int64, Int64).self) { return (id, modno) }
        return (0, 0)
    }

    /// The peer's stored operations as its manifest names them: the peer's id → the peer's modno (protocol 3).
    public func manifestState(peerKeyID: String) async throws -> [Int64: Int64] {
        let rows = try await client.query(
            "SELECT original_id, peer_modno FROM backrest.operations WHERE peer_keyid = \(peerKeyID)", logger: logger)
        var state: [Int64: Int64] = [:]
        for try await (id, modno) in rows.decode((Int64, Int64).self) { state[id] = modno }
        return state
    }

    /// The peer's stored operations, by hub id (tests and the operator's view).
    public func operations(peerKeyID: String, limit: Int = 100_000) async throws -> [V1_Operation] {
        let rows = try await client.query(
            "SELECT operation FROM backrest.operations WHERE peer_keyid = \(peerKeyID) ORDER BY id LIMIT \(limit)", logger: logger)
        var operations: [V1_Operation] = []
        for try await bytes in rows.decode(ByteBuffer.self) {
            operations.append(try V1_Operation(serializedBytes: Array(bytes.readableBytesView)))
        }
        return operations
    }

    /// The newest `limit` operations by start time of one peer (or all, `peerKeyID` empty), one plan (or all),
    /// one kind (or all, `kind` empty) and one status (or all, `status` nil), with the keyid of the peer that
    /// pushed each.
    public func recent(peerKeyID: String, planID: String, kind: String, status: V1_OperationStatus?, limit: Int) async throws
        -> [(keyid: String, operation: V1_Operation)]
    {
        let statusValue = status.map { Int32($0.rawValue) } ?? -1
        let rows = try await client.query(
            """
            SELECT peer_keyid, operation FROM backrest.operations
            WHERE (\(peerKeyID) = '' OR peer_keyid = \(peerKeyID)) AND (\(planID) = '' OR plan_id = \(planID))
              AND (\(statusValue) < 0 OR status = \(statusValue)) AND (\(kind) = '' OR kind = \(kind))
            ORDER BY start_time_ms DESC, id DESC LIMIT \(limit)
            """, logger: logger)
        var found: [(keyid: String, operation: V1_Operation)] = []
        for try await (keyid, bytes) in rows.decode((String, ByteBuffer).self) {
            found.append((keyid, try V1_Operation(serializedBytes: Array(bytes.readableBytesView))))
        }
        return found
    }
}

struct PostgresSequenceShortfall: Error, CustomStringConvertible {
    var description: String { "PostgreSQL returned fewer sequence values than asked for" }
}
