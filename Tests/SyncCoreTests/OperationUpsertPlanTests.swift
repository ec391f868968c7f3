import Foundation
import Testing
import WharfProto
import WharfTestSupport

@testable import SyncCore

/// The plan step of storing a backrest peer's operations, without a database: what is stored, and how the
/// peer's ids and flows become the hub's. The hub suites store them in PostgreSQL end to end.
@Suite("Backrest operations: the upsert plan")
struct OperationUpsertPlanTests {
    static let instance = "laptop"

    static func operation(_ id: Int64, flow: Int64, modno: Int64 = 1, snapshot: String = "") -> V1_Operation {
        var operation = backrestTestOperation(id, flow: flow, modno: modno, instanceID: instance)
        operation.snapshotID = snapshot
        return operation
    }

    @Test("invalid operations are skipped with the reason; a repeated id keeps its last copy at its first place")
    func batch() {
        var foreign = Self.operation(4, flow: 4)
        foreign.instanceID = "someone-else"
        var repeated = Self.operation(1, flow: 1, modno: 9)
        repeated.planID = "weekly"
        let plan = OperationUpsertPlan(
            [
                Self.operation(1, flow: 1), Self.operation(0, flow: 0), Self.operation(2, flow: 1), foreign, repeated,
                Self.operation(3, flow: 3, snapshot: "short"),
            ],
            peerInstanceID: Self.instance)
        #expect(plan.batch.map(\.id) == [1, 2])
        #expect(plan.batch.first?.planID == "weekly")
        #expect(plan.batch.first?.modno == 9)
        #expect(plan.skipped.map(\.id) == [0, 4, 3])
        #expect(
            plan.skipped.map(\.reason) == [
                "id is 0", "instance_id someone-else is not the peer's own (laptop)", "snapshot_id is not 64 characters",
            ])
        #expect(Set(plan.originalFlowIDs) == [1])
    }

    @Test("new operations take fresh hub ids; known ones keep theirs; a new flow takes its first operation's id; the peer's ids are kept as original")
    func rows() throws {
        let plan = OperationUpsertPlan(
            [Self.operation(10, flow: 10), Self.operation(11, flow: 10), Self.operation(12, flow: 5), Self.operation(13, flow: 0)],
            peerInstanceID: Self.instance)
        // 12 was stored before as hub id 300, in the hub flow 290 (peer flow 5).
        let known: [Int64: Int64] = [12: 300]
        #expect(plan.newOperations(known: known) == 3)
        let rows = try plan.rows(peerKeyID: "ecdsa.key", known: known, flows: [5: 290], freshIDs: [501, 502, 503], modnos: [71, 72, 73, 74])
        #expect(rows.ids == [501, 502, 300, 503])
        #expect(rows.flowIDs == [501, 501, 290, 503], "flow 10 maps to its first operation; flow 0 is its own")
        #expect(rows.originals == [10, 11, 12, 13])
        #expect(rows.originalFlows == [10, 10, 5, 0])
        #expect(rows.modnos == [71, 72, 73, 74])
        #expect(rows.peerModnos == [1, 1, 1, 1])
        let stored = try #require(rows.stored.first)
        #expect(stored.id == 501 && stored.flowID == 501 && stored.modno == 71)
        #expect(stored.originalID == 10 && stored.originalFlowID == 10 && stored.originalInstanceKeyid == "ecdsa.key")
    }

    @Test("fewer sequence values than operations is an error, never a trap or a row without an id")
    func shortfall() throws {
        let plan = OperationUpsertPlan([Self.operation(1, flow: 1), Self.operation(2, flow: 2)], peerInstanceID: Self.instance)
        #expect(throws: PostgresSequenceShortfall.self) {
            try plan.rows(peerKeyID: "k", known: [:], flows: [:], freshIDs: [7], modnos: [1, 2])
        }
        #expect(throws: PostgresSequenceShortfall.self) {
            try plan.rows(peerKeyID: "k", known: [:], flows: [:], freshIDs: [7, 8], modnos: [1])
        }
        let empty = OperationUpsertPlan([], peerInstanceID: Self.instance)
        #expect(try empty.rows(peerKeyID: "k", known: [:], flows: [:], freshIDs: [], modnos: []) == .init())
    }
}
