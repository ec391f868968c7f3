import Foundation
import GRPCCore
import Logging
import NegentropyProtocol
import RecordIdentity
import Synchronization
import WharfEvents
import WharfProto
import WharfRuntime

/// `wharf.store.v1.RecordReconciliation`: negentropy over the store's CID set (as responder, or as an
/// initiator whose messages the caller relays to another store), and the change feed. Reconciliations share
/// one resident copy of the set (`RecordSetSnapshot`, brought up to date before each); only a few run at once.
struct RecordReconciliationService: Wharf_Store_V1_RecordReconciliation.ServiceProtocol {
    /// Reconciliations (of either kind) running at once in this process; the last two are kept for callers
    /// with this node's admin token (its own sync and routing), so strangers can never take them all.
    static let maximumReconciliations = 6
    static let reconciliationsKeptForThisNode = 2
    /// Change-feed followers at once in this process (16 of them kept for this node's own services).
    static let maximumWatchers = 64
    static let watchersKeptForThisNode = 16

    /// Negentropy frames are kept well below the gRPC message limit.
    static let frameSizeLimit = 512 * 1024
    /// Rounds one reconciliation may take (a million-record difference takes a few dozen).
    static let maximumRounds = 10_000
    static let cidsPerMessage = 10_000

    let repository: RecordRepository
    let changes: RecordChangeFeed
    let events: EventBus?
    let logger: Logger
    let reconciliations: SlotLimiter
    let watchers: SlotLimiter
    /// Who may use the places kept for this node.
    let adminToken: SharedSecret?
    /// A reconciliation or a follower that makes no progress for this long loses its place.
    let idleTimeout: Duration
    /// A follower is ended after this long and reconnects: no place is held for ever.
    let watchDuration: Duration

    private let recordSet: RecordSetSnapshot

    /// `reconciliations` and `watchers` are built by the caller with the limits above (and its metrics).
    init(
        repository: RecordRepository, changes: RecordChangeFeed, recordSet: RecordSetSnapshot, events: EventBus?,
        adminToken: SharedSecret?, idleTimeout: Duration, watchDuration: Duration, reconciliations: SlotLimiter, watchers: SlotLimiter,
        logger: Logger
    ) {
        self.watchDuration = watchDuration
        self.repository = repository
        self.changes = changes
        self.recordSet = recordSet
        self.events = events
        self.adminToken = adminToken
        self.idleTimeout = idleTimeout
        self.logger = logger
        self.reconciliations = reconciliations
        self.watchers = watchers
    }

    private func reconciliationSlot(_ metadata: Metadata) throws -> SlotLimiter.Slot {
        try reconciliations.acquireOrRefuse(
            credentialed: AdminBoundaryInterceptor.isCredentialed(metadata, token: adminToken),
            "reconciliations are running")
    }

    func reconcile(request: StreamingServerRequest<Wharf_Store_V1_ReconcileMessage>, context: ServerContext)
        async throws -> StreamingServerResponse<Wharf_Store_V1_ReconcileMessage>
    {
        let slot = try reconciliationSlot(request.metadata)
        return StreamingServerResponse { [self] writer in
            defer { slot.release() }
            try await IdleWatchdog.run(limit: idleTimeout, what: "a reconciliation", releasing: slot) { activity in
                let negentropy = try await snapshot()
                var rounds = 0
                for try await message in request.messages {
                    activity.touch()
                    rounds += 1
                    guard rounds <= Self.maximumRounds else { throw Self.tooManyRounds }
                    let step: Negentropy<SortedItems>.ResponderStep
                    do {
                        step = try negentropy.reconcileAsResponder(Array(message.negentropy), differences: false)
                    } catch {
                        throw RPCError(code: .invalidArgument, message: "negentropy message \(rounds) is invalid: \(error)")
                    }
                    try await writer.write(.with { $0.negentropy = Data(step.reply) })
                    activity.touch()
                }
            }
            return [:]
        }
    }

    func initiate(request: StreamingServerRequest<Wharf_Store_V1_ReconcileMessage>, context: ServerContext)
        async throws -> StreamingServerResponse<Wharf_Store_V1_InitiatorStep>
    {
        let slot = try reconciliationSlot(request.metadata)
        return StreamingServerResponse { [self] writer in
            defer { slot.release() }
            try await IdleWatchdog.run(limit: idleTimeout, what: "a reconciliation", releasing: slot) { activity in
                let negentropy = try await snapshot()
                var rounds = 0
                for try await message in request.messages {
                    activity.touch()
                    rounds += 1
                    guard rounds <= Self.maximumRounds else { throw Self.tooManyRounds }
                    if rounds == 1 {
                        guard message.negentropy.isEmpty else {
                            throw RPCError(code: .invalidArgument, message: "the first message of Initiate must be empty")
                        }
                        try await writer.write(
                            .with {
                                $0.roundComplete = true; $0.negentropy = Data(negentropy.initiate())
                            })
                        activity.touch()
                        continue
                    }
                    let step: Negentropy<SortedItems>.InitiatorStep
                    do {
                        step = try negentropy.reconcileAsInitiator(Array(message.negentropy))
                    } catch {
                        throw RPCError(code: .invalidArgument, message: "responder message \(rounds - 1) is invalid: \(error)")
                    }
                    let have = step.have.map { RecordCID.string(digest: $0.bytes) }
                    let need = step.need.map { RecordCID.string(digest: $0.bytes) }
                    var sentHave = 0, sentNeed = 0
                    repeat {
                        let haveChunk = have[sentHave..<min(have.count, sentHave + Self.cidsPerMessage)]
                        let needChunk = need[sentNeed..<min(need.count, sentNeed + Self.cidsPerMessage - haveChunk.count)]
                        sentHave += haveChunk.count
                        sentNeed += needChunk.count
                        let last = sentHave == have.count && sentNeed == need.count
                        try await writer.write(
                            .with {
                                $0.haveCids = Array(haveChunk)
                                $0.needCids = Array(needChunk)
                                if last {
                                    $0.roundComplete = true
                                    $0.negentropy = Data(step.next ?? [])
                                    $0.done = step.next == nil
                                }
                            })
                        activity.touch()
                    } while sentHave < have.count || sentNeed < need.count
                    if step.next == nil { break }
                }
            }
            return [:]
        }
    }

    func watchRecords(request: ServerRequest<Wharf_Store_V1_WatchRecordsRequest>, context: ServerContext)
        async throws -> StreamingServerResponse<Wharf_Store_V1_RecordChange>
    {
        let message = request.message
        let slot = try watchers.acquireOrRefuse(
            credentialed: AdminBoundaryInterceptor.isCredentialed(request.metadata, token: adminToken),
            "change-feed watchers are connected")
        return StreamingServerResponse { [self] writer in
            defer { slot.release() }
            let ends = ContinuousClock.now + watchDuration
            try await IdleWatchdog.run(limit: idleTimeout, what: "a change-feed watcher", releasing: slot) { activity in
                let latest = try await storage { try await changes.latestSequence() }
                var after = message.afterSequence == 0 ? latest : min(Int64(clamping: message.afterSequence), latest)
                var caughtUp = false
                // Wake-ups: the store's own events (this replica's and the others'), else a short poll.
                let pushed = events?.events(of: RecordPushed.self)
                let deleted = events?.events(of: RecordDeleted.self)
                let bell = Doorbell()
                let listeners = Task {
                    await withDiscardingTaskGroup { group in
                        if let pushed { group.addTask { for await _ in pushed { bell.ring() } } }
                        if let deleted { group.addTask { for await _ in deleted { bell.ring() } } }
                    }
                }
                defer { listeners.cancel() }
                while !Task.isCancelled, ContinuousClock.now < ends {
                    activity.touch()
                    let batch = try await storage { try await changes.changes(after: after, limit: 1000) }
                    for change in batch {
                        try await writer.write(
                            .with {
                                $0.sequence = UInt64(change.sequence)
                                $0.cid = change.cid
                                $0.present = change.present
                            })
                        activity.touch()
                        after = change.sequence
                    }
                    if batch.count < 1000 {
                        if !caughtUp {
                            caughtUp = true
                            try await writer.write(.with { $0.sequence = UInt64(after) })
                        }
                        await bell.wait(timeout: .milliseconds(500))
                    }
                }
            }
            return [:]
        }
    }

    /// The store's CID set, sorted, for one reconciliation.
    private func snapshot() async throws -> Negentropy<SortedItems> {
        do {
            return try await storage { try await recordSet.negentropy() }
        } catch let error as RPCError {
            throw error
        } catch {
            throw RPCError(code: .internalError, message: "the record set could not be prepared for reconciliation: \(error)")
        }
    }

    private func storage<T>(_ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(
            "reconcile records", logger: logger, "record reconciliation storage failed",
            as: { RPCError(code: .unavailable, message: "\($0): the store database is unavailable") }, body)
    }

    private static let tooManyRounds = RPCError(code: .resourceExhausted, message: "at most \(maximumRounds) negentropy rounds per reconciliation")
}
