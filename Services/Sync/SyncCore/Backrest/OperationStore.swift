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
    /// several times the last copy wins (a garbled batch repeats operations).
    public func upsert(_ operations: [V1_Operation], peerKeyID: String, peerInstanceID: String) async throws -> Applied {
        var applied = Applied()
        var latest: [Int64: V1_Operation] = [:]
        var order: [Int64] = []
        for operation in operations {
            if let reason = Self.problem(with: operation, peerInstanceID: peerInstanceID) {
                applied.skipped.append((operation.id, reason))
                continue
            }
            if latest.updateValue(operation, forKey: operation.id) == nil { order.append(operation.id) }
        }
        guard !order.isEmpty else { return applied }
        let batch = order.compactMap { latest[$0] }
        try await unwrappingTransactionError(PeerRemoved.self) {
            try await client.withTransaction(logger: logger) { connection in
                // One peer's batches are applied one at a time (two sessions of a reconnecting client, or two
                // replicas), so flow mapping and id assignment see each other's rows.
                try await connection.query("SELECT pg_advisory_xact_lock(hashtext('backrest.operations'), hashtext(\(peerKeyID)))", logger: logger)
                try await Self.requireAuthorized(peerKeyID, instanceID: peerInstanceID, on: connection, logger: logger)
                let originalIDs = batch.map(\.id)
                var known: [Int64: Int64] = [:]
                for try await (originalID, id) in try await connection.query(
                    "SELECT original_id, id FROM backrest.operations WHERE peer_keyid = \(peerKeyID) AND original_id = ANY(\(originalIDs))",
                    logger: logger
                ).decode((Int64, Int64).self) {
                    known[originalID] = id
                }
                let flows = Array(Set(batch.map(\.flowID)))
                var flowOf: [Int64: Int64] = [:]
                for try await (originalFlow, flow) in try await connection.query(
                    """
                    SELECT DISTINCT ON (original_flow_id) original_flow_id, flow_id FROM backrest.operations
                    WHERE peer_keyid = \(peerKeyID) AND original_flow_id = ANY(\(flows)) ORDER BY original_flow_id, id
                    """, logger: logger
                ).decode((Int64, Int64).self) {
                    flowOf[originalFlow] = flow
                }
                let newCount = batch.filter { known[$0.id] == nil }.count
                var freshIDs: [Int64] = []
                if newCount > 0 {
                    for try await id in try await connection.query(
                        "SELECT nextval('backrest.operation_ids') FROM generate_series(1, \(newCount))", logger: logger
                    ).decode(Int64.self) {
                        freshIDs.append(id)
                    }
                }
                var modnos: [Int64] = []
                for try await modno in try await connection.query(
                    "SELECT nextval('backrest.modnos') FROM generate_series(1, \(batch.count))", logger: logger
                ).decode(Int64.self) {
                    modnos.append(modno)
                }
                guard freshIDs.count == newCount, modnos.count == batch.count else {
                    throw PostgresSequenceShortfall()
                }
                var ids: [Int64] = [], originals: [Int64] = [], originalFlows: [Int64] = [], peerModnos: [Int64] = []
                var flowIDs: [Int64] = [], rowModnos: [Int64] = [], instances: [String] = [], repos: [String] = []
                var guids: [String] = [], plans: [String] = [], snapshots: [String] = [], statuses: [Int32] = []
                var starts: [Int64] = [], blobs: [ByteBuffer] = []
                var fresh = freshIDs.makeIterator()
                for (index, operation) in batch.enumerated() {
                    guard let id = known[operation.id] ?? fresh.next() else { throw PostgresSequenceShortfall() }
                    // A flow first seen now takes the id of its first operation, as backrest's oplog does.
                    let flow: Int64
                    if let mapped = flowOf[operation.flowID] {
                        flow = mapped
                    } else {
                        flow = id
                        if operation.flowID != 0 { flowOf[operation.flowID] = id }
                    }
                    var stored = operation
                    stored.originalInstanceKeyid = peerKeyID
                    stored.originalID = operation.id
                    stored.originalFlowID = operation.flowID
                    stored.id = id
                    stored.flowID = flow
                    stored.modno = modnos[index]
                    ids.append(id); originals.append(operation.id); originalFlows.append(operation.flowID)
                    peerModnos.append(operation.modno); flowIDs.append(flow); rowModnos.append(modnos[index])
                    instances.append(operation.instanceID); repos.append(operation.repoID); guids.append(operation.repoGuid)
                    plans.append(operation.planID); snapshots.append(operation.snapshotID);
                    statuses.append(Int32(truncatingIfNeeded: operation.status.rawValue))
                    starts.append(operation.unixTimeStartMs); blobs.append(ByteBuffer(bytes: try stored.serializedBytes() as [UInt8]))
                }
                try await connection.query(
                    """
                    INSERT INTO backrest.operations (id, peer_keyid, original_id, original_flow_id, peer_modno, flow_id, modno,
                        instance_id, repo_id, repo_guid, plan_id, snapshot_id, status, start_time_ms, operation)
                    SELECT i, \(peerKeyID), o, f, pm, fl, m, inst, r, g, p, s, st, t, b
                    FROM unnest(\(ids)::bigint[], \(originals)::bigint[], \(originalFlows)::bigint[], \(peerModnos)::bigint[],
                                \(flowIDs)::bigint[], \(rowModnos)::bigint[], \(instances)::text[], \(repos)::text[], \(guids)::text[],
                                \(plans)::text[], \(snapshots)::text[], \(statuses)::integer[], \(starts)::bigint[], \(blobs)::bytea[])
                         AS t(i, o, f, pm, fl, m, inst, r, g, p, s, st, t, b)
                    ON CONFLICT (peer_keyid, original_id) DO UPDATE SET
                        original_flow_id = excluded.original_flow_id, peer_modno = excluded.peer_modno, flow_id = excluded.flow_id,
                        modno = excluded.modno, instance_id = excluded.instance_id, repo_id = excluded.repo_id,
                        repo_guid = excluded.repo_guid, plan_id = excluded.plan_id, snapshot_id = excluded.snapshot_id,
                        status = excluded.status, start_time_ms = excluded.start_time_ms, operation = excluded.operation
                    """, logger: logger)
            }
        }
        applied.stored = batch.count
        return applied
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
}

struct PostgresSequenceShortfall: Error, CustomStringConvertible {
    var description: String { "PostgreSQL returned fewer sequence values than asked for" }
}
