import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import Synchronization
import WharfProto
import WharfRuntime

/// `/v1sync.BackrestSyncService/Sync`: a hub for backrest 1.11–1.12 clients (protocol 1, spec/backrest-sync.md,
/// Wharf decisions) and 1.13–1.14 clients (protocol 3, §16a) at once. The hub waits for the client's first item:
/// a `handshake` opens a protocol-1 session, an `establish_shared_secret` a protocol-3 one, and each is read with
/// its own schema (`BackrestStreamItem`). A session proves and authorizes the client, sends it the hub's config and
/// resources, and stores its operations as upserts until the stream ends, the client falls silent for twice its
/// heartbeat interval, breaks the protocol, is removed, or a newer session of the same client displaces it. Every
/// end of a session leaves the peer's state at once.
public struct BackrestSyncHub: RegistrableRPCService {
    let identity: BackrestIdentity
    /// The protocol-3 identity; nil when its key file could not be read or made (protocol-3 clients are then refused
    /// with the reason, protocol 1 is served).
    let ed25519: Result<BackrestEd25519Identity, ConfigurationProblem>
    let instanceID: String
    let clients: BackrestClients
    let pairingTokens: PairingTokens
    let operations: OperationStore
    let peerStates: PeerStates
    let configPushes: ConfigPushes
    let sharedRepos: SharedRepos
    let events: EventBus
    let settings: BackrestSettings
    let logger: Logger

    /// Operations applied per transaction: one message may carry more, and messages waiting back to back
    /// are applied together up to this.
    static let operationsPerTransaction = 5_000
    /// Messages read ahead of the database work.
    static let readAheadMessages = 8

    public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        router.registerHandler(
            forMethod: V1sync_BackrestSyncService.Method.Sync.descriptor, deserializer: BackrestStreamItemDeserializer(),
            serializer: BackrestStreamItemSerializer()
        ) { request, context in
            StreamingServerResponse<BackrestStreamItem>(metadata: [:]) { writer in
                try await self.sync(request: request.messages, response: writer, context: context)
                return [:]
            }
        }
    }

    public func sync(
        request: RPCAsyncSequence<BackrestStreamItem, any Error>, response: RPCWriter<BackrestStreamItem>, context: ServerContext
    ) async throws {
        let inbox = ReadAhead<BackrestStreamItem>(capacity: Self.readAheadMessages)
        let session = HubSession()
        // The reader is not a child task: a child would be awaited when the session ends for its own reasons
        // (a protocol error, a removed client, a storage failure), and a read of the client's stream returns
        // only when the client sends again — the session would outlive its reason. Cancelled, it ends with the
        // RPC, which ends as this returns. It runs at most `readAheadMessages` ahead, so the next batches arrive
        // while one is being stored (spec §13.10: read promptly), and a fast peer cannot grow the memory held.
        let reader = Task {
            do {
                for try await item in request {
                    session.touch()
                    try await inbox.push(item)
                }
                inbox.finish()
            } catch {
                inbox.finish(throwing: error)
            }
        }
        defer { reader.cancel() }
        try await withTaskCancellationHandler {
            try await runSession(session, remote: context.remotePeer) {
                // Nothing is sent before the client's first item: a 1.13+ client that gets a protocol-1 handshake
                // first fails with "expected KEM key exchange".
                switch try await firstItem(inbox, session: session) {
                case nil: return  // the client left before saying anything
                case .protocol1(let item)?: try await protocol1Session(first: item, inbox: inbox, session: session, response: response)
                case .protocol3(let item)?: try await protocol3Session(first: item, inbox: inbox, session: session, response: response)
                }
            }
        } onCancel: {
            reader.cancel()
        }
    }

    /// The client's first item, within the handshake timeout.
    private func firstItem(_ inbox: ReadAhead<BackrestStreamItem>, session: HubSession) async throws -> BackrestStreamItem? {
        try await withThrowingTaskGroup(of: BackrestStreamItem?.self) { group in
            group.addTask { try await inbox.next() }
            let hub = self
            group.addTask {
                try await hub.watchSilence(session)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    /// What every session shares around its conversation: a replica shutting down ends it at once, and however
    /// it ends, the peer's state says so and the client gets the status.
    private func runSession(_ session: HubSession, remote: String, _ body: @escaping @Sendable () async throws -> Void) async throws {
        do {
            do {
                // A replica shutting down ends its sessions at once (backrest reconnects, through the gateway to
                // another replica) rather than holding its shutdown for the grace period.
                try await cancelWhenGracefulShutdown { try await body() }
            } catch is CancellationError where Task.isShuttingDownGracefully {
                throw BackrestSessionError.shuttingDown
            }
            if let peer = session.peer { try await ended(peer, session: session, state: .disconnected, message: "disconnected") }
        } catch let error as BackrestSessionError {
            logger.info(
                "backrest session ended",
                metadata: ["peer": "\(session.peer?.keyid ?? "-")", "remote": "\(remote)", "reason": "\(error)"])
            if let peer = session.peer { try? await ended(peer, session: session, state: error.state, message: error.message) }
            throw error.rpcError
        } catch {
            if let peer = session.peer {
                try? await ended(peer, session: session, state: .disconnected, message: "disconnected: \(Self.describe(error))")
            }
            if error is CancellationError || error is RPCError { throw error }
            logger.error("backrest session failed", metadata: ["peer": "\(session.peer?.keyid ?? "-")", "error": "\(String(reflecting: error))"])
            throw RPCError(code: .internalError, message: "the hub could not store the session's data")
        }
    }

    /// Runs an established session's tasks until the first ends: the conversation, heartbeats, config pushes,
    /// and the watches that end it when the client falls silent, is removed or changed, or connects again.
    func runTasks(
        session: HubSession, converse: @escaping @Sendable () async throws -> Void,
        sendHeartbeat: @escaping @Sendable () async throws -> Void,
        sendSetConfig: @escaping @Sendable (V1sync_SyncStreamItem.SyncActionSetConfig) async throws -> Void,
        whileEstablished: (@Sendable (BackrestClients.Client) async throws -> Void)? = nil
    ) async throws {
        let hub = self
        try await withThrowingTaskGroup(of: Void.self) { group in
            if let whileEstablished {
                group.addTask {
                    guard let peer = await session.established() else { return try await Self.sleepForever() }
                    try await whileEstablished(peer)
                }
            }
            group.addTask { try await hub.watchSilence(session) }
            group.addTask { try await converse() }
            group.addTask {
                while true {
                    try await Task.sleep(for: hub.settings.heartbeatInterval)
                    try await sendHeartbeat()
                }
            }
            group.addTask {
                guard let peer = await session.established() else { return try await Self.sleepForever() }
                try await hub.deliverConfigPushes(to: peer, send: sendSetConfig)
            }
            group.addTask {
                guard let peer = await session.established() else { return try await Self.sleepForever() }
                try await hub.watchAuthorization(of: peer, session: session)
            }
            try await group.next()
            group.cancelAll()
        }
    }

    /// Protocol 1: the client's handshake proven and authorized, the hub's own sent at once (even to a client it
    /// will refuse, as backrest does), then everything the client sends until it ends the stream.
    private func protocol1Session(
        first: V1sync_SyncStreamItem, inbox: ReadAhead<BackrestStreamItem>, session: HubSession, response: RPCWriter<BackrestStreamItem>
    ) async throws {
        let outbox = SessionOutbox(writer: response)
        try await outbox.send(.with { $0.handshake = try handshake() })
        let hub = self
        try await runTasks(
            session: session,
            converse: {
                let proven = try BackrestHandshake.prove(first, now: Date())
                let client = try await hub.clients.find(keyid: proven.keyid)
                let peer: BackrestClients.Client
                do {
                    peer = try BackrestHandshake.authorize(proven, as: client)
                } catch let error as BackrestSessionError {
                    if client != nil { try await hub.recordRefusal(keyid: proven.keyid, instanceID: proven.instanceID, error) }
                    throw error
                }
                try await hub.begin(peer, session: session)
                try await hub.established(peer, outbox: outbox)
                session.establish(peer)
                try await hub.store(from: inbox, session: session)
            },
            sendHeartbeat: { try await outbox.send(.with { $0.heartbeat = .init() }) },
            sendSetConfig: { setConfig in try await outbox.send(.with { $0.setConfig = setConfig }) })
    }

    /// Acts on the established peer's messages in order; created/updated lists waiting back to back are
    /// upserted together, up to `operationsPerTransaction` (last copy wins, as within one list).
    private func store(from inbox: ReadAhead<BackrestStreamItem>, session: HubSession) async throws {
        while let next = try await inbox.next() {
            guard case .protocol1(let item) = next else {
                throw BackrestSessionError.protocolError("a protocol-1 session received a protocol-3 message (encrypted or establish_shared_secret)")
            }
            guard let peer = session.peer else { continue }  // never: the peer is established before this runs
            guard var operations = Self.upserted(next) else {
                try await handle(item, from: peer)
                continue
            }
            while operations.count < Self.operationsPerTransaction,
                let waiting = inbox.takeReady(if: { Self.upserted($0) != nil }).flatMap({ Self.upserted($0) })
            {
                operations += waiting
            }
            try await upsert(operations, from: peer)
        }
    }

    /// The operations of a created or updated list (seed clients send updates in "created" lists, §13.4).
    static func upserted(_ item: BackrestStreamItem) -> [V1_Operation]? {
        guard case .protocol1(let item) = item, case .receiveOperations(let received)? = item.action else { return nil }
        return upserted(received.event)
    }

    /// The operations of a created or updated list.
    static func upserted(_ event: V1_OperationEvent) -> [V1_Operation]? {
        switch event.event {
        case .createdOperations(let list)?, .updatedOperations(let list)?: return list.operations
        default: return nil
        }
    }

    private func handshake() throws -> V1sync_SyncStreamItem.SyncActionHandshake {
        let signed = try identity.signedMessage(payload: Data(instanceID.utf8))
        return .with {
            $0.protocolVersion = BackrestHandshake.protocolVersion
            $0.publicKey = identity.publicKey.proto
            $0.instanceID = signed
        }
    }

    /// After both handshakes: the peer is CONNECTED; it gets the hub's (empty) config and resources, and the
    /// catch-up request in its own numbering, then a config push that waited for it.
    private func established(_ peer: BackrestClients.Client, outbox: SessionOutbox) async throws {
        // The hub has no repos or plans of its own to share (it is a viewer of its clients' operations).
        try await outbox.send(.with { $0.receiveConfig = .with { $0.config = .init() } })
        try await outbox.send(.with { $0.receiveResources = .init() })
        let point = try await operations.catchUpPoint(peerKeyID: peer.keyid)
        try await outbox.send(
            .with {
                $0.requestOperations = .with {
                    $0.highOpid = point.highOpID; $0.highModno = point.highModno
                }
            })
        logger.info(
            "backrest client connected",
            metadata: [
                "peer": "\(peer.keyid)", "instance": "\(peer.instanceID)",
                "high_opid": "\(point.highOpID)", "high_modno": "\(point.highModno)",
            ])
    }

    private func handle(_ item: V1sync_SyncStreamItem, from peer: BackrestClients.Client) async throws {
        switch item.action {
        case .heartbeat?:
            try await peerStates.update(keyid: peer.keyid) { $0.lastHeartbeatMillis = Self.nowMillis() }
        case .receiveConfig(let received)?:
            try await peerStates.update(keyid: peer.keyid) { $0.remoteConfig = received.config }
        case .receiveResources(let resources)?:
            try await record(repos: resources.repos, plans: resources.plans, of: peer)
        case .receiveOperations(let received)?:
            try await apply(received.event, from: peer)
        case .requestLog?, .receiveLogData?, .throttle?, .signedMessage?:
            // Never implemented by any backrest; ignored rather than ending the session.
            logger.info("backrest message type ignored", metadata: ["peer": "\(peer.keyid)", "type": "\(Self.describe(item))"])
        case .handshake?, .requestOperations?, .setConfig?, .requestResources?, nil:
            throw BackrestSessionError.protocolError("unknown action type: a client does not send \(Self.describe(item)) to a hub")
        }
    }

    /// The resources a client announced, merged by id into its state and never removed (as backrest).
    func record(repos: [V1sync_RepoMetadata], plans: [V1sync_PlanMetadata], of peer: BackrestClients.Client) async throws {
        try await peerStates.update(keyid: peer.keyid) { state in
            var knownRepos = Dictionary(state.knownRepos.map { ($0.id, $0) }) { $1 }
            for repo in repos { knownRepos[repo.id] = repo }
            var knownPlans = Dictionary(state.knownPlans.map { ($0.id, $0) }) { $1 }
            for plan in plans { knownPlans[plan.id] = plan }
            state.knownRepos = knownRepos.values.sorted { $0.id < $1.id }
            state.knownPlans = knownPlans.values.sorted { $0.id < $1.id }
        }
    }

    func apply(_ event: V1_OperationEvent, from peer: BackrestClients.Client) async throws {
        switch event.event {
        case .createdOperations(let list)?, .updatedOperations(let list)?:
            try await upsert(list.operations, from: peer)
        case .deletedOperations(let ids)?:
            // Unknown ids are ignored (backrest ends the session there, spec §13.6).
            for start in stride(from: 0, to: ids.values.count, by: Self.operationsPerTransaction) {
                let end = min(start + Self.operationsPerTransaction, ids.values.count)
                do {
                    try await operations.delete(originalIDs: Array(ids.values[start..<end]), peerKeyID: peer.keyid)
                } catch is OperationStore.PeerRemoved {
                    throw Self.removed(peer)
                }
            }
        case .keepAlive?, nil:
            break
        }
    }

    func upsert(_ list: [V1_Operation], from peer: BackrestClients.Client) async throws {
        for start in stride(from: 0, to: list.count, by: Self.operationsPerTransaction) {
            let chunk = Array(list[start..<min(start + Self.operationsPerTransaction, list.count)])
            let applied: OperationStore.Applied
            do {
                applied = try await operations.upsert(chunk, peerKeyID: peer.keyid, peerInstanceID: peer.instanceID)
            } catch is OperationStore.PeerRemoved {
                throw Self.removed(peer)
            }
            // One line per statement, not per operation: a client sending only invalid operations must not
            // flood the log.
            if let first = applied.skipped.first {
                logger.warning(
                    "backrest operations skipped",
                    metadata: [
                        "peer": "\(peer.keyid)", "count": "\(applied.skipped.count)", "first_op_id": "\(first.id)", "reason": "\(first.reason)",
                    ])
            }
        }
    }

    /// The peer is CONNECTED under this session (its state names the protocol), and every session of the same
    /// client on any replica ends: the newest connection wins (a client that reconnected before the hub noticed
    /// the old connection die must not be served twice). The session's own tasks (config pushes, the authorization
    /// watch) start when the caller establishes it, after the hub's opening items, which must come first.
    func begin(_ peer: BackrestClients.Client, session: HubSession) async throws {
        try await peerStates.put(
            .with {
                $0.peerInstanceID = peer.instanceID
                $0.peerKeyid = peer.keyid
                $0.state = .connected
                $0.statusMessage = "connected (protocol \(peer.protocolVersion))"
                $0.lastHeartbeatMillis = Self.nowMillis()
            }, session: session.id)
        await events.publishIgnoringFailure(BackrestSessionBegan(keyid: peer.keyid, session: session.id))
    }

    /// Ends the session when the client sent no handshake within the handshake timeout (backrest's 15 s),
    /// or nothing for twice its heartbeat interval afterwards: a peer that vanished without closing its
    /// connection is not shown CONNECTED.
    func watchSilence(_ session: HubSession) async throws {
        while true {
            let handshaken = session.peer != nil
            let limit = handshaken ? settings.clientHeartbeatInterval * 2 : settings.handshakeTimeout
            let silent = session.silence
            if silent >= limit {
                if !handshaken { throw BackrestSessionError.unauthenticated("no handshake packet received from peer within timeout") }
                throw BackrestSessionError(
                    state: .disconnected, code: .unavailable,
                    message: "stale: no message from the peer for \(limit) (twice its heartbeat interval)")
            }
            try await Task.sleep(for: min(limit - silent, .seconds(1)) + .milliseconds(1))
        }
    }

    private func deliverConfigPushes(
        to peer: BackrestClients.Client, send: @Sendable (V1sync_SyncStreamItem.SyncActionSetConfig) async throws -> Void
    ) async throws {
        let announcements = configPushes.announcements()
        try await sendPendingConfig(to: peer, send: send)
        for await announcement in announcements where announcement.keyid == peer.keyid {
            try await sendPendingConfig(to: peer, send: send)
        }
        try await Self.sleepForever()  // the subscription ended (shutdown): the session goes on until it ends
    }

    /// Ends the session the moment the operator removes the client or changes what it may do (the session
    /// was authorized for the client as it was): told by an event from any replica, and read again every
    /// `authorizationRecheck` in case an event was lost (Redis carries hints only); and when a newer session of
    /// the same client begins on any replica.
    private func watchAuthorization(of peer: BackrestClients.Client, session: HubSession) async throws {
        let changes = events.events(of: BackrestClientChanged.self)
        let sessions = events.events(of: BackrestSessionBegan.self)
        try await withThrowingTaskGroup(of: Void.self) { group in
            let hub = self
            group.addTask {
                for await change in changes where change.keyid == peer.keyid { try await hub.checkAuthorization(of: peer) }
                try await Self.sleepForever()
            }
            group.addTask {
                for await began in sessions where began.keyid == peer.keyid && began.session != session.id {
                    throw BackrestSessionError.displaced
                }
                try await Self.sleepForever()
            }
            group.addTask {
                while true {
                    try await Task.sleep(for: hub.settings.authorizationRecheck)
                    try await hub.checkAuthorization(of: peer)
                }
            }
            try await group.next()
            group.cancelAll()
        }
    }

    static func removed(_ peer: BackrestClients.Client) -> BackrestSessionError {
        .permissionDenied("peer public key ID \(peer.keyid) was removed from the known peers")
    }

    private func checkAuthorization(of peer: BackrestClients.Client) async throws {
        guard let current = try await clients.find(keyid: peer.keyid) else { throw Self.removed(peer) }
        guard current.instanceID == peer.instanceID, current.permissions == peer.permissions else {
            throw BackrestSessionError.permissionDenied("the permissions of \(peer.keyid) changed; reconnect to use them")
        }
    }

    static func sleepForever() async throws {
        while true { try await Task.sleep(for: .seconds(3600)) }
    }

    private func sendPendingConfig(
        to peer: BackrestClients.Client, send: @Sendable (V1sync_SyncStreamItem.SyncActionSetConfig) async throws -> Void
    ) async throws {
        // Permissions are read again: an operator may have changed them since the session began.
        guard let current = try await clients.find(keyid: peer.keyid), current.protocolVersion == 3 || current.acceptsConfigPushes else { return }
        guard let setConfig = try await configPushes.take(for: peer.keyid) else { return }
        try await send(setConfig)
        logger.info("config pushed to backrest client", metadata: ["peer": "\(peer.keyid)"])
    }

    /// The state a session leaves its peer in, unless a newer session of the peer holds the state already.
    private func ended(_ peer: BackrestClients.Client, session: HubSession, state: V1sync_ConnectionState, message: String) async throws {
        // A client that went away cancels this RPC's task, and a cancelled task's queries fail: the state is
        // written from a task of its own, so that the peer is shown DISCONNECTED at once rather than never.
        let peerStates = peerStates
        _ = try await Task {
            try await peerStates.update(keyid: peer.keyid, session: session.id) {
                $0.state = state
                $0.statusMessage = message
                $0.lastHeartbeatMillis = Self.nowMillis()
            }
        }.value
    }

    /// A refused handshake claiming a configured client's keyid is shown in that client's state, unless a
    /// session of the real client is connected now (a stranger's failed claim must not hide it).
    func recordRefusal(keyid: String, instanceID: String, _ error: BackrestSessionError) async throws {
        // From a task of its own, as `ended`: a client that hangs up at once must not erase the reason.
        let peerStates = peerStates
        try await Task {
            let current = try await peerStates.find(keyid: keyid)
            if current?.state == .connected { return }
            var state =
                current
                ?? .with {
                    $0.peerKeyid = keyid; $0.peerInstanceID = instanceID
                }
            state.state = error.state
            state.statusMessage = error.message
            try await peerStates.put(state)
        }.value
    }

    static func describe(_ item: V1sync_SyncStreamItem) -> String {
        switch item.action {
        case .signedMessage?: "signed_message"
        case .handshake?: "handshake"
        case .heartbeat?: "heartbeat"
        case .requestOperations?: "request_operations"
        case .receiveOperations?: "receive_operations"
        case .receiveConfig?: "receive_config"
        case .setConfig?: "set_config"
        case .requestResources?: "request_resources"
        case .receiveResources?: "receive_resources"
        case .requestLog?: "request_log"
        case .receiveLogData?: "receive_log_data"
        case .throttle?: "throttle"
        case nil: "an item with no known action"
        }
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }

    static func nowMillis() -> Int64 { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) }
}

/// What the tasks of one session share: when the client last sent something, and who it proved to be.
final class HubSession: Sendable {
    /// Names this session in peer states and displacement events.
    let id = UUID().uuidString

    private struct State {
        var lastFrame = ContinuousClock.now
        var peer: BackrestClients.Client?
        var waiters: [CheckedContinuation<BackrestClients.Client?, Never>] = []
    }

    private let state = Mutex(State())

    func touch() { state.withLock { $0.lastFrame = .now } }
    var silence: Duration { ContinuousClock.now - state.withLock { $0.lastFrame } }
    var peer: BackrestClients.Client? { state.withLock { $0.peer } }

    func establish(_ peer: BackrestClients.Client) {
        let waiters = state.withLock { state in
            state.peer = peer
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: peer) }
    }

    /// The peer once its handshake was accepted (nil if cancelled first).
    func established() async -> BackrestClients.Client? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> BackrestClients.Client?? in
                    if let peer = state.peer { return .some(peer) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            let waiters = state.withLock { state in
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume(returning: nil) }
        }
    }
}

/// Serializes a protocol-1 session's writes: the handshake and catch-up request, heartbeats and config pushes
/// come from different tasks.
actor SessionOutbox {
    let writer: RPCWriter<BackrestStreamItem>
    init(writer: RPCWriter<BackrestStreamItem>) { self.writer = writer }
    func send(_ item: V1sync_SyncStreamItem) async throws { try await writer.write(.protocol1(item)) }
}
