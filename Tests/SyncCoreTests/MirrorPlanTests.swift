import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfTestSupport

@testable import SyncCore

/// The mirror's decisions on their own (no database, no remote): what a job does, how a round falls back, what
/// follows a round and when the failure budget is spent, how copies are batched and counted, which records
/// are kept. The federation suite runs them end to end.
@Suite("Mirror decisions")
struct MirrorPlanTests {
    @Test("a job's first step follows the sync's status; a deletion job (round -1) only finishes a deletion")
    func start() {
        typealias Status = Agntcy_Dir_Store_V1_SyncStatus
        #expect(MirrorPlan.start(status: .pending, round: 0) == .round(markInProgress: true))
        #expect(MirrorPlan.start(status: .inProgress, round: 7) == .round(markInProgress: false))
        #expect(MirrorPlan.start(status: .deletePending, round: 7) == .finishDeletion)
        #expect(MirrorPlan.start(status: .deletePending, round: -1) == .finishDeletion)
        for status: Status in [.deleted, .failed, .unspecified, .UNRECOGNIZED(99)] {
            #expect(MirrorPlan.start(status: status, round: 0) == .nothing, "\(status)")
        }
        #expect(MirrorPlan.start(status: .inProgress, round: -1) == .nothing)
        #expect(MirrorPlan.start(status: .pending, round: -1) == .nothing)
    }

    @Test("a sync naming CIDs copies those; a whole remote is reconciled, and enumerated by tag list only when it answers UNIMPLEMENTED")
    func methodsAndFallback() {
        #expect(MirrorPlan.method(listedCIDs: ["baeareia"]) == .listed)
        #expect(MirrorPlan.method(listedCIDs: []) == .wharf)
        #expect(MirrorPlan.fallback(from: .wharf, after: RPCError(code: .unimplemented, message: "no")) == .tagList)
        // Any other failure is the round's: a remote that is down must not be enumerated another way.
        #expect(MirrorPlan.fallback(from: .wharf, after: RPCError(code: .unavailable, message: "down")) == nil)
        #expect(MirrorPlan.fallback(from: .wharf, after: MirrorFailure("refused")) == nil)
        // Neither a listed sync nor the tag list falls back further.
        #expect(MirrorPlan.fallback(from: .listed, after: RPCError(code: .unimplemented, message: "no")) == nil)
        #expect(MirrorPlan.fallback(from: .tagList, after: RPCError(code: .unimplemented, message: "no")) == nil)
        #expect([MirrorPlan.Method.listed, .wharf, .tagList].map(\.rawValue) == ["cids", "negentropy", "oci-tags"])
    }

    @Test("after a round: the next one a poll interval later, at once after a stop; failures back off 1, 2, 4, 8, 10 intervals and spend the budget")
    func nextRound() {
        let poll = Duration.seconds(30)
        func next(_ result: MirrorPlan.RoundResult, round: Int = 4, budget: Int = 5) -> MirrorPlan.Next {
            MirrorPlan.next(after: result, round: round, pollInterval: poll, maximumFailures: budget)
        }
        #expect(next(.finished) == .round(5, after: poll))
        #expect(next(.stopped) == .round(5, after: .zero))
        let delays = (1...4).map { next(.failed(reason: "down", failures: $0), budget: 100) }
        #expect(delays == [1, 2, 4, 8].map { .round(5, after: poll * $0) })
        #expect(next(.failed(reason: "down", failures: 5), budget: 100) == .round(5, after: poll * 10))
        #expect(next(.failed(reason: "down", failures: 70), budget: 100) == .round(5, after: poll * 10))
        // The budget: the fifth failure in a row of five allowed ends the sync, with its reason.
        #expect(next(.failed(reason: "down", failures: 4)) == .round(5, after: poll * 8))
        #expect(next(.failed(reason: "remote refused", failures: 5)) == .fail(reason: "remote refused"))
        #expect(next(.failed(reason: "x", failures: Int.max)) == .fail(reason: "x"))
        // A round number at the end of Int does not trap.
        #expect(next(.finished, round: .max) == .round(.max, after: poll))
        #expect(MirrorPlan.backoffFactor(failures: 0) == 1)
        #expect(MirrorPlan.backoffFactor(failures: .min) == 1)
    }

    @Test("copies are cut into batches of the batch size; nothing to copy is one empty batch")
    func batches() {
        #expect(MirrorPlan.batches(count: 0, size: 512) == [0..<0])
        #expect(MirrorPlan.batches(count: 1, size: 512) == [0..<1])
        #expect(MirrorPlan.batches(count: 512, size: 512) == [0..<512])
        #expect(MirrorPlan.batches(count: 1_100, size: 512) == [0..<512, 512..<1_024, 1_024..<1_100])
        #expect(MirrorPlan.batches(count: -3, size: 0) == [0..<0])
    }

    @Test(
        "the round's discovery is counted once, with the first batch; in step only after a clean last batch; finishing a journal counts copies only")
    func tally() {
        let pass = MirrorPlan.CopyPass(method: .wharf, discovered: 1_000, toCopy: 600, reconciliationBytes: 4_096, batches: 2)
        let clean = MirrorPlan.BatchOutcome(copied: 512, bytes: 100_000)
        #expect(
            MirrorPlan.tally(clean, completed: 1, of: pass)
                == .init(discovered: 1_000, copied: 512, alreadyPresent: 400, bytes: 104_096, inStep: false))
        #expect(MirrorPlan.tally(clean, completed: 2, of: pass) == .init(copied: 512, bytes: 100_000, inStep: true))
        // A record that vanished or was rejected in the last batch: not in step, the next round looks again.
        #expect(!MirrorPlan.tally(.init(copied: 80, vanished: 8), completed: 2, of: pass).inStep)
        #expect(MirrorPlan.tally(.init(copied: 80, rejected: 8), completed: 2, of: pass) == .init(copied: 80, rejected: 8))
        // An interrupted round's journal: those copies were discovered and counted by that round.
        var journal = pass
        journal.method = nil
        #expect(MirrorPlan.tally(clean, completed: 1, of: journal) == .init(copied: 512, bytes: 100_000))
        #expect(!MirrorPlan.tally(clean, completed: 2, of: journal).inStep)
        // Extremes a remote could cause do not trap.
        let huge = MirrorPlan.CopyPass(method: .listed, discovered: 0, toCopy: 5, reconciliationBytes: .max, batches: 1)
        #expect(MirrorPlan.tally(.init(bytes: .max), completed: 1, of: huge) == .init(bytes: .max, inStep: true))
    }

    @Test("pulled records are kept only when their canonical JSON hashes to their CID (upstream's vectors); missing ones vanish")
    func verification() throws {
        let vectors = try UpstreamRecordVectors.canonical()
        try #require(vectors.count >= 2)
        let (good, other) = (vectors[0], vectors[1])
        let record = { (cid: String, json: Data) in
            Wharf_Store_V1_TransferredRecord.with {
                $0.cid = cid
                $0.canonicalJson = json
                $0.found = true
            }
        }
        let pulled = [
            good.cid: record(good.cid, good.canonicalJSON),
            // Another record's content under this CID.
            other.cid: record(other.cid, good.canonicalJSON),
            "baeareiempty": record("baeareiempty", Data()),
        ]
        let result = MirrorPlan.verify([good.cid, other.cid, "baeareiempty", "baeareigone"], pulled: pulled)
        #expect(result.verified.map(\.cid) == [good.cid])
        #expect(result.bytes == good.canonicalJSON.count)
        #expect(result.vanished == 1)
        #expect(result.rejected.map(\.cid) == [other.cid, "baeareiempty"])
        #expect(result.rejected.first?.reason == "its content does not hash to its CID (it hashes to \(good.cid))")
        #expect(result.rejected.last?.reason == "its data has no canonical JSON")
    }
}
