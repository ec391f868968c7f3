import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// Protocol 3 (backrest 1.13–1.14, spec §16a): the key exchange in the clear, then everything encrypted — both
/// handshakes (ed25519, bound to this connection's transcript), authorization by keyid or by a pairing token, the
/// hub's config and resources, and the client's manifest and operations.
extension BackrestSyncHub {
    typealias Protocol3Item = Wharf_Backrest_Protocol3_SyncStreamItem

    /// The sync protocol version protocol 3's handshakes carry.
    static let protocol3Version: Int64 = 3
    /// The largest manifest a client may send (a million operations: far past backrest's GC horizon).
    static let maximumManifestOperations = 1_000_000
    /// Ids per `request_operation_data` message: bounded, so a large catch-up is never one oversized message.
    static let operationIDsPerRequest = 10_000

    func protocol3Session(
        first: Protocol3Item, inbox: ReadAhead<BackrestStreamItem>, session: HubSession, response: RPCWriter<BackrestStreamItem>
    ) async throws {
        let identity: BackrestEd25519Identity
        switch ed25519 {
        case .success(let loaded): identity = loaded
        case .failure(let problem):
            throw BackrestSessionError(
                state: .errorInternal, code: .failedPrecondition,
                message: "this hub cannot serve backrest 1.13+ clients now: its ed25519 identity is missing (\(problem))")
        }
        let (channel, reply): (Protocol3Channel, Protocol3Item)
        do {
            (channel, reply) = try Protocol3Channel.respond(to: first, maximumItemBytes: settings.maximumItemBytes)
        } catch {
            throw BackrestSessionError.protocolError("\(error)")
        }
        try await response.write(.protocol3(reply))
        // One copy of the channel seals (the outbox, shared by the session's tasks), another opens (the reader):
        // each advances only its own direction's counter.
        let outbox = Protocol3Outbox(writer: response, channel: channel)
        let signature = try Protocol3Handshake.sign(
            with: identity.privateKey, instanceID: instanceID, pairingSecret: "", transcript: channel.transcript)
        // Sent at once, as both sides do after the key exchange (the hub never sends a pairing secret).
        try await outbox.send(
            .with {
                $0.handshake = .with {
                    $0.protocolVersion = Self.protocol3Version
                    $0.publicKey = identity.publicKey
                    $0.instanceID = instanceID
                    $0.signature = Data(signature)
                }
            })
        let hub = self
        try await runTasks(
            session: session,
            converse: {
                var receiver = Protocol3Reader(inbox: inbox, channel: channel)
                guard let handshake = try await receiver.next() else { return }
                let peer = try await hub.authorizeProtocol3(handshake, transcript: channel.transcript)
                try await hub.begin(peer, session: session)
                try await hub.established(peer, outbox: outbox)
                session.establish(peer)
                try await hub.converseProtocol3(with: peer, receiver: &receiver, outbox: outbox)
            },
            sendHeartbeat: { try await outbox.send(.with { $0.heartbeat = .init() }) },
            sendSetConfig: { setConfig in
                // The same message on the wire in both protocols.
                let converted = try Protocol3Item.SyncActionSetConfig(serializedBytes: try setConfig.serializedBytes() as [UInt8])
                try await outbox.send(.with { $0.setConfig = converted })
            },
            whileEstablished: { peer in try await hub.shareRepos(with: peer, outbox: outbox) })
    }

    /// The hub's shared repos the client may receive, in one set_config when it connects (after the hub's config and
    /// resources) and again whenever they change; nothing when there are none for it.
    private func shareRepos(with peer: BackrestClients.Client, outbox: Protocol3Outbox) async throws {
        let changes = sharedRepos.changes()
        try await sendSharedRepos(to: peer, outbox: outbox)
        for await _ in changes { try await sendSharedRepos(to: peer, outbox: outbox) }
        try await Self.sleepForever()  // the subscription ended (shutdown): the session goes on until it ends
    }

    private func sendSharedRepos(to peer: BackrestClients.Client, outbox: Protocol3Outbox) async throws {
        let repos = try SharedRepos.offered(try await sharedRepos.all(), to: peer, hubInstanceID: instanceID)
        guard !repos.isEmpty else { return }
        try await outbox.send(.with { $0.setConfig = .with { $0.repos = repos } })
        logger.info("shared repos sent to backrest client", metadata: ["peer": "\(peer.keyid)", "repos": "\(repos.count)"])
    }

    /// The client's proven identity (its handshake verified against this connection's transcript) and the
    /// authorized client it is: known by keyid, or paired now with the token whose secret it sent.
    func authorizeProtocol3(_ item: Protocol3Item, transcript: [UInt8]) async throws -> BackrestClients.Client {
        guard case .handshake(let handshake)? = item.action else {
            throw BackrestSessionError.unauthenticated(
                "the first encrypted message must be a handshake, not \(Protocol3Channel.describe(item))")
        }
        guard handshake.protocolVersion == Self.protocol3Version else {
            throw BackrestSessionError.protocolError(
                "unsupported sync protocol version \(handshake.protocolVersion) in the encrypted handshake; this hub speaks 3")
        }
        guard !handshake.publicKey.keyid.isEmpty, !handshake.signature.isEmpty, !handshake.instanceID.isEmpty else {
            throw BackrestSessionError.unauthenticated("the handshake lacks a keyid, an instance id or a signature")
        }
        do {
            _ = try Protocol3Handshake.verify(
                keyid: handshake.publicKey.keyid, publicKeyText: handshake.publicKey.ed25519Pub, instanceID: handshake.instanceID,
                pairingSecret: handshake.pairingSecret, signature: Array(handshake.signature), transcript: transcript)
        } catch {
            throw BackrestSessionError.unauthenticated("\(error)")
        }
        // Proven from here on: the keyid is the key's, and the key signed this connection's transcript.
        let keyid = handshake.publicKey.keyid
        let instance = handshake.instanceID
        var client = try await clients.find(keyid: keyid)
        if client == nil {
            client = try await pair(keyid: keyid, instanceID: instance, secret: handshake.pairingSecret)
        }
        guard let client else { throw BackrestSessionError.permissionDenied("peer public key ID \(keyid) not found in known peers") }
        do {
            return try BackrestHandshake.authorize(.init(keyid: keyid, instanceID: instance), as: client)
        } catch {
            try await recordRefusal(keyid: keyid, instanceID: instance, error)
            throw error
        }
    }

    /// A key the hub does not know becomes an authorized client with a valid pairing token's permissions; any
    /// other attempt is refused with the reason, which is also recorded in the peer states for the operator.
    private func pair(keyid: String, instanceID instance: String, secret: String) async throws -> BackrestClients.Client {
        let refusal: String
        if secret.isEmpty {
            refusal =
                "peer public key ID \(keyid) not found in known peers and no pairing secret was given: "
                + "pair the client with a token from `wharfctl backrest pair`"
        } else if let problem = BackrestClients.instanceIDProblem(instance) {
            refusal = "pairing refused: \(problem)"
        } else {
            do {
                let client = try await pairingTokens.redeem(secret: secret, keyid: keyid, instanceID: instance)
                logger.notice(
                    "backrest client paired",
                    metadata: ["keyid": "\(keyid)", "instance": "\(instance)", "token": "\(client.pairedWithToken ?? "-")"])
                await events.publishIgnoringFailure(BackrestClientChanged(keyid: keyid))
                return client
            } catch let error as PairingTokens.Refusal {
                refusal = "pairing refused: \(error)"
            }
        }
        let error = BackrestSessionError.permissionDenied(refusal)
        let state = V1sync_PeerState.with {
            $0.peerKeyid = keyid
            $0.peerInstanceID = String(instance.prefix(256))
            $0.state = error.state
            $0.statusMessage = refusal
            $0.lastHeartbeatMillis = Self.nowMillis()
        }
        // Written from a task of its own: a client that hangs up at once cancels this RPC, and the operator must
        // still see why it was refused.
        let peerStates = peerStates
        try await Task { try await peerStates.putStranger(state) }.value
        logger.info("backrest pairing refused", metadata: ["keyid": "\(keyid)", "instance": "\(instance.prefix(256))", "reason": "\(refusal)"])
        throw error
    }

    /// After both handshakes: the hub's (empty) config and resources. The hub has no repos or plans of its own to
    /// share (it is a viewer of its clients' operations); operators push config with SetRemoteClientConfig.
    private func established(_ peer: BackrestClients.Client, outbox: Protocol3Outbox) async throws {
        try await outbox.send(.with { $0.receiveConfig = .with { $0.config = .init() } })
        try await outbox.send(.with { $0.receiveResources = .init() })
        logger.info("backrest client connected", metadata: ["peer": "\(peer.keyid)", "instance": "\(peer.instanceID)", "protocol": "3"])
    }

    /// Acts on the established client's messages in order; created/updated lists already waiting are upserted
    /// together, up to `operationsPerTransaction`.
    private func converseProtocol3(with peer: BackrestClients.Client, receiver: inout Protocol3Reader, outbox: Protocol3Outbox) async throws {
        var carried: Protocol3Item?
        while true {
            let next: Protocol3Item
            if let item = carried {
                next = item
                carried = nil
            } else {
                guard let item = try await receiver.next() else { return }
                next = item
            }
            guard case .receiveOperations(let received)? = next.action, var operations = Self.upserted(received.event) else {
                try await handle(next, from: peer, outbox: outbox)
                continue
            }
            while operations.count < Self.operationsPerTransaction, let waiting = try receiver.nextIfReady() {
                guard case .receiveOperations(let more)? = waiting.action, let list = Self.upserted(more.event) else {
                    carried = waiting
                    break
                }
                operations += list
            }
            try await upsert(operations, from: peer)
        }
    }

    private func handle(_ item: Protocol3Item, from peer: BackrestClients.Client, outbox: Protocol3Outbox) async throws {
        switch item.action {
        case .heartbeat?:
            try await peerStates.update(keyid: peer.keyid) { $0.lastHeartbeatMillis = Self.nowMillis() }
        case .receiveConfig(let received)?:
            try await peerStates.update(keyid: peer.keyid) { $0.remoteConfig = received.config }
        case .receiveResources(let resources)?:
            try await record(repos: resources.repos, plans: resources.plans, of: peer)
        case .operationManifest(let manifest)?:
            try await reconcile(manifest, of: peer, outbox: outbox)
        case .receiveOperations(let received)?:
            try await apply(received.event, from: peer)
        case .requestLog?, .receiveLogData?, .throttle?, .signedMessage?:
            // Never implemented by any backrest; ignored rather than ending the session.
            logger.info("backrest message type ignored", metadata: ["peer": "\(peer.keyid)", "type": "\(Protocol3Channel.describe(item))"])
        case .handshake?, .requestOperationData?, .setConfig?, .requestResources?, .establishSharedSecret?, .encrypted?, nil:
            throw BackrestSessionError.protocolError(
                "unknown action type: a client does not send \(Protocol3Channel.describe(item)) to a hub")
        }
    }

    /// The manifest against what is stored for the client: what it lacks is deleted, what is new or changed is
    /// requested in bounded messages.
    private func reconcile(
        _ manifest: Protocol3Item.SyncActionOperationManifest, of peer: BackrestClients.Client, outbox: Protocol3Outbox
    ) async throws {
        let stored = try await operations.manifestState(peerKeyID: peer.keyid)
        let plan: ManifestPlan
        do {
            plan = try ManifestPlan(
                ids: manifest.opIds, modnos: manifest.modnos, stored: stored, idsPerRequest: Self.operationIDsPerRequest,
                limit: Self.maximumManifestOperations)
        } catch {
            throw BackrestSessionError.protocolError("\(error)")
        }
        try await apply(.with { $0.deletedOperations = .with { $0.values = plan.deletions } }, from: peer)
        for ids in plan.requests {
            try await outbox.send(.with { $0.requestOperationData = .with { $0.opIds = ids } })
        }
        logger.info(
            "backrest manifest reconciled",
            metadata: [
                "peer": "\(peer.keyid)", "manifest": "\(manifest.opIds.count)", "deleted": "\(plan.deletions.count)",
                "requested": "\(plan.requests.reduce(0) { $0 + $1.count })",
            ])
    }
}

/// Reads a protocol-3 session's items after the key exchange: each must be an encrypted frame of this session,
/// opened in order; anything else ends the session with the reason.
struct Protocol3Reader {
    let inbox: ReadAhead<BackrestStreamItem>
    var channel: Protocol3Channel

    /// The next decrypted item; nil at the end of the stream.
    mutating func next() async throws -> Protocol3Channel.Item? {
        guard let item = try await inbox.next() else { return nil }
        return try open(item)
    }

    /// The next decrypted item if one is already queued; never waits.
    mutating func nextIfReady() throws -> Protocol3Channel.Item? {
        guard let item = inbox.takeReady(if: { _ in true }) else { return nil }
        return try open(item)
    }

    private mutating func open(_ item: BackrestStreamItem) throws -> Protocol3Channel.Item {
        guard case .protocol3(let outer) = item else {
            throw BackrestSessionError.protocolError("a protocol-3 session received a protocol-1 message; every message must be encrypted")
        }
        do {
            return try channel.open(outer)
        } catch {
            throw BackrestSessionError.protocolError("\(error)")
        }
    }
}

/// Serializes a protocol-3 session's writes (from the conversation, heartbeats and config pushes) and seals each.
actor Protocol3Outbox {
    let writer: RPCWriter<BackrestStreamItem>
    var channel: Protocol3Channel

    init(writer: RPCWriter<BackrestStreamItem>, channel: Protocol3Channel) {
        self.writer = writer
        self.channel = channel
    }

    func send(_ inner: Protocol3Channel.Item) async throws {
        try await writer.write(.protocol3(try channel.seal(inner)))
    }
}
