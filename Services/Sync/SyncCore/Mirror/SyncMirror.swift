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
        switch MirrorPlan.start(status: row.status, round: payload.round) {
        case .nothing:
            return
        case .finishDeletion:
            try await repository.transition(id, to: .deleted, from: [.deletePending])
            logger.info("sync deleted", metadata: ["sync_id": "\(id)"])
            return
        case .round(let markInProgress):
            if markInProgress { try await repository.transition(id, to: .inProgress, from: [.pending]) }
        }
        let result: MirrorPlan.RoundResult
        do {
            try await round(row)
            result = .finished
        } catch is CancellationError {
            throw CancellationError()
        } catch is MirrorStopped {
            result = .stopped
        } catch {
            let reason = Self.describe(error)
            let failures = try await repository.recordFailure(id, error: reason)
            logger.warning("sync round failed", metadata: ["sync_id": "\(id)", "failures": "\(failures)", "error": "\(reason)"])
            result = .failed(reason: reason, failures: failures)
        }
        switch MirrorPlan.next(
            after: result, round: payload.round, pollInterval: settings.pollInterval, maximumFailures: settings.maximumFailures)
        {
        case .round(let next, let delay):
            let runAt = delay == .zero ? nil : Date().addingTimeInterval(Self.seconds(delay))
            try await Self.enqueue(id, round: next, jobs: jobs, runAt: runAt)
        case .fail(let reason):
            try await repository.transition(id, to: .failed, from: [.inProgress], lastError: reason)
            logger.error("sync failed after repeated errors", metadata: ["sync_id": "\(id)", "error": "\(reason)"])
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
            var method = MirrorPlan.method(listedCIDs: row.cids)
            while true {
                do {
                    try await mirror(row, from: directory, by: method)
                    return
                } catch {
                    guard let fallback = MirrorPlan.fallback(from: method, after: error) else { throw error }
                    method = fallback
                }
            }
        }
    }

    private func mirror(_ row: SyncRepository.Row, from directory: RemoteDirectory, by method: MirrorPlan.Method) async throws {
        switch method {
        case .listed: try await mirrorListed(row, from: directory)
        case .wharf: try await mirrorWharf(row, from: directory)
        case .tagList: try await mirrorTagList(row, from: directory)
        }
    }

    /// A sync limited to `cids`: copy those this node lacks.
    private func mirrorListed(_ row: SyncRepository.Row, from directory: RemoteDirectory) async throws {
        let (need, bytes) = try await local.difference(with: .set(try Self.responder(for: row.cids)))
        try await copy(need, of: row, from: directory, method: .listed, discovered: Set(row.cids).count, reconciliationBytes: bytes)
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
                try await copy(need, of: row, from: directory, method: .wharf, discovered: need.count, reconciliationBytes: bytes)
            },
            changed: { cids in
                try await copy(cids, of: row, from: directory, method: .wharf, discovered: cids.count, reconciliationBytes: 0)
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
        try await copy(need, of: row, from: directory, method: .tagList, discovered: cids.count, reconciliationBytes: bytes + listingBytes)
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
        _ cids: [String], of row: SyncRepository.Row, from directory: RemoteDirectory, method: MirrorPlan.Method?,
        discovered: Int, reconciliationBytes: Int
    ) async throws {
        let batches = MirrorPlan.batches(count: cids.count, size: Self.batchSize)
        let pass = MirrorPlan.CopyPass(
            method: method, discovered: discovered, toCopy: cids.count, reconciliationBytes: reconciliationBytes,
            batches: batches.count)
        try await withThrowingTaskGroup(of: MirrorPlan.BatchOutcome.self) { group in
            var started = 0
            func startNext() async throws {
                // A record the remote received after DeleteSync reached this node after it too: checked here,
                // after the CIDs arrived and before anything is copied, it is never copied.
                guard try await repository.find(row.id)?.status == .inProgress else { throw MirrorStopped() }
                let batch = Array(cids[batches[started]])
                group.addTask { try await copyBatch(batch, of: row, from: directory) }
                started += 1
            }
            while started < min(batches.count, Self.batchesInFlight) { try await startNext() }
            var completed = 0
            while let outcome = try await group.next() {
                completed += 1
                let tally = MirrorPlan.tally(outcome, completed: completed, of: pass)
                try await repository.add(
                    row.id, method: method?.rawValue, discovered: tally.discovered, copied: tally.copied,
                    alreadyPresent: tally.alreadyPresent, rejected: tally.rejected, bytes: tally.bytes, inStep: tally.inStep)
                if started < batches.count { try await startNext() }
            }
        }
    }

    /// Batches copied at once by one mirror.
    static let batchesInFlight = 3

    /// Copies one batch: pulled, verified by hash, stored with referrers (journalled as copies in progress
    /// meanwhile, so a killed worker's successor finishes them), published.
    private func copyBatch(_ batch: [String], of row: SyncRepository.Row, from directory: RemoteDirectory) async throws -> MirrorPlan.BatchOutcome {
        let verification = MirrorPlan.verify(batch, pulled: try await directory.records(batch))
        var outcome = MirrorPlan.BatchOutcome(
            vanished: verification.vanished, rejected: verification.rejected.count, bytes: verification.bytes)
        for (cid, reason) in verification.rejected {
            logger.warning("mirrored record rejected: \(reason)", metadata: ["sync_id": "\(row.id)", "cid": "\(cid)"])
        }
        let verifiedCIDs = verification.verified.map(\.cid)
        try await repository.beginCopies(row.id, cids: verifiedCIDs)
        let (stored, refusedByStore) = try await local.importRecords(verification.verified)
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
