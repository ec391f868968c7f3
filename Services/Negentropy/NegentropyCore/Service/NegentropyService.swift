import Foundation
import GRPCCore
import Logging
import NegentropyProtocol
import WharfProto
import WharfRuntime

/// `/orlysync.negentropy.v1.NegentropyService/*` with ORLY's conventions — failures of a reconciliation are
/// answered in-band in `error` with ORLY's strings — and the fixes of the Wharf decisions: full NIP-01
/// filters, enforced session timeouts, peers in PostgreSQL, real SyncWithPeer progress, 0 for "never".
public struct NegentropyService: Orlysync_Negentropy_V1_NegentropyService.SimpleServiceProtocol {
    private let sessions: NegentropySessions
    private let coordinator: SyncCoordinator
    private let allowedPeers: OutboundAllowList
    private let callers: FrontEndCredential
    private let filterBounds: FilterBounds
    private let logger: Logger

    public init(
        sessions: NegentropySessions, coordinator: SyncCoordinator, allowedPeers: OutboundAllowList,
        frontEndToken: SharedSecret?, adminToken: SharedSecret?, filterBounds: FilterBounds = FilterBounds(), logger: Logger
    ) {
        self.sessions = sessions
        self.filterBounds = filterBounds
        callers = FrontEndCredential(frontEndToken: frontEndToken, adminToken: adminToken)
        self.coordinator = coordinator
        self.allowedPeers = allowedPeers
        self.logger = logger
    }

    /// A peer URL a request names: well formed (INVALID_ARGUMENT) and allowed (PERMISSION_DENIED naming the rule).
    private func checkPeerURL(_ url: String, dialling: Bool) async throws {
        if case .failure(let problem) = PeerURL.validated(url) {
            throw RPCError(code: .invalidArgument, message: problem.description)
        }
        if let refusal = await PeerURL.refusal(url, by: allowedPeers, dialling: dialling) {
            throw RPCError(code: .permissionDenied, message: refusal)
        }
    }

    private var peers: PeerRepository { coordinator.peers }

    /// Infrastructure failures (Redis, PostgreSQL) are statuses, not in-band errors: the request was fine.
    @discardableResult
    private func dependency<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(
            operation, logger: logger, "\(operation) failed: a dependency is unavailable",
            as: { RPCError(code: .unavailable, message: $0) }, body)
    }

    public func ready(request: Orlysync_Common_V1_Empty, context: ServerContext) async throws -> Orlysync_Common_V1_ReadyResponse {
        .with { $0.ready = true }
    }

    public func start(request: Orlysync_Common_V1_Empty, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        try await dependency("Start") { try await coordinator.start() }
        return .init()
    }

    public func stop(request: Orlysync_Common_V1_Empty, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        try await dependency("Stop") { try await coordinator.stop() }
        return .init()
    }

    // The session RPCs read the caller's credential from the request metadata, so they implement the
    // metadata-carrying form; the plain form (no metadata) is refused the same way.

    public func handleNegOpen(request: ServerRequest<Orlysync_Negentropy_V1_NegOpenRequest>, context: ServerContext) async throws -> ServerResponse<
        Orlysync_Negentropy_V1_NegOpenResponse
    > {
        ServerResponse(message: try await negOpen(request.message, metadata: request.metadata))
    }

    public func handleNegOpen(request: Orlysync_Negentropy_V1_NegOpenRequest, context: ServerContext) async throws
        -> Orlysync_Negentropy_V1_NegOpenResponse
    {
        try await negOpen(request, metadata: [:])
    }

    public func handleNegMsg(request: ServerRequest<Orlysync_Negentropy_V1_NegMsgRequest>, context: ServerContext) async throws -> ServerResponse<
        Orlysync_Negentropy_V1_NegMsgResponse
    > {
        ServerResponse(message: try await negMsg(request.message, metadata: request.metadata))
    }

    public func handleNegMsg(request: Orlysync_Negentropy_V1_NegMsgRequest, context: ServerContext) async throws
        -> Orlysync_Negentropy_V1_NegMsgResponse
    {
        try await negMsg(request, metadata: [:])
    }

    public func handleNegClose(request: ServerRequest<Orlysync_Negentropy_V1_NegCloseRequest>, context: ServerContext) async throws -> ServerResponse<
        Orlysync_Common_V1_Empty
    > {
        ServerResponse(message: try await negClose(request.message, metadata: request.metadata))
    }

    public func handleNegClose(request: Orlysync_Negentropy_V1_NegCloseRequest, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        try await negClose(request, metadata: [:])
    }

    private func negOpen(_ request: Orlysync_Negentropy_V1_NegOpenRequest, metadata: Metadata) async throws -> Orlysync_Negentropy_V1_NegOpenResponse
    {
        let namespace = try callers.namespace(of: metadata, method: "HandleNegOpen")
        try Self.checkSessionIDs(request.connectionID, request.subscriptionID)
        let filter = NostrFilter(proto: request.filter)
        if let refusal = filterBounds.refusal(of: filter) { throw RPCError(code: .invalidArgument, message: refusal.description) }
        let answer = try await dependency("HandleNegOpen") {
            try await sessions.open(
                connectionID: FrontEndCredential.connectionID(request.connectionID, in: namespace),
                subscriptionID: request.subscriptionID, filter: filter,
                initialMessage: Array(request.initialMessage), origin: .frontEnd)
        }
        if answer.exhausted { throw RPCError(code: .resourceExhausted, message: answer.error) }
        return .init(answer)
    }

    private func negMsg(_ request: Orlysync_Negentropy_V1_NegMsgRequest, metadata: Metadata) async throws -> Orlysync_Negentropy_V1_NegMsgResponse {
        let namespace = try callers.namespace(of: metadata, method: "HandleNegMsg")
        try Self.checkSessionIDs(request.connectionID, request.subscriptionID)
        let answer = try await dependency("HandleNegMsg") {
            try await sessions.message(
                connectionID: FrontEndCredential.connectionID(request.connectionID, in: namespace),
                subscriptionID: request.subscriptionID, message: Array(request.message), origin: .frontEnd)
        }
        if answer.exhausted { throw RPCError(code: .resourceExhausted, message: answer.error) }
        return .init(answer)
    }

    /// Session ids become Redis keys: bounded, so one request cannot make a megabyte key.
    static func checkSessionIDs(_ connectionID: String, _ subscriptionID: String) throws {
        for (name, id) in [("connection_id", connectionID), ("subscription_id", subscriptionID)]
        where id.utf8.count > NegentropySessions.maximumIDBytes {
            throw RPCError(code: .invalidArgument, message: "\(name) of \(id.utf8.count) bytes; at most \(NegentropySessions.maximumIDBytes)")
        }
    }

    private func negClose(_ request: Orlysync_Negentropy_V1_NegCloseRequest, metadata: Metadata) async throws -> Orlysync_Common_V1_Empty {
        let namespace = try callers.namespace(of: metadata, method: "HandleNegClose")
        try Self.checkSessionIDs(request.connectionID, request.subscriptionID)
        try await dependency("HandleNegClose") {
            try await sessions.close(
                connectionID: FrontEndCredential.connectionID(request.connectionID, in: namespace),
                subscriptionID: request.subscriptionID)
        }
        return .init()
    }

    public func syncWithPeer(
        request: Orlysync_Negentropy_V1_SyncPeerRequest, response: RPCWriter<Orlysync_Negentropy_V1_SyncProgress>,
        context: ServerContext
    ) async throws {
        try await checkPeerURL(request.peerURL, dialling: true)
        var filter = request.hasFilter ? NostrFilter(proto: request.filter) : nil
        if request.since > 0 {
            var narrowed = filter ?? NostrFilter()
            narrowed.since = max(narrowed.since ?? 0, request.since)
            filter = narrowed
        }
        let url = request.peerURL
        func message(_ counters: PeerSyncProgress) -> Orlysync_Negentropy_V1_SyncProgress {
            .with {
                $0.peerURL = url
                $0.round = Int32(clamping: counters.round)
                $0.haveCount = Int64(counters.have)
                $0.needCount = Int64(counters.need)
                $0.fetchedCount = Int64(counters.fetched)
                $0.sentCount = Int64(counters.sent)
            }
        }
        try await response.write(message(PeerSyncProgress()))
        let (progressStream, progress) = AsyncStream.makeStream(of: PeerSyncProgress.self, bufferingPolicy: .bufferingNewest(64))
        async let outcome: Result<PeerSyncProgress, any Error> = {
            defer { progress.finish() }
            do { return .success(try await coordinator.syncPeer(url, filter: filter) { progress.yield($0) }) } catch { return .failure(error) }
        }()
        for await counters in progressStream { try await response.write(message(counters)) }
        switch await outcome {
        case .success(let counters):
            var last = message(counters)
            last.complete = true
            try await response.write(last)
        case .failure(let error):
            var last = message(PeerSyncProgress())
            last.error = "\(error)"
            try await response.write(last)
        }
    }

    public func getSyncStatus(request: Orlysync_Common_V1_Empty, context: ServerContext) async throws -> Orlysync_Negentropy_V1_SyncStatusResponse {
        let (loop, states) = try await dependency("GetSyncStatus") { (try await peers.loop(), try await peers.all()) }
        return .with {
            $0.active = loop.active
            $0.lastSync = loop.lastSync
            $0.peerCount = Int32(states.count)
            $0.peerStates = states.map(Self.proto)
        }
    }

    public func getPeers(request: Orlysync_Common_V1_Empty, context: ServerContext) async throws -> Orlysync_Negentropy_V1_PeersResponse {
        let states = try await dependency("GetPeers") { try await peers.all() }
        return .with { $0.peers = states.map(\.url) }
    }

    public func addPeer(request: Orlysync_Negentropy_V1_AddPeerRequest, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        let url = request.peerURL.trimmingCharacters(in: .whitespaces)
        try await checkPeerURL(url, dialling: false)
        try await dependency("AddPeer") { try await peers.add(url) }
        return .init()
    }

    public func removePeer(request: Orlysync_Negentropy_V1_RemovePeerRequest, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        try await dependency("RemovePeer") { try await peers.remove(request.peerURL) }
        return .init()
    }

    public func triggerSync(request: Orlysync_Negentropy_V1_TriggerSyncRequest, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        if request.peerURL.isEmpty {
            try await dependency("TriggerSync") { try await coordinator.triggerAll() }
            return .init()
        }
        let known = try await dependency("TriggerSync") { try await peers.state(of: request.peerURL) != nil }
        // ORLY's words for an unknown peer.
        guard known else { throw RPCError(code: .notFound, message: "peer not found: \(request.peerURL.prefix(2048))") }
        try await dependency("TriggerSync") { try await coordinator.trigger(peer: request.peerURL) }
        return .init()
    }

    public func getPeerSyncState(request: Orlysync_Negentropy_V1_PeerSyncStateRequest, context: ServerContext) async throws
        -> Orlysync_Negentropy_V1_PeerSyncStateResponse
    {
        guard let state = try await dependency("GetPeerSyncState", { try await peers.state(of: request.peerURL) }) else { return .init() }
        return .with {
            $0.found = true
            $0.state = Self.proto(state)
        }
    }

    public func listSessions(request: Orlysync_Common_V1_Empty, context: ServerContext) async throws -> Orlysync_Negentropy_V1_ListSessionsResponse {
        let records = try await dependency("ListSessions") { try await sessions.registry.list() }
        return .with {
            $0.sessions = records.map { record in
                .with {
                    $0.subscriptionID = record.subscriptionID
                    $0.connectionID = record.connectionID
                    $0.createdAt = record.createdAt
                    $0.lastActivity = record.lastActivity
                    $0.roundCount = record.roundCount
                }
            }
        }
    }

    public func closeSession(request: Orlysync_Negentropy_V1_CloseSessionRequest, context: ServerContext) async throws -> Orlysync_Common_V1_Empty {
        try Self.checkSessionIDs(request.connectionID, request.subscriptionID)
        try await dependency("CloseSession") {
            if request.connectionID.isEmpty {
                try await sessions.closeAll(subscriptionID: request.subscriptionID)
            } else {
                try await sessions.close(connectionID: request.connectionID, subscriptionID: request.subscriptionID)
            }
        }
        return .init()
    }

    static func proto(_ state: PeerRepository.PeerState) -> Orlysync_Negentropy_V1_PeerSyncState {
        .with {
            $0.peerURL = state.url
            $0.lastSync = state.lastSync
            $0.eventsSynced = state.eventsSynced
            $0.status = state.status
            $0.lastError = state.lastError
            $0.consecutiveFailures = state.consecutiveFailures
        }
    }
}

/// NegOpenResponse and NegMsgResponse carry the same fields (ORLY numbers them alike): one mapping fills both.
protocol NegentropyAnswerMessage {
    init()
    var message: Data { get set }
    var haveIds: [Data] { get set }
    var needIds: [Data] { get set }
    var complete: Bool { get set }
    var error: String { get set }
}

extension NegentropyAnswerMessage {
    init(_ answer: NegentropySessions.Answer) {
        self.init()
        message = Data(answer.message)
        haveIds = answer.haveIDs.map { Data($0.bytes) }
        needIds = answer.needIDs.map { Data($0.bytes) }
        complete = answer.error.isEmpty && answer.complete
        error = answer.error
    }
}

extension Orlysync_Negentropy_V1_NegOpenResponse: NegentropyAnswerMessage {}
extension Orlysync_Negentropy_V1_NegMsgResponse: NegentropyAnswerMessage {}
