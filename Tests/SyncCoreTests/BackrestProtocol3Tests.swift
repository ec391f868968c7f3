import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceContracts
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import SyncCore

@Suite("backrest hub: protocol 3 (backrest 1.13+) over gRPC, with a client written from spec §16a")
struct BackrestProtocol3Tests {
    static let readOperations: [V1_Multihost.Permission] = [
        .with {
            $0.type = .permissionReadOperations; $0.scopes = ["*"]
        }
    ]

    static func pairingToken(_ hub: Wharf_Sync_V1_BackrestHub.Client<HTTP2ClientTransport.Posix>, uses: Int32 = 1, ttl: Int64 = 3600)
        async throws -> (text: String, secret: String, id: String)
    {
        let created = try await hub.createPairingToken(
            .with {
                $0.label = "laptop"; $0.ttlSeconds = ttl; $0.maxUses = uses; $0.permissions = readOperations
            })
        let secret = try #require(created.token.split(separator: ":").dropFirst().first?.split(separator: "#").first)
        return (created.token, String(secret), created.pairingToken.id)
    }

    /// The ids the hub requests after the manifest `entries`, read until `expecting` have come (all batches).
    static func requested(after entries: [(id: Int64, modno: Int64)], expecting: Int, io: Protocol3ClientSession) async throws -> [Int64] {
        try await io.sendEncrypted(manifest(entries))
        var ids: [Int64] = []
        while ids.count < expecting, let item = try await io.next() {
            guard case .requestOperationData(let request)? = item.action else {
                throw HubTestError("unexpected \(Protocol3Channel.describe(item))")
            }
            ids += request.opIds
        }
        return ids
    }

    static func states(_ client: GRPCClient<HTTP2ClientTransport.Posix>) async throws -> [V1sync_PeerState] {
        try await V1sync_BackrestSyncStateService.Client(wrapping: client).getPeerSyncStatesStream(.with { $0.subscribe = false }) {
            try await $0.messages.reduce(into: [V1sync_PeerState]()) { $0.append($1) }
        }
    }

    @Test(
        "a 1.14 client pairs with a token: the hub's ed25519 handshake verifies against the transcript, config and resources follow, the manifest's operations are requested and stored with ids remapped; reconnecting with its key alone, only what changed is requested and what vanished is deleted"
    )
    func pairsAndCatchesUp() async throws {
        try await withServices([.sync]) { services in
            let database = services.database
            let postgres = try await TestPostgres.shared()
            try await withTestClient(port: services.port("sync"), admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                let identity = try await hub.getIdentity(.init())
                #expect(identity.ed25519Keyid.hasPrefix("ed25519."))
                let token = try await Self.pairingToken(hub)
                #expect(token.text == "\(identity.ed25519Keyid):\(token.secret)#wharf-hub")
                #expect(token.secret.count == 64)
                let laptop = Protocol3ClientIdentity(instanceID: "laptop")

                try await withProtocol3Session(client) { io in
                    let greeting = try await io.connect(as: laptop, pairingSecret: token.secret)
                    #expect(greeting.publicKey.keyid == identity.ed25519Keyid)
                    #expect(greeting.instanceID == "wharf-hub")
                    #expect(greeting.protocolVersion == 3)
                    #expect(greeting.pairingSecret.isEmpty)
                    let config = try #require(try await io.next())
                    let resources = try #require(try await io.next())
                    guard case .receiveConfig? = config.action, case .receiveResources? = resources.action else {
                        throw HubTestError("order \(config) \(resources)")
                    }
                    let entries: [(id: Int64, modno: Int64)] = (1...30).map { (Int64($0), Int64($0) * 10) }
                    let asked = try await Self.requested(after: entries, expecting: 30, io: io)
                    #expect(asked == entries.map(\.id))
                    try await io.sendEncrypted(received(asked.map { laptop.operation($0, flow: $0, modno: $0 * 10) }))
                    let stored = try await eventually { try await postgres.count("backrest.operations", database: database) == 30 }
                    #expect(stored)
                }
                let clients = try await hub.listClients(.init()).clients
                #expect(clients.map(\.keyid) == [laptop.keyid])
                #expect(clients.first?.pairedWithToken == token.id)
                #expect(clients.first?.permissions == Self.readOperations)
                // max_uses 1: used up, so no longer listed.
                #expect(try await hub.listPairingTokens(.init()).tokens.isEmpty)

                try await withProtocol3Session(client) { io in
                    _ = try await io.connect(as: laptop)  // the key alone now
                    _ = try await io.next()
                    _ = try await io.next()
                    // 1 changed (modno), 2 gone, 31 new; the other 27 as stored.
                    var entries: [(id: Int64, modno: Int64)] = (3...30).map { (Int64($0), Int64($0) * 10) }
                    entries[0].modno = 999  // id 3
                    entries.append((31, 310))
                    entries.insert((1, 10), at: 0)
                    let asked = try await Self.requested(after: entries, expecting: 2, io: io)
                    #expect(asked == [3, 31])
                    try await io.sendEncrypted(received([laptop.operation(3, flow: 3, modno: 999), laptop.operation(31, flow: 31, modno: 310)]))
                    let stored = try await eventually { try await postgres.count("backrest.operations", database: database) == 30 }
                    #expect(stored)
                }
                #expect(try await postgres.count("backrest.operations WHERE original_id = 2", database: database) == 0)
                #expect(try await postgres.count("backrest.operations WHERE original_id = 3 AND peer_modno = 999", database: database) == 1)
                let state = try await Self.states(client).first { $0.peerKeyid == laptop.keyid }
                #expect(state?.state == .disconnected)
            }
        }
    }
}

extension BackrestProtocol3Tests {
    @Test(
        "shared repos reach a 1.13+ client holding receive-shared-repos on them, after the hub's config and resources, marked shared with the hub as origin (fields 13 and 14), and again when they change; a client without the grant gets none"
    )
    func sharedRepos() async throws {
        try await withServices([.sync]) { services in
            try await withTestClient(port: services.port("sync"), admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                let offsite = V1_Repo.with {
                    $0.id = "offsite"; $0.uri = "sftp:backup@example.org:/srv/restic"; $0.guid = "guid-offsite"
                }
                let archive = V1_Repo.with {
                    $0.id = "archive"; $0.uri = "/mnt/archive"; $0.guid = "guid-archive"
                }
                for repo in [offsite, archive] { _ = try await hub.putSharedRepo(.with { $0.repo = repo }) }
                await #expect(throws: RPCError.self) {
                    _ = try await hub.putSharedRepo(
                        .with {
                            $0.repo = .with {
                                $0.id = "noguid"; $0.uri = "/x"
                            }
                        })
                }
                #expect(try await hub.listSharedRepos(.init()).repos.map(\.id) == ["archive", "offsite"])
                func token(_ permissions: [V1_Multihost.Permission]) async throws -> String {
                    let created = try await hub.createPairingToken(
                        .with {
                            $0.ttlSeconds = 600; $0.maxUses = 1; $0.permissions = permissions
                        })
                    return String(created.token.split(separator: ":")[1].split(separator: "#")[0])
                }
                let receiving = try await token(
                    Self.readOperations + [
                        .with {
                            $0.type = BackrestPermissionText.receiveSharedRepos; $0.scopes = ["repo:offsite"]
                        }
                    ])
                let plain = try await token(Self.readOperations)
                let laptop = Protocol3ClientIdentity(instanceID: "laptop")
                let desktop = Protocol3ClientIdentity(instanceID: "desktop")

                try await withProtocol3Session(client) { io in
                    _ = try await io.connect(as: laptop, pairingSecret: receiving)
                    let opening = [try await io.next(), try await io.next(), try await io.next()].map { $0.map(Protocol3Channel.describe) }
                    #expect(opening == ["receive_config", "receive_resources", "set_config"])
                    // The set_config carried only the repo the grant covers, marked as backrest 1.13 marks a pushed repo.
                    _ = try await hub.putSharedRepo(
                        .with {
                            $0.repo = offsite; $0.repo.uri = "sftp:backup@example.org:/srv/restic2"
                        })
                    guard let pushed = try await io.next(), case .setConfig(let setConfig)? = pushed.action else {
                        throw HubTestError("expected a second set_config")
                    }
                    #expect(setConfig.repos.map(\.id) == ["offsite"])
                    #expect(setConfig.repos.first?.uri == "sftp:backup@example.org:/srv/restic2")
                    let marks = try Wharf_Backrest_Protocol3_RepoSharing(serializedBytes: setConfig.repos.first?.unknownFields.data ?? Data())
                    #expect(marks.shared && marks.originInstanceID == "wharf-hub")
                }
                try await withProtocol3Session(client) { io in
                    _ = try await io.connect(as: desktop, pairingSecret: plain)
                    _ = try await io.next()
                    _ = try await io.next()
                    // What comes next is the operator's push, not a shared repo.
                    _ = try await V1sync_BackrestSyncStateService.Client(wrapping: client).setRemoteClientConfig(
                        .with {
                            $0.peerKeyid = desktop.keyid; $0.plansToDelete = ["marker"]
                        })
                    guard let next = try await io.next(), case .setConfig(let setConfig)? = next.action else {
                        throw HubTestError("expected set_config")
                    }
                    #expect(setConfig.repos.isEmpty && setConfig.plansToDelete == ["marker"])
                }
                #expect(try await hub.removeSharedRepo(.with { $0.id = "archive" }).removed)
                await #expect(throws: RPCError.self) { _ = try await hub.removeSharedRepo(.with { $0.id = "archive" }) }
            }
        }
    }

    /// Answers the hub's request_operation_data messages as backrest does (the operations in batches of 512),
    /// until `expecting` ids were asked for; returns the size of each request.
    static func serveRequests(io: Protocol3ClientSession, expecting: Int, operation: (Int64) -> V1_Operation) async throws -> [Int] {
        var sizes: [Int] = []
        while sizes.reduce(0, +) < expecting, let item = try await io.next() {
            guard case .requestOperationData(let request)? = item.action else {
                throw HubTestError("unexpected \(Protocol3Channel.describe(item))")
            }
            sizes.append(request.opIds.count)
            for start in stride(from: 0, to: request.opIds.count, by: 512) {
                let ids = request.opIds[start..<min(start + 512, request.opIds.count)]
                try await io.sendEncrypted(received(ids.map(operation)))
            }
        }
        return sizes
    }

    @Test(
        "a manifest of 100,000 operations is requested in messages of at most 10,000 ids and stored whole; after 100 changes only those 100 are requested"
    )
    func largeManifest() async throws {
        try await withServices([.sync]) { services in
            let database = services.database
            let postgres = try await TestPostgres.shared()
            try await withTestClient(port: services.port("sync"), admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                let token = try await Self.pairingToken(hub)
                let laptop = Protocol3ClientIdentity(instanceID: "laptop")
                let count = 100_000
                try await withProtocol3Session(client) { io in
                    _ = try await io.connect(as: laptop, pairingSecret: token.secret)
                    _ = try await io.next()
                    _ = try await io.next()
                    try await io.sendEncrypted(manifest((1...count).map { (Int64($0), 1) }))
                    let sizes = try await Self.serveRequests(io: io, expecting: count) { laptop.operation($0, flow: ($0 + 9) / 10, modno: 1) }
                    #expect(sizes == Array(repeating: 10_000, count: 10))
                    // 100,000 rows: about 20 s alone, over a minute on a loaded 2-core machine with the suite.
                    let stored = try await eventually(timeout: .seconds(240), every: .milliseconds(500)) {
                        try await postgres.count("backrest.operations", database: database) == count
                    }
                    #expect(stored)
                }
                try await withProtocol3Session(client) { io in
                    _ = try await io.connect(as: laptop)
                    _ = try await io.next()
                    _ = try await io.next()
                    let changed = Set(stride(from: Int64(1_000), to: 101_000, by: 1_000))
                    try await io.sendEncrypted(manifest((1...count).map { (Int64($0), changed.contains(Int64($0)) ? 2 : 1) }))
                    let sizes = try await Self.serveRequests(io: io, expecting: 100) { laptop.operation($0, flow: ($0 + 9) / 10, modno: 2) }
                    #expect(sizes == [100])
                    let updated = try await eventually {
                        try await postgres.count("backrest.operations WHERE peer_modno = 2", database: database) == 100
                    }
                    #expect(updated)
                }
            }
        }
    }

    /// The status a protocol-3 session ends with after `body` has sent what it sends (nil: it ended cleanly, or was
    /// not ended within 30 s — a session the hub kept is a failure, not a hang).
    static func refusal(
        _ client: GRPCClient<HTTP2ClientTransport.Posix>, _ body: @escaping @Sendable (Protocol3ClientSession) async throws -> Void
    ) async throws -> RPCError? {
        try await withThrowingTaskGroup(of: RPCError?.self) { group in
            group.addTask {
                do {
                    try await withProtocol3Session(client) { io in
                        try await body(io)
                        while try await io.next() != nil {}
                    }
                    return nil
                } catch let error as RPCError {
                    return error
                }
            }
            group.addTask {
                try await Task.sleep(for: .seconds(30))
                Issue.record("the hub kept a session it should have refused")
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
    }

    static func expectRefusal(
        _ error: RPCError?, _ code: RPCError.Code, _ says: String, _ name: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(error?.code == code, "\(name): \(String(describing: error))", sourceLocation: sourceLocation)
        #expect(error?.message.contains(says) == true, "\(name): \(String(describing: error))", sourceLocation: sourceLocation)
    }

    @Test(
        "every refusal of §16a ends the stream with its status and reason: bad KEM messages, a wrong transcript signature, unknown key without token, unknown, expired, used-up and revoked tokens, instance mismatch, nonce misuse, a bad tag, an oversized frame, a protocol-1 item, items a hub must not receive, a bad manifest; refused pairings are shown to the operator"
    )
    func refusals() async throws {
        try await withServices([.sync(environment: ["WHARF_BACKREST_MAX_ITEM_BYTES": "65536"])]) { services in
            let database = services.database
            let postgres = try await TestPostgres.shared()
            try await withTestClient(port: services.port("sync"), admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                let laptop = Protocol3ClientIdentity(instanceID: "laptop")
                let pairing = try await Self.pairingToken(hub)

                // The key exchange.
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        try await io.sendRaw(
                            .with {
                                $0.establishSharedSecret = .with {
                                    $0.protocolVersion = 1; $0.kemPublicKey = Data(count: 1600)
                                }
                            })
                    }, .invalidArgument, "KEM public key of 1600 bytes", "short KEM key")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        let initiator = try Protocol3Channel.Initiator()
                        var first = initiator.first
                        first.establishSharedSecret.protocolVersion = 2
                        try await io.sendRaw(first)
                    }, .invalidArgument, "transport protocol version 2", "transport version")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        try await io.sendRaw(
                            .with {
                                $0.encrypted = .with {
                                    $0.nonce = Data(count: 12); $0.ciphertext = Data(count: 40)
                                }
                            })
                    }, .invalidArgument, "expected KEM key exchange", "encrypted before the key exchange")
                // The handshake.
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        try await io.exchangeKeys()
                        try await io.sendEncrypted(try laptop.handshake(transcript: Array(repeating: 7, count: 32), pairingSecret: pairing.secret))
                    }, .unauthenticated, "does not verify over this connection's transcript", "signature over another transcript")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        let transcript = try await io.exchangeKeys()
                        var handshake = try laptop.handshake(transcript: transcript)
                        handshake.handshake.protocolVersion = 1
                        try await io.sendEncrypted(handshake)
                    }, .invalidArgument, "version 1 in the encrypted handshake", "protocol version 1 inside")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        try await io.exchangeKeys()
                        try await io.sendEncrypted(.with { $0.heartbeat = .init() })
                    }, .unauthenticated, "must be a handshake", "no handshake")
                // Authorization and pairing.
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: laptop) }, .permissionDenied,
                    "no pairing secret was given", "unknown key without a token")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: laptop, pairingSecret: String(repeating: "ab", count: 32)) },
                    .permissionDenied, "matches no pairing token", "unknown secret")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: laptop, pairingSecret: "not-hex") }, .permissionDenied,
                    "is not 64 hexadecimal characters", "malformed secret")
                let expired = try await Self.pairingToken(hub)
                try await postgres.query(
                    database: database, "UPDATE backrest.pairing_tokens SET expires_at = now() - interval '1 second' WHERE id = '\(expired.id)'")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: laptop, pairingSecret: expired.secret) }, .permissionDenied,
                    "has expired", "expired token")
                let revoked = try await Self.pairingToken(hub)
                #expect(try await hub.revokePairingToken(.with { $0.id = revoked.id }).revoked)
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: laptop, pairingSecret: revoked.secret) }, .permissionDenied,
                    "was revoked", "revoked token")
                // Pairs (max_uses 1), then the token is used up for anyone else. The hub's config follows its
                // authorization: read, so that the pairing is done before the client hangs up.
                try await withProtocol3Session(client) { io in
                    _ = try await io.connect(as: laptop, pairingSecret: pairing.secret)
                    _ = try await io.next()
                }
                let desktop = Protocol3ClientIdentity(instanceID: "desktop")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: desktop, pairingSecret: pairing.secret) }, .permissionDenied,
                    "is used up (1 clients paired with it)", "used-up token")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in _ = try await io.connect(as: laptop, instanceID: "desktop") }, .permissionDenied,
                    "belongs to instance laptop", "instance mismatch")
                let refused = try await hub.listRefusedPeers(.init()).peers
                #expect(refused.contains { $0.peerKeyid == desktop.keyid && $0.statusMessage.contains("used up") && $0.state == .errorAuth })
                #expect(try await Self.states(client).first { $0.peerKeyid == laptop.keyid }?.statusMessage.contains("belongs to instance") == true)

                // The frames, after a valid handshake.
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        _ = try await io.connect(as: laptop)
                        guard var channel = io.channel else { return }
                        _ = try channel.seal(.with { $0.heartbeat = .init() })  // counter 1 is skipped
                        try await io.sendRaw(try channel.seal(.with { $0.heartbeat = .init() }))
                    }, .invalidArgument, "out of order: expected nonce counter 1, got counter 2", "skipped counter")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        let transcript = try await io.exchangeKeys()
                        guard var channel = io.channel else { return }
                        let frame = try channel.seal(try laptop.handshake(transcript: transcript))
                        try await io.sendRaw(frame)
                        try await io.sendRaw(frame)
                    }, .invalidArgument, "expected nonce counter 1, got counter 0", "replayed frame")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        let transcript = try await io.exchangeKeys()
                        guard var channel = io.channel else { return }
                        var frame = try channel.seal(try laptop.handshake(transcript: transcript))
                        frame.encrypted.ciphertext[frame.encrypted.ciphertext.count - 1] ^= 1
                        try await io.sendRaw(frame)
                    }, .invalidArgument, "does not authenticate", "bad tag")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        _ = try await io.connect(as: laptop)
                        try await io.sendEncrypted(.with { $0.receiveLogData = .with { $0.chunk = Data(count: 70_000) } })
                    }, .invalidArgument, "larger than", "oversized frame")
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        _ = try await io.connect(as: laptop)
                        try await io.sendRaw(.with { $0.heartbeat = .init() })  // in the clear: protocol 1's field
                    }, .invalidArgument, "received a protocol-1 message", "a protocol-1 item")
                for (name, item) in [
                    ("request_operation_data", P3Item.with { $0.requestOperationData = .with { $0.opIds = [1] } }),
                    ("set_config", .with { $0.setConfig = .init() }), ("request_resources", .with { $0.requestResources = .init() }),
                    ("handshake", .with { $0.handshake = .init() }),
                    ("establish_shared_secret", .with { $0.establishSharedSecret = .init() }),
                ] {
                    Self.expectRefusal(
                        try await Self.refusal(client) { io in
                            _ = try await io.connect(as: laptop)
                            try await io.sendEncrypted(item)
                        }, .invalidArgument, name, "\(name) from a client")
                }
                Self.expectRefusal(
                    try await Self.refusal(client) { io in
                        _ = try await io.connect(as: laptop)
                        try await io.sendEncrypted(
                            .with {
                                $0.operationManifest = .with {
                                    $0.opIds = [1, 2]; $0.modnos = [1]
                                }
                            })
                    }, .invalidArgument, "mismatched op_ids (2) and modnos (1)", "mismatched manifest")
            }
        }
    }
}
