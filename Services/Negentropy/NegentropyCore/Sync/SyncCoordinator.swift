import Foundation
import Logging
import WharfRuntime

/// Peer syncs as jobs in the shared job table: one peer (`negentropy.sync-peer`), or all peers
/// (`negentropy.sync-all`), which the background loop re-enqueues every interval while it is active. Any
/// replica's worker may run them; the outcome lands in the peer's row.
public struct SyncCoordinator: Sendable {
    public static let peerJob = "negentropy.sync-peer"
    public static let allJob = "negentropy.sync-all"

    struct PeerPayload: Codable, Sendable { var url: String }
    struct AllPayload: Codable, Sendable { var loop: Bool }

    public let peers: PeerRepository
    private let jobs: JobQueue
    private let sync: PeerSync
    /// The filter peer syncs reconcile (empty: every event).
    private let filter: NostrFilter
    private let interval: Duration
    private let logger: Logger

    public init(peers: PeerRepository, jobs: JobQueue, sync: PeerSync, filter: NostrFilter, interval: Duration, logger: Logger) {
        self.peers = peers
        self.jobs = jobs
        self.sync = sync
        self.filter = filter
        self.interval = interval
        self.logger = logger
    }

    public var jobHandlers: [String: JobHandler] {
        [
            Self.peerJob: { job in
                let payload = try job.decodePayload(PeerPayload.self)
                guard try await peers.state(of: payload.url) != nil else { return }  // removed meanwhile
                // A failed sync is recorded in the peer's row and retried by the next trigger or loop pass;
                // only a failure to record it (PostgreSQL) makes the job retry.
                do { try await syncPeer(payload.url) } catch is PeerSyncError {}
            },
            Self.allJob: { job in try await syncAll(loop: try job.decodePayload(AllPayload.self).loop) },
        ]
    }

    /// Syncs with one peer and records the outcome in its row (when it is a configured peer). Throws the
    /// sync's failure after recording it.
    @discardableResult
    public func syncPeer(
        _ url: String, filter: NostrFilter? = nil,
        progress: @escaping @Sendable (PeerSyncProgress) async -> Void = { _ in }
    ) async throws -> PeerSyncProgress {
        let known = try await peers.state(of: url) != nil
        if known { try await peers.markSyncing(url) }
        do {
            let result = try await sync.run(peerURL: url, filter: filter ?? self.filter, progress: progress)
            if known { try await peers.recordSuccess(url, eventsSynced: result.fetched + result.sent) }
            logger.info(
                "peer synced",
                metadata: [
                    "peer": "\(url)", "have": "\(result.have)", "need": "\(result.need)",
                    "fetched": "\(result.fetched)", "sent": "\(result.sent)", "rounds": "\(result.round)",
                ])
            return result
        } catch {
            if known { try await peers.recordFailure(url, error: "\(error)") }
            logger.warning("peer sync failed", metadata: ["peer": "\(url)", "error": "\(error)"])
            throw error
        }
    }

    /// Every configured peer once (failures are recorded per peer); then, for the loop, the next pass.
    func syncAll(loop: Bool) async throws {
        if loop, try await !peers.loop().active { return }
        for peer in try await peers.all() {
            _ = try? await syncPeer(peer.url)
        }
        try await peers.recordFullPass()
        if loop, try await peers.loop().active {
            try await jobs.enqueue(
                kind: Self.allJob, payload: AllPayload(loop: true),
                runAt: Date().addingTimeInterval(Double(interval.components.seconds)), uniqueKey: "loop")
        }
    }

    /// Starts the background loop (idempotent): its first pass runs after a short delay, as ORLY's.
    public func start() async throws {
        try await peers.setLoopActive(true)
        try await jobs.enqueue(kind: Self.allJob, payload: AllPayload(loop: true), runAt: Date().addingTimeInterval(5), uniqueKey: "loop")
    }

    /// Stops the loop: a pending pass finds it inactive and does nothing.
    public func stop() async throws {
        try await peers.setLoopActive(false)
    }

    public func triggerAll() async throws {
        try await jobs.enqueue(kind: Self.allJob, payload: AllPayload(loop: false), uniqueKey: "manual")
    }

    public func trigger(peer url: String) async throws {
        try await jobs.enqueue(kind: Self.peerJob, payload: PeerPayload(url: url), uniqueKey: url)
    }
}
