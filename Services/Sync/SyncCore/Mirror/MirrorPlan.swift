import Foundation
import GRPCCore
import RecordIdentity
import WharfProto
import WharfRuntime

/// The mirror's decisions, apart from the I/O that carries them out (`SyncMirror`), so that each is tested on
/// its own: what a job does given the sync's status, how a round finds what to copy and where it falls back,
/// what follows a round (the next one, a back-off, or FAILED once the failure budget is spent), how copies are
/// batched and counted, and which pulled records are kept.
enum MirrorPlan {
    /// What a job of round `round` (-1: the deletion job) does first.
    enum Start: Equatable {
        /// The sync is gone, failed, or the job has nothing to do for it.
        case nothing
        /// DELETE_PENDING becomes DELETED.
        case finishDeletion
        /// A round runs; a PENDING sync becomes IN_PROGRESS first.
        case round(markInProgress: Bool)
    }

    static func start(status: Agntcy_Dir_Store_V1_SyncStatus, round: Int) -> Start {
        switch status {
        case .deleted, .failed, .unspecified, .UNRECOGNIZED: return .nothing
        case .deletePending: return .finishDeletion
        case .pending: return round >= 0 ? .round(markInProgress: true) : .nothing
        case .inProgress: return round >= 0 ? .round(markInProgress: false) : .nothing
        }
    }

    /// How a round finds what the remote has and this node lacks.
    enum Method: String, Equatable {
        /// The sync names its CIDs: those this node lacks.
        case listed = "cids"
        /// A Wharf remote: set reconciliation with its store, then its change feed.
        case wharf = "negentropy"
        /// Any other Directory: its registry's tag list.
        case tagList = "oci-tags"
    }

    static func method(listedCIDs: [String]) -> Method { listedCIDs.isEmpty ? .wharf : .listed }

    /// The method a round tries after `method` failed with `error`, if any: a remote that is no Wharf node
    /// answers UNIMPLEMENTED to reconciliation, and is then enumerated by its tag list, as upstream does.
    static func fallback(from method: Method, after error: any Error) -> Method? {
        guard method == .wharf, let error = error as? RPCError, error.code == .unimplemented else { return nil }
        return .tagList
    }

    /// How a round ended.
    enum RoundResult: Equatable {
        case finished
        /// The sync left IN_PROGRESS meanwhile (deleted or failed).
        case stopped
        /// It failed, the `failures`th time in a row.
        case failed(reason: String, failures: Int)
    }

    /// What follows a round.
    enum Next: Equatable {
        case round(Int, after: Duration)
        /// The failure budget is spent: the sync becomes FAILED with `reason`.
        case fail(reason: String)
    }

    static func next(after result: RoundResult, round: Int, pollInterval: Duration, maximumFailures: Int) -> Next {
        let following = round.addingReportingOverflow(1).overflow ? round : round + 1
        switch result {
        case .finished:
            return .round(following, after: pollInterval)
        case .stopped:
            // At once: the next round settles the status (DELETED, or nothing for a FAILED sync).
            return .round(following, after: .zero)
        case .failed(let reason, let failures):
            if failures >= maximumFailures { return .fail(reason: reason) }
            return .round(following, after: pollInterval * backoffFactor(failures: failures))
        }
    }

    /// Poll intervals to wait after the `failures`th failure in a row: 1, 2, 4, 8, then 10.
    static func backoffFactor(failures: Int) -> Int {
        min(1 << min(max(failures, 1) - 1, 10), 10)
    }

    /// The batches `count` CIDs are copied in: `size` each, one empty batch when there is nothing, so that a
    /// round that found nothing still records its counts (and that it is in step).
    static func batches(count: Int, size: Int) -> [Range<Int>] {
        let count = max(count, 0)
        let size = max(size, 1)
        guard count > 0 else { return [0..<0] }
        return stride(from: 0, to: count, by: size).map { $0..<min($0 + size, count) }
    }

    /// What one batch brought.
    struct BatchOutcome: Sendable, Equatable {
        var copied = 0
        /// Asked for but no longer on the remote.
        var vanished = 0
        var rejected = 0
        var bytes = 0
    }

    /// What one copy pass is: the method it counts under (nil: finishing an interrupted round's copies, which
    /// were discovered and counted by that round), how many CIDs the round discovered, how many it copies, and
    /// the bytes its discovery took.
    struct CopyPass: Sendable, Equatable {
        var method: Method?
        var discovered: Int
        var toCopy: Int
        var reconciliationBytes: Int
        var batches: Int
    }

    /// What a finished batch adds to the sync's counters.
    struct Tally: Sendable, Equatable {
        var discovered = 0
        var copied = 0
        var alreadyPresent = 0
        var rejected = 0
        var bytes = 0
        /// The sync is caught up with the remote: the pass's last batch, nothing vanished or rejected.
        var inStep = false
    }

    /// The counters the `completed`th finished batch (from 1) of `pass` adds: the round's discovery is counted
    /// once, with the first batch, so that a kill mid-round loses or doubles nothing.
    static func tally(_ outcome: BatchOutcome, completed: Int, of pass: CopyPass) -> Tally {
        let first = completed == 1 && pass.method != nil
        return Tally(
            discovered: first ? pass.discovered : 0, copied: outcome.copied,
            alreadyPresent: first ? max(pass.discovered - pass.toCopy, 0) : 0, rejected: outcome.rejected,
            bytes: outcome.bytes.addingClamped(first ? pass.reconciliationBytes : 0),
            inStep: pass.method != nil && completed == pass.batches && outcome.vanished == 0 && outcome.rejected == 0)
    }

    /// A pulled batch sorted: records whose canonical JSON hashes to their CID are kept (one hash verifies the
    /// record); the rest are rejected with the reason; CIDs the remote no longer has are counted as vanished.
    struct Verification {
        var verified: [Wharf_Store_V1_TransferredRecord] = []
        var rejected: [(cid: String, reason: String)] = []
        var vanished = 0
        var bytes = 0
    }

    static func verify(_ batch: [String], pulled: [String: Wharf_Store_V1_TransferredRecord]) -> Verification {
        var result = Verification()
        for cid in batch {
            guard let record = pulled[cid] else {
                result.vanished += 1
                continue
            }
            guard !record.canonicalJson.isEmpty else {
                result.rejected.append((cid, "its data has no canonical JSON"))
                continue
            }
            let actual = RecordCID.of(canonicalJSON: record.canonicalJson)
            guard actual == cid else {
                result.rejected.append((cid, "its content does not hash to its CID (it hashes to \(actual))"))
                continue
            }
            result.bytes = result.bytes.addingClamped(record.canonicalJson.count)
            result.verified.append(record)
        }
        return result
    }
}
