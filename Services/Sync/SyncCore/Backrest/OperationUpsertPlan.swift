import NIOCore
import WharfProto

/// The plan step of storing a peer's operations (spec §7.4), apart from the database: which operations of a
/// batch are stored (valid ones, the last copy of a repeated id) and, given what the database knows (hub ids
/// of the peer's ids already stored, hub flows of its flows, fresh ids and modnos from the sequences), the rows
/// to write — ids remapped to the hub's, a new flow taking the id of its first operation as backrest's oplog
/// does. `OperationStore.upsert` reads, plans and writes in one transaction.
struct OperationUpsertPlan {
    /// The operations to store, each id once, in the order of its first appearance (the last copy wins).
    let batch: [V1_Operation]
    /// Those not stored, with why.
    let skipped: [(id: Int64, reason: String)]

    init(_ operations: [V1_Operation], peerInstanceID: String) {
        var skipped: [(id: Int64, reason: String)] = []
        var latest: [Int64: V1_Operation] = [:]
        var order: [Int64] = []
        for operation in operations {
            if let reason = OperationStore.problem(with: operation, peerInstanceID: peerInstanceID) {
                skipped.append((operation.id, reason))
                continue
            }
            if latest.updateValue(operation, forKey: operation.id) == nil { order.append(operation.id) }
        }
        batch = order.compactMap { latest[$0] }
        self.skipped = skipped
    }

    var originalIDs: [Int64] { batch.map(\.id) }
    var originalFlowIDs: [Int64] { Array(Set(batch.map(\.flowID))) }

    /// Operations of the batch not stored before: each needs a fresh hub id.
    func newOperations(known: [Int64: Int64]) -> Int { batch.filter { known[$0.id] == nil }.count }

    /// The rows to write, column by column (as the INSERT's `unnest` takes them).
    struct Rows: Equatable {
        var ids: [Int64] = [], originals: [Int64] = [], originalFlows: [Int64] = [], peerModnos: [Int64] = []
        var flowIDs: [Int64] = [], modnos: [Int64] = [], instances: [String] = [], repos: [String] = []
        var guids: [String] = [], plans: [String] = [], snapshots: [String] = [], statuses: [Int32] = []
        var starts: [Int64] = [], kinds: [String] = []
        /// Each operation as stored: the hub's ids, the peer's kept in `original_*`.
        var stored: [V1_Operation] = []
    }

    /// `known`: hub id by the peer's operation id; `flows`: hub flow by the peer's flow id; `freshIDs`: at least
    /// `newOperations(known:)` new hub ids; `modnos`: one per operation of the batch.
    func rows(peerKeyID: String, known: [Int64: Int64], flows: [Int64: Int64], freshIDs: [Int64], modnos: [Int64]) throws -> Rows {
        guard modnos.count == batch.count else { throw PostgresSequenceShortfall() }
        var flowOf = flows
        var fresh = freshIDs.makeIterator()
        var rows = Rows()
        for (operation, modno) in zip(batch, modnos) {
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
            stored.modno = modno
            rows.ids.append(id)
            rows.originals.append(operation.id)
            rows.originalFlows.append(operation.flowID)
            rows.peerModnos.append(operation.modno)
            rows.flowIDs.append(flow)
            rows.modnos.append(modno)
            rows.instances.append(operation.instanceID)
            rows.repos.append(operation.repoID)
            rows.guids.append(operation.repoGuid)
            rows.plans.append(operation.planID)
            rows.snapshots.append(operation.snapshotID)
            rows.statuses.append(Int32(truncatingIfNeeded: operation.status.rawValue))
            rows.starts.append(operation.unixTimeStartMs)
            rows.kinds.append(OperationKind.of(operation))
            rows.stored.append(stored)
        }
        return rows
    }
}
