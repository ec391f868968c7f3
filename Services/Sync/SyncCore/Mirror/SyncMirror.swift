import Foundation
import GRPCCore
import Logging
import NegentropyProtocol
import RecordIdentity
import WharfProto
import WharfRuntime

/// The mirror of one sync, as a chain of jobs (`sync.mirror`, any replica): each run is one round — find
/// what the remote has and this node lacks, copy it verified, and, from a Wharf remote, follow its change
/// feed for a while — and ends by enqueueing the next round. A killed worker's round is taken over by
/// another replica once its lease expires; copying is idempotent (the difference is computed afresh), so a
/// round run twice duplicates nothing.
public struct SyncMirror: Sendable {
    static let jobKind = "sync.mirror"
    /// Records pulled, verified and pushed together.
    static let batchSize = 512

    struct Payload: Codable, Sendable {
        var syncID: String
        var round: Int
    }

    let repository: SyncRepository
    let local: LocalDirectory
    let settings: SyncSettings
    let nodeID: String
    let jobs: JobQueue
    let logger: Logger

    /// Enqueues round `round` of the sync (unique per round, so a retried round does not fork the chain).
    static func enqueue(_ id: UUID, round: Int = 0, jobs: JobQueue, runAt: Date? = nil) async throws {
        try await jobs.enqueue(
            kind: jobKind, payload: Payload(syncID: id.uuidString, round: round), runAt: runAt,
            uniqueKey: "\(id.uuidString)#\(round)", maxAttempts: 1000)
    }

    /// Enqueues the job that moves a DELETE_PENDING sync to DELETED.
    static func enqueueDeletion(_ id: UUID, jobs: JobQueue) async throws {
        try await jobs.enqueue(kind: jobKind, payload: Payload(syncID: id.uuidString, round: -1), uniqueKey: "\(id.uuidString)#delete")
    }

    /// Runs one round of the job's sync.
    func run(_ job: Job) async throws {
        let payload = try job.decodePayload(Payload.self)
        guard let id = UUID(uuidString: payload.syncID), let row = try await repository.find(id) else { return }
        switch row.status {
        case .deleted, .failed, .unspecified, .UNRECOGNIZED:
            return
        case .deletePending:
            try await repository.transition(id, to: .deleted, from: [.deletePending])
            logger.info("sync deleted", metadata: ["sync_id": "\(id)"])
            return
        case .pending:
            try await repository.transition(id, to: .inProgress, from: [.pending])
        case .inProgress:
            break
        }
        guard payload.round >= 0 else { return }  // a deletion job for a sync that is not being deleted
        do {
            try await round(row)
            try await Self.enqueue(id, round: payload.round + 1, jobs: jobs, runAt: Date().addingTimeInterval(Self.seconds(settings.pollInterval)))
        } catch is CancellationError {
            throw CancellationError()
        } catch is MirrorStopped {
            // Deleted (or failed) meanwhile: the next round, at once, settles the status.
            try await Self.enqueue(id, round: payload.round + 1, jobs: jobs)
        } catch {
            let reason = Self.describe(error)
            let failures = try await repository.recordFailure(id, error: reason)
            logger.warning("sync round failed", metadata: ["sync_id": "\(id)", "failures": "\(failures)", "error": "\(reason)"])
            if failures >= settings.maximumFailures {
                try await repository.transition(id, to: .failed, from: [.inProgress], lastError: reason)
                logger.error("sync failed after repeated errors", metadata: ["sync_id": "\(id)", "error": "\(reason)"])
                return
            }
            // Back off: 1, 2, 4 … poll intervals, at most 10.
            let delay = Self.seconds(settings.pollInterval) * Double(min(1 << min(failures - 1, 10), 10))
            try await Self.enqueue(id, round: payload.round + 1, jobs: jobs, runAt: Date().addingTimeInterval(delay))
        }
    }

    private func round(_ row: SyncRepository.Row) async throws {
        let remote = try RemoteDirectoryURL(validating: row.remoteDirectoryURL)
        let address: IPAddressBytes
        switch await settings.allowedRemotes.checkedAddresses(host: remote.host) {
        case .failure(let refusal): throw MirrorFailure("remote directory refused: \(refusal)")
        case .success(let addresses):
            guard let first = addresses.first else { throw MirrorFailure("remote directory refused: \(remote.host) has no address") }
            address = first
        }
        try await RemoteDirectory.with(remote, at: address) { directory in
            try await finishUnfinishedCopies(row, from: directory)
            if !row.cids.isEmpty {
                try await mirrorListed(row, from: directory)
                return
            }
            do {
                try await mirrorWharf(row, from: directory)
            } catch let error as RPCError where error.code == .unimplemented {
                // Not a Wharf node (no reconciliation or change feed): enumerate its OCI tag list, as upstream.
                try await mirrorTagList(row, from: directory)
            }
        }
    }

    /// A sync limited to `cids`: copy those this node lacks.
    private func mirrorListed(_ row: SyncRepository.Row, from directory: RemoteDirectory) async throws {
        let (need, bytes) = try await local.difference(with: .set(try Self.responder(for: row.cids)))
        try await copy(need, of: row, from: directory, method: "cids", discovered: Set(row.cids).count, reconciliationBytes: bytes)
    }

    /// A whole Wharf remote: reconcile the two stores' sets, copy the difference, then follow the remote's
    /// change feed until the round's time is up (or the sync is deleted).
    private func mirrorWharf(_ row: SyncRepository.Row, from directory: RemoteDirectory) async throws {
        try await ChangeFollower.follow(
            directory, for: settings.pollInterval,
            statusCheck: { [repository] inStep in
                if inStep { try await repository.markInStep(row.id) }
                return try await repository.find(row.id)?.status == .inProgress
            },
            catchUp: {
                let (need, bytes) = try await local.difference(with: .remote(directory))
                try await copy(need, of: row, from: directory, method: "negentropy", discovered: need.count, reconciliationBytes: bytes)
            },
            changed: { cids in
                try await copy(cids, of: row, from: directory, method: "negentropy", discovered: cids.count, reconciliationBytes: 0)
            })
    }

    /// Any other Directory: ask it for registry credentials for this node, list the tags (CIDs) of its
    /// repository `dir`, and copy those this node lacks (found by the local store's reconciliation against the
    /// listed set, so that the local set is never loaded here).
    private func mirrorTagList(_ row: SyncRepository.Row, from directory: RemoteDirectory) async throws {
        let credentials = try await directory.requestRegistryCredentials(nodeID: nodeID)
        guard credentials.success else {
            throw MirrorFailure("the remote refused registry credentials: \(credentials.errorMessage.prefix(500))")
        }
        var registry = try RegistryTagList(
            registry: credentials.remoteRegistryURL, username: credentials.basicAuth.username,
            password: credentials.basicAuth.password)
        // Every page is fetched from the address checked here, never from the name resolved again.
        switch await settings.allowedRemotes.checkedAddresses(host: registry.host) {
        case .failure(let refusal): throw MirrorFailure("the remote's registry refused: \(refusal)")
        case .success(let addresses): registry.address = addresses.first
        }
        let (tags, listingBytes) = try await registry.all()
        let cids = tags.filter { RecordCID.digest(of: $0) != nil }
        let (need, bytes) = try await local.difference(with: .set(try Self.responder(for: cids)))
        try await copy(need, of: row, from: directory, method: "oci-tags", discovered: cids.count, reconciliationBytes: bytes + listingBytes)
    }

    /// Copies a killed worker began: they may be in the local store already without their referrers or
    /// routing entry, which no difference would show; pushing and publishing again is harmless. Not counted
    /// again as copied.
    private func finishUnfinishedCopies(_ row: SyncRepository.Row, from directory: RemoteDirectory) async throws {
        while true {
            let unfinished = try await repository.unfinishedCopies(row.id, limit: Self.batchSize)
            guard !unfinished.isEmpty else { return }
            logger.info("finishing copies an interrupted round began", metadata: ["sync_id": "\(row.id)", "count": "\(unfinished.count)"])
            try await copy(unfinished, of: row, from: directory, method: nil, discovered: 0, reconciliationBytes: 0)
            // Those the remote no longer has, or that failed verification, are not retried for ever.
            try await repository.endCopies(row.id, cids: unfinished)
        }
    }

    /// Pulls `cids` from the remote in batches, keeps those whose content hashes to their CID, stores them
    /// with their referrers, and publishes them in this node's routing. A few batches are in flight at once,
    /// so that the remote's export, this store's import and routing's indexing overlap. `method` nil:
    /// finishing an interrupted round's copies (counted as copied, the sync's method kept).
    private func copy(
        _ cids: [String], of row: SyncRepository.Row, from directory: RemoteDirectory, method: String?,
        discovered: Int, reconciliationBytes: Int
    ) async throws {
        let starts = Array(stride(from: 0, to: max(cids.count, 1), by: Self.batchSize))
        try await withThrowingTaskGroup(of: BatchOutcome.self) { group in
            var started = 0
            func startNext() async throws {
                // A record the remote received after DeleteSync reached this node after it too: checked here,
                // after the CIDs arrived and before anything is copied, it is never copied.
                guard try await repository.find(row.id)?.status == .inProgress else { throw MirrorStopped() }
                let start = starts[started]
                let batch = Array(cids[min(start, cids.count)..<min(start + Self.batchSize, cids.count)])
                group.addTask { try await copyBatch(batch, of: row, from: directory) }
                started += 1
            }
            while started < min(starts.count, Self.batchesInFlight) { try await startNext() }
            var completed = 0
            while let outcome = try await group.next() {
                completed += 1
                // Copies an interrupted round journalled were not counted then (a batch is counted after its
                // journal entries are removed): they are counted when finished, so a kill loses no count.
                let first = completed == 1 && method != nil
                try await repository.add(
                    row.id, method: method, discovered: first ? discovered : 0, copied: outcome.copied,
                    alreadyPresent: first ? discovered - cids.count : 0, rejected: outcome.rejected,
                    bytes: outcome.bytes + (first ? reconciliationBytes : 0),
                    inStep: method != nil && completed == starts.count && outcome.vanished == 0 && outcome.rejected == 0)
                if started < starts.count { try await startNext() }
            }
        }
    }

    /// Batches copied at once by one mirror.
    static let batchesInFlight = 3

    struct BatchOutcome: Sendable {
        var copied = 0
        /// Asked for but no longer on the remote.
        var vanished = 0
        var rejected = 0
        var bytes = 0
    }

    /// Copies one batch: pulled, verified by hash, stored with referrers (marked as copies in progress
    /// meanwhile, so a killed worker's successor finishes them), published.
    private func copyBatch(_ batch: [String], of row: SyncRepository.Row, from directory: RemoteDirectory) async throws -> BatchOutcome {
        let pulled = try await directory.records(batch)
        var outcome = BatchOutcome(vanished: batch.count - pulled.count)
        var verified: [Wharf_Store_V1_TransferredRecord] = []
        for cid in batch {
            guard let record = pulled[cid] else { continue }
            guard !record.canonicalJson.isEmpty else {
                outcome.rejected += 1
                logger.warning("mirrored record rejected: its data has no canonical JSON", metadata: ["sync_id": "\(row.id)", "cid": "\(cid)"])
                continue
            }
            // The CID is the hash of the canonical JSON: one hash verifies the record.
            let actual = RecordCID.of(canonicalJSON: record.canonicalJson)
            guard actual == cid else {
                outcome.rejected += 1
                logger.warning(
                    "mirrored record rejected: its content does not hash to its CID",
                    metadata: ["sync_id": "\(row.id)", "expected_cid": "\(cid)", "actual_cid": "\(actual)"])
                continue
            }
            outcome.bytes += record.canonicalJson.count
            verified.append(record)
        }
        let verifiedCIDs = verified.map(\.cid)
        try await repository.beginCopies(row.id, cids: verifiedCIDs)
        let (stored, refusedByStore) = try await local.importRecords(verified)
        for refused in refusedByStore {
            // The hash matched, so the remote keeps something this store would not take (JSON that is not
            // canonical, a record over a limit): copying it again would not change that.
            outcome.rejected += 1
            logger.warning(
                "mirrored record refused by the local store",
                metadata: ["sync_id": "\(row.id)", "cid": "\(refused.cid)", "code": "\(refused.code)", "reason": "\(refused.message)"])
        }
        for refused in try await local.publish(stored) {
            // Stored and pullable, only not listed by label here; copying it again would not change that.
            logger.warning(
                "mirrored record stored but not published in routing",
                metadata: [
                    "sync_id": "\(row.id)", "cid": "\(refused.recordCid)", "code": "\(refused.code)",
                    "reason": "\(refused.message)",
                ])
        }
        try await repository.endCopies(row.id, cids: verifiedCIDs)
        outcome.copied = stored.count
        return outcome
    }

    /// A responder holding `cids` (a listed sync, or a remote's tag list) for the local store's Initiate.
    static func responder(for cids: [String]) throws -> Negentropy<SortedItems> {
        let items = Set(cids.compactMap { RecordCID.digest(of: $0).flatMap(EventID.init(bytes:)) }).map { NegentropyItem(timestamp: 0, id: $0) }
        return try Negentropy(storage: try SortedItems(items), frameSizeLimit: 512 * 1024, buckets: Negentropy<SortedItems>.fewestBytesBuckets)
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}

/// The sync left IN_PROGRESS while a round was copying.
struct MirrorStopped: Error {}

struct MirrorFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
