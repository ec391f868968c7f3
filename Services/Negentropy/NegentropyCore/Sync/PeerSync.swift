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
        /// Ids per REQ and events per upload batch.
        public var batchSize = 100
        /// What a fetched event must satisfy to be stored (the relay's own rules for EVENTs).
        public var eventRules = EventRules()
        /// Hosts a sync may dial (`WHARF_NEGENTROPY_ALLOWED_PEERS`); checked before every dial.
        public var allowedPeers = OutboundAllowList(empty: "WHARF_NEGENTROPY_ALLOWED_PEERS")

        public init() {}
    }

    private let store: EventStore
    private let live: LiveEvents?
    private let settings: Settings
    private let logger: Logger

    public init(store: EventStore, live: LiveEvents?, settings: Settings = Settings(), logger: Logger) {
        self.store = store
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
        let storage: SortedItems
        switch try await store.snapshot(filter, maximum: settings.maximumSetSize) {
        case .tooMany: throw PeerSyncError("too many local events match the filter (more than \(settings.maximumSetSize))")
        case .items(let items): storage = items
        }
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
    private struct Session {
        var negentropy: Negentropy<SortedItems>
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
                    let step: Negentropy<SortedItems>.InitiatorStep
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
            counters.fetched = try await download(Array(need), subscription: subscription, counters: counters)
            await progress(counters)
            counters.sent = try await upload(Array(have), counters: counters)
            await progress(counters)
            return counters
        }

        /// REQs by id in batches; every received event is validated and stored. Returns how many were stored.
        private func download(_ ids: [EventID], subscription: String, counters: PeerSyncProgress) async throws -> Int {
            var fetched = 0
            for (number, start) in stride(from: 0, to: ids.count, by: settings.batchSize).enumerated() {
                let batch = ids[start..<min(start + settings.batchSize, ids.count)]
                let wanted = Set(batch.map(\.hex))
                let request = "\(subscription)-fetch-\(number)"
                try await send(["REQ", request, ["ids": Array(wanted)]])
                receiving: while let frame = try await inbox.next(timeout: settings.idleTimeout) {
                    switch frame {
                    case .event(request, let event?):
                        guard wanted.contains(event.id), (try? event.validate()) != nil,
                            settings.eventRules.refusal(of: event, now: EventRules.now) == nil
                        else { continue }
                        if try await store.save(event) == .stored {
                            fetched += 1
                            live?.deliver(event)
                        }
                    case .endOfStoredEvents(request), .closed(request, _):
                        break receiving
                    default:
                        continue
                    }
                }
                try await send(["CLOSE", request])
                var reported = counters
                reported.fetched = fetched
                await progress(reported)
            }
            return fetched
        }

        /// EVENTs in batches, each batch's OKs awaited before the next. Returns how many the peer accepted.
        private func upload(_ ids: [EventID], counters: PeerSyncProgress) async throws -> Int {
            var sent = 0
            for start in stride(from: 0, to: ids.count, by: settings.batchSize) {
                let batch = Array(ids[start..<min(start + settings.batchSize, ids.count)])
                var pending = Set<String>()
                for event in try await store.events(ids: batch) {
                    let id = Data(event.id).hexString
                    pending.insert(id)
                    try await outbound.write(.text("[\"EVENT\",\(event.json)]"))
                }
                while !pending.isEmpty, let frame = try await inbox.next(timeout: settings.idleTimeout) {
                    guard case .ok(let id, let accepted, _) = frame, pending.remove(id) != nil else { continue }
                    if accepted { sent += 1 }
                }
                var reported = counters
                reported.sent = sent
                await progress(reported)
            }
            return sent
        }
    }
}
