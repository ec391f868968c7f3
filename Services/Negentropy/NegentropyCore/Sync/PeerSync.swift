import Foundation
import HummingbirdWSClient
import Logging
import NegentropyProtocol
import Synchronization
import WharfEncoding
import WharfRuntime

/// Counters of one sync with a peer relay, reported after every round.
public struct PeerSyncProgress: Sendable, Equatable {
    public var round = 0
    /// Ids we have and the peer lacks, and ids the peer has and we lack (deduplicated across rounds).
    public var have = 0
    public var need = 0
    /// Needed events received, valid and stored; our events the peer accepted.
    public var fetched = 0
    public var sent = 0
    /// Events the peer sent for our REQs (stored or not), and needed ids never asked for because their
    /// authors deleted them here.
    public var received = 0
    public var skippedDeleted = 0
}

public struct PeerSyncError: Error, CustomStringConvertible, Sendable {
    public var description: String
    init(_ description: String) { self.description = description }
}

/// Reconciles with a peer relay over NIP-77 as the initiator, then downloads what we need with
/// `REQ {"ids": …}` and uploads what the peer lacks with `EVENT` (waiting for each batch's `OK`s).
/// A peer that does not answer the NEG-OPEN in time, goes quiet, or refuses with NOTICE, CLOSED or NEG-ERR
/// fails the sync with the reason.
public struct PeerSync: Sendable {
    public struct Settings: Sendable {
        /// Initiator frame size limit (strfry's sync uses 60,000).
        public var frameSizeLimit = 60_000
        public var maximumSetSize = 1_000_000
        public var initialTimeout: Duration = .seconds(10)
        public var idleTimeout: Duration = .seconds(30)
        public var maximumRounds = 10_000
        /// Ids per REQ, and REQs under way at once; events uploaded without their OK yet.
        public var batchSize = 500
        public var requestsInFlight = 4
        public var uploadWindow = 1000
        /// Received events being verified and stored at once, and their bytes.
        public var savesInFlight = 2000
        public var saveBytesInFlight = 32 << 20
        /// What a fetched event must satisfy to be stored (the relay's own rules for EVENTs).
        public var eventRules = EventRules()
        /// Hosts a sync may dial (`WHARF_NEGENTROPY_ALLOWED_PEERS`); checked before every dial.
        public var allowedPeers = OutboundAllowList(empty: "WHARF_NEGENTROPY_ALLOWED_PEERS")

        public init() {}
    }

    private let store: EventStore
    /// This side's set comes from here when the sync's filter is indexed (nil, or not indexed: PostgreSQL).
    private let indexes: ResidentIndexes?
    private let live: LiveEvents?
    private let settings: Settings
    private let logger: Logger

    public init(store: EventStore, indexes: ResidentIndexes? = nil, live: LiveEvents?, settings: Settings = Settings(), logger: Logger) {
        self.store = store
        self.indexes = indexes
        self.live = live
        self.settings = settings
        self.logger = logger
    }

    /// ORLY's rule: a URL without a ws/wss scheme is taken as `wss://`.
    public static func webSocketURL(_ peerURL: String) -> String {
        peerURL.hasPrefix("ws") ? peerURL : "wss://" + peerURL
    }

    public func run(
        peerURL: String, filter: NostrFilter,
        progress: @escaping @Sendable (PeerSyncProgress) async -> Void = { _ in }
    ) async throws -> PeerSyncProgress {
        // Whatever the URL came from (a request, the configuration, a row written by an older version), the
        // WebSocket client only ever sees a validated one.
        if case .failure(let problem) = PeerURL.validated(peerURL) { throw PeerSyncError(problem.description) }
        let dialled: String
        switch await PeerURL.dialTarget(peerURL, by: settings.allowedPeers) {
        case .failure(let refusal): throw PeerSyncError(refusal.description)
        case .success(let target): dialled = target
        }
        if let resident = indexes?.snapshot(for: filter) {
            guard resident.count <= settings.maximumSetSize else {
                throw PeerSyncError("too many local events match the filter (more than \(settings.maximumSetSize))")
            }
            return try await run(peerURL: peerURL, dialled: dialled, filter: filter, storage: resident, progress: progress)
        }
        switch try await store.snapshot(filter, maximum: settings.maximumSetSize) {
        case .tooMany: throw PeerSyncError("too many local events match the filter (more than \(settings.maximumSetSize))")
        case .items(let items): return try await run(peerURL: peerURL, dialled: dialled, filter: filter, storage: items, progress: progress)
        }
    }

    private func run<Storage: NegentropyStorage>(
        peerURL: String, dialled: String, filter: NostrFilter, storage: Storage,
        progress: @escaping @Sendable (PeerSyncProgress) async -> Void
    ) async throws -> PeerSyncProgress {
        let negentropy = try Negentropy(storage: storage, frameSizeLimit: settings.frameSizeLimit)
        // Set by the session; what the socket does after it (the close handshake) does not change it.
        let outcome = Mutex<Result<PeerSyncProgress, PeerSyncError>?>(nil)
        let inbox = FrameInbox<RelayMessage>()
        var connectionError: (any Error)?
        do {
            try await WebSocketClient.connect(
                url: dialled,
                configuration: .init(maxFrameSize: 4 << 20),
                logger: logger
            ) { inbound, outbound, _ in
                let reader = Task {
                    do {
                        for try await message in inbound.messages(maxSize: 16 << 20) {
                            guard case .text(let text) = message else { continue }
                            inbox.push(RelayMessage(text: text))
                        }
                    } catch {}
                    inbox.finish()
                }
                let session = Session(
                    negentropy: negentropy, inbox: inbox, outbound: outbound, store: store, live: live,
                    settings: settings, filter: filter, progress: progress)
                do {
                    let result = try await session.run()
                    outcome.withLock { $0 = .success(result) }
                } catch let error as PeerSyncError {
                    outcome.withLock { $0 = .failure(error) }
                } catch {
                    outcome.withLock { $0 = .failure(PeerSyncError("\(error)")) }
                }
                // Close, and let the reader see the peer's close frame (the inbound stream has one consumer).
                try? await outbound.close(.normalClosure, reason: nil)
                do { try await withDeadline(.seconds(5)) { await reader.value } } catch { reader.cancel() }
            }
        } catch {
            connectionError = error
        }
        switch outcome.withLock({ $0 }) {
        case .success(let result): return result
        case .failure(let error): throw error
        case nil:
            if let connectionError { throw PeerSyncError("could not connect to \(Self.webSocketURL(peerURL)): \(connectionError)") }
            throw PeerSyncError("connection to \(Self.webSocketURL(peerURL)) closed before the sync finished")
        }
    }

    /// One connection's work, in order: reconcile, download, upload.
    private struct Session<Storage: NegentropyStorage> {
        var negentropy: Negentropy<Storage>
        var inbox: FrameInbox<RelayMessage>
        var outbound: WebSocketOutboundWriter
        var store: EventStore
        var live: LiveEvents?
        var settings: Settings
        var filter: NostrFilter
        var progress: @Sendable (PeerSyncProgress) async -> Void

        func send(_ values: [Any]) async throws {
            let data = try JSONSerialization.data(withJSONObject: values, options: [.withoutEscapingSlashes])
            try await outbound.write(.text(String(decoding: data, as: UTF8.self)))
        }

        func run() async throws -> PeerSyncProgress {
            var counters = PeerSyncProgress()
            var have = Set<EventID>(), need = Set<EventID>()
            let subscription = "wharf-neg-\(UInt64(Date().timeIntervalSince1970 * 1e9))"
            try await send(["NEG-OPEN", subscription, filter.jsonObject, negentropy.initiate().hexString])
            var answered = false
            reconciling: while true {
                guard let frame = try await inbox.next(timeout: answered ? settings.idleTimeout : settings.initialTimeout) else {
                    throw PeerSyncError("peer closed the connection during reconciliation")
                }
                switch frame {
                case .negMessage(subscription, let hex):
                    answered = true
                    guard let message = Data(hexString: hex) else { throw PeerSyncError("peer sent a NEG-MSG that is not hex") }
                    let step: Negentropy<Storage>.InitiatorStep
                    do { step = try negentropy.reconcileAsInitiator(Array(message)) } catch {
                        throw PeerSyncError("reconcile failed: \(error)")
                    }
                    have.formUnion(step.have)
                    need.formUnion(step.need)
                    counters.round += 1
                    counters.have = have.count
                    counters.need = need.count
                    await progress(counters)
                    guard let next = step.next else { break reconciling }
                    guard counters.round < settings.maximumRounds else {
                        throw PeerSyncError("reconciliation did not finish within \(settings.maximumRounds) rounds")
                    }
                    try await send(["NEG-MSG", subscription, next.hexString])
                case .negError(subscription, let reason):
                    throw PeerSyncError("peer returned error: \(reason)")
                case .notice(let text) where !answered:
                    throw PeerSyncError("peer refused negentropy: \(text)")
                case .closed(_, let reason) where !answered:
                    throw PeerSyncError("peer refused negentropy: \(reason)")
                default:
                    continue
                }
            }
            try await send(["NEG-CLOSE", subscription])
            try await download(Array(need), subscription: subscription, counters: &counters)
            await progress(counters)
            counters.sent = try await upload(Array(have), counters: counters)
            await progress(counters)
            return counters
        }

        /// REQs by id, `requestsInFlight` at once, each for `batchSize` ids; every received event is validated and
        /// stored by its own task (group commits), within `savesInFlight`. Ids whose events were deleted here are
        /// never asked for. Returns how many were stored.
        private func download(_ ids: [EventID], subscription: String, counters: inout PeerSyncProgress) async throws {
            var deleted = Set<EventID>()
            for start in stride(from: 0, to: ids.count, by: 10_000) {
                deleted.formUnion(try await store.deletedIDs(among: Array(ids[start..<min(start + 10_000, ids.count)])))
            }
            counters.skippedDeleted = deleted.count
            let wanted = ids.filter { !deleted.contains($0) }
            let base = counters
            let batches = stride(from: 0, to: wanted.count, by: settings.batchSize).map {
                Set(wanted[$0..<min($0 + settings.batchSize, wanted.count)].map(\.hex))
            }
            let fetched = SyncCount(), received = SyncCount()
            let saving = InFlightLimit(maximumCount: settings.savesInFlight, maximumWeight: settings.saveBytesInFlight)
            try await withThrowingDiscardingTaskGroup { group in
                var open: [String: Set<String>] = [:]
                var next = 0
                func openNextRequest() async throws {
                    let request = "\(subscription)-fetch-\(next)"
                    open[request] = batches[next]
                    try await send(["REQ", request, ["ids": Array(batches[next])]])
                    next += 1
                }
                while next < batches.count, open.count < settings.requestsInFlight { try await openNextRequest() }
                while !open.isEmpty {
                    guard let frame = try await inbox.next(timeout: settings.idleTimeout) else {
                        throw PeerSyncError("peer closed the connection while sending events")
                    }
                    switch frame {
                    case .event(let request, let event?):
                        guard open[request]?.contains(event.id) == true else { continue }
                        received.add(1)
                        let weight = event.content.utf8.count + 1024
                        try await saving.enter(weight: weight)
                        group.addTask { [store, live, settings] in
                            defer { saving.leave(weight: weight) }
                            guard (try? event.validate()) != nil, settings.eventRules.refusal(of: event, now: EventRules.now) == nil else {
                                return
                            }
                            if try await store.save(event) == .stored {
                                fetched.add(1)
                                live?.deliver(event)
                            }
                        }
                    case .endOfStoredEvents(let request), .closed(let request, _):
                        guard open.removeValue(forKey: request) != nil else { continue }
                        try await send(["CLOSE", request])
                        if next < batches.count { try await openNextRequest() }
                        var reported = base
                        reported.fetched = fetched.value
                        reported.received = received.value
                        await progress(reported)
                    default:
                        continue
                    }
                }
            }
            counters.fetched = fetched.value
            counters.received = received.value
        }

        /// EVENTs read from the store a batch at a time, up to `uploadWindow` of them unanswered. Returns how
        /// many the peer accepted.
        private func upload(_ ids: [EventID], counters: PeerSyncProgress) async throws -> Int {
            var sent = 0
            var pending = Set<String>()
            func receiveOK() async throws {
                guard let frame = try await inbox.next(timeout: settings.idleTimeout) else {
                    throw PeerSyncError("peer closed the connection while receiving events")
                }
                guard case .ok(let id, let accepted, _) = frame, pending.remove(id) != nil else { return }
                if accepted { sent += 1 }
            }
            for start in stride(from: 0, to: ids.count, by: settings.batchSize) {
                let batch = Array(ids[start..<min(start + settings.batchSize, ids.count)])
                for event in try await store.events(ids: batch) {
                    while pending.count >= settings.uploadWindow { try await receiveOK() }
                    pending.insert(Data(event.id).hexString)
                    try await outbound.write(.text("[\"EVENT\",\(event.json)]"))
                }
                var reported = counters
                reported.sent = sent
                await progress(reported)
            }
            while !pending.isEmpty { try await receiveOK() }
            return sent
        }
    }
}

/// A count several tasks add to.
final class SyncCount: Sendable {
    private let count = Mutex(0)
    func add(_ amount: Int) { count.withLock { $0 += amount } }
    var value: Int { count.withLock { $0 } }
}
