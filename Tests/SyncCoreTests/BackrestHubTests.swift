import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SyncCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

extension InProcessService {
    /// The sync service with a short heartbeat; its hub key is named after the database, so a second replica on
    /// the same database shares it (as replicas of one deployment share a mounted key).
    static let sync = sync(environment: [:])

    static func sync(environment: [String: String]) -> InProcessService {
        InProcessService(SyncServer.self) { services in
            [
                "WHARF_SYNC_STORE": "127.0.0.1:1", "WHARF_SYNC_ROUTING": "127.0.0.1:1",
                "WHARF_BACKREST_INSTANCE_ID": "wharf-hub", "WHARF_BACKREST_HEARTBEAT_INTERVAL": "1s",
                "WHARF_BACKREST_KEY_FILE": FileManager.default.temporaryDirectory
                    .appendingPathComponent("\(services.database)-hub.pem").path,
            ].merging(environment) { $1 }
        }
    }
}

@Suite("backrest hub: v1sync Sync over gRPC with clients written from the spec", .serialized)
struct BackrestHubTests {
    static let readOperations: [V1_Multihost.Permission] = [
        .with {
            $0.type = .permissionReadOperations; $0.scopes = ["*"]
        }
    ]

    @Test(
        "an authorized key is accepted: the hub's handshake verifies, then config, resources and request_operations in order; 10,000 operations in batches of 500 are stored once; updates, deletes and reconnect catch-up"
    )
    func acceptedSession() async throws {
        try await withServices([.sync]) { services in
            let port = services.port("sync")
            let database = services.database
            try await withTestClient(port: port, admin: true) { client in
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                let identity = try await hub.getIdentity(.init())
                #expect(identity.instanceID == "wharf-hub")
                #expect(try BackrestPublicKey(pem: identity.publicKeyPem).keyid == identity.keyid)
                let laptop = BackrestClientIdentity(instanceID: "laptop")
                _ = try await hub.addClient(
                    .with {
                        $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = Self.readOperations
                    })
                #expect(try await hub.listClients(.init()).clients.map(\.keyid) == [laptop.identity.publicKey.keyid])

                let first = try await withHubSession(client) { io in
                    io.send.yield(try laptop.handshake())
                    let greeting = try #require(try await io.next())
                    guard case .handshake(let handshake)? = greeting.action else { throw HubTestError("first item \(greeting)") }
                    #expect(handshake.protocolVersion == 1)
                    #expect(handshake.publicKey.keyid == identity.keyid)
                    #expect(String(decoding: handshake.instanceID.payload, as: UTF8.self) == "wharf-hub")
                    let key = try BackrestPublicKey(pem: handshake.publicKey.ed25519Pub)
                    #expect(key.isValidSignature(handshake.instanceID.signature, over: handshake.instanceID.payload))
                    let config = try #require(try await io.next())
                    let resources = try #require(try await io.next())
                    let request = try #require(try await io.next())
                    guard case .receiveConfig? = config.action, case .receiveResources? = resources.action,
                        case .requestOperations(let ask)? = request.action
                    else { throw HubTestError("order \(config) \(resources) \(request)") }
                    #expect(ask.highOpid == 0 && ask.highModno == 0)
                    // 10,000 operations in batches of 500, every tenth flow with several operations.
                    for batch in 0..<20 {
                        let operations = (1...500).map { index -> V1_Operation in
                            let id = Int64(batch * 500 + index)
                            return laptop.operation(id, flow: (id + 9) / 10, modno: id)
                        }
                        io.send.yield(created(operations))
                    }
                    // A garbled >256 catch-up: the same operations again, some twice in one list, sent as created.
                    var garbled: [V1_Operation] = []
                    for index in 1...300 {
                        let id = Int64(index % 150 + 1)
                        garbled.append(laptop.operation(id, flow: (id + 9) / 10, modno: id))
                    }
                    io.send.yield(created(garbled))
                    io.send.yield(.with { $0.heartbeat = .init() })
                    return try await eventually(timeout: .seconds(30)) {
                        try await TestPostgres.shared().count("backrest.operations", database: database) == 10_000
                    }
                }
                #expect(first)
                let postgres = try await TestPostgres.shared()
                #expect(try await postgres.count("backrest.operations", database: database) == 10_000)
                // 1,000 flows of 10; each maps to the hub id of its first stored operation.
                #expect(try await postgres.count("(SELECT DISTINCT flow_id FROM backrest.operations) AS flows", database: database) == 1_000)
                #expect(
                    try await postgres.count(
                        """
                        backrest.operations o WHERE o.flow_id <> (SELECT min(p.id) FROM backrest.operations p
                        WHERE p.peer_keyid = o.peer_keyid AND p.original_flow_id = o.original_flow_id)
                        """, database: database) == 0)
                let states = try await V1sync_BackrestSyncStateService.Client(wrapping: client).getPeerSyncStatesStream(
                    .with { $0.subscribe = false }
                ) {
                    try await $0.messages.reduce(into: [V1sync_PeerState]()) { $0.append($1) }
                }
                #expect(states.map(\.peerKeyid) == [laptop.identity.publicKey.keyid])
                #expect(try await eventually { try await Self.state(client, laptop)?.state == .disconnected })

                // Reconnect: catch-up asks from the client's own highest id and modno; an offline edit of op 7
                // (modno 10,001), a delete, and a delete of an unknown op.
                let second = try await withHubSession(client) { io in
                    io.send.yield(try laptop.handshake())
                    var ask: V1sync_SyncStreamItem.SyncActionRequestOperations?
                    while let item = try await io.next() {
                        if case .requestOperations(let request)? = item.action { ask = request; break }
                    }
                    io.send.yield(
                        .with {
                            $0.receiveOperations = .with {
                                $0.event = .with {
                                    $0.updatedOperations = .with {
                                        $0.operations = [laptop.operation(7, flow: 1, modno: 10_001, message: "edited offline")]
                                    }
                                }
                            }
                        })
                    io.send.yield(
                        .with { $0.receiveOperations = .with { $0.event = .with { $0.deletedOperations = .with { $0.values = [8, 999_999] } } } })
                    let applied = try await eventually(timeout: .seconds(10)) {
                        try await TestPostgres.shared().count("backrest.operations", database: database) == 9_999
                    }
                    #expect(try await Self.state(client, laptop)?.state == .connected)
                    return (ask, applied)
                }
                #expect(second.0?.highOpid == 10_000)
                #expect(second.0?.highModno == 10_000)
                #expect(second.1)
                #expect(try await postgres.count("backrest.operations WHERE original_id = 7 AND peer_modno = 10001", database: database) == 1)
                #expect(try await postgres.count("backrest.operations WHERE original_id = 8", database: database) == 0)
            }
        }
    }

    @Test(
        "refused: unknown key, wrong keyid, bad signature, signature over timestamp ‖ payload, stale timestamp, instance mismatch, non-handshake first message, a protocol-3 key exchange with a bad key"
    )
    func refusedHandshakes() async throws {
        try await withServices([.sync]) { services in
            let port = services.port("sync")
            try await withTestClient(port: port, admin: true) { client in
                let laptop = BackrestClientIdentity(instanceID: "laptop")
                let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                _ = try await hub.addClient(
                    .with {
                        $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = Self.readOperations
                    })
                func refusal(_ item: V1sync_SyncStreamItem) async throws -> RPCError? {
                    do {
                        _ = try await withHubSession(client) { io in
                            io.send.yield(item)
                            while try await io.next() != nil {}
                        }
                        return nil
                    } catch let error as RPCError {
                        return error
                    }
                }
                for refused in try Self.refusedHandshakes(laptop) {
                    let error = try await refusal(refused.item)
                    #expect(error?.code == refused.code, "\(refused.name): \(String(describing: error))")
                    #expect(error?.message.contains(refused.says) == true, "\(refused.name): \(String(describing: error))")
                }
                #expect(try await Self.state(client, laptop)?.state == .errorAuth)
            }
        }
    }

    @Test("a client silent for twice its heartbeat interval after its handshake is ended UNAVAILABLE and shown DISCONNECTED (stale)")
    func silentPeer() async throws {
        let environment = ["WHARF_BACKREST_CLIENT_HEARTBEAT_INTERVAL": "500ms", "WHARF_BACKREST_HEARTBEAT_INTERVAL": "200ms"]
        try await withServices([.sync(environment: environment)]) { services in
            let port = services.port("sync")
            try await withTestClient(port: port, admin: true) { client in
                let laptop = BackrestClientIdentity(instanceID: "laptop")
                _ = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: client).addClient(
                    .with {
                        $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = Self.readOperations
                    })
                let started = ContinuousClock.now
                do {
                    _ = try await withHubSession(client) { io in
                        io.send.yield(try laptop.handshake())
                        while try await io.next() != nil {}  // the hub's own heartbeats do not keep it alive
                    }
                    Issue.record("a silent client was kept")
                } catch let error as RPCError {
                    #expect(error.code == .unavailable)
                    #expect(error.message.contains("stale"), "\(error.message)")
                }
                #expect(ContinuousClock.now - started >= .milliseconds(1_000))
                let state = try await Self.state(client, laptop)
                #expect(state?.state == .disconnected)
                #expect(state?.statusMessage.contains("stale") == true)
            }
        }
    }

    @Test("no handshake within the handshake timeout ends the stream with UNAUTHENTICATED")
    func handshakeTimeout() async throws {
        try await withServices([.sync(environment: ["WHARF_BACKREST_HANDSHAKE_TIMEOUT": "500ms"])]) { services in
            let port = services.port("sync")
            try await withTestClient(port: port) { client in
                do {
                    _ = try await withHubSession(client) { io in while try await io.next() != nil {} }
                    Issue.record("a silent client was kept")
                } catch let error as RPCError {
                    #expect(error.code == .unauthenticated)
                    #expect(error.message == "no handshake packet received from peer within timeout")
                }
            }
        }
    }

    /// First items a hub must refuse from a client that claims to be `laptop` (authorized, read-operations),
    /// with the status each gets and a phrase of its message; the same over gRPC and over Connect.
    static func refusedHandshakes(_ laptop: BackrestClientIdentity) throws -> [(
        name: String, item: V1sync_SyncStreamItem, code: RPCError.Code, says: String
    )] {
        let stranger = BackrestClientIdentity(instanceID: "stranger")
        var badSignature = try laptop.handshake()
        if case .handshake(var handshake)? = badSignature.action {
            handshake.instanceID.signature = try stranger.identity.signature(over: handshake.instanceID.payload)
            badSignature.handshake = handshake
        }
        var timestamped = try laptop.handshake()
        if case .handshake(var handshake)? = timestamped.action {
            var prefixed = withUnsafeBytes(of: handshake.instanceID.timestampMillis.bigEndian) { Data($0) }
            prefixed.append(handshake.instanceID.payload)
            handshake.instanceID.signature = try laptop.identity.signature(over: prefixed)
            timestamped.handshake = handshake
        }
        return [
            ("unknown key", try stranger.handshake(), .permissionDenied, "not found in known peers"),
            ("wrong keyid", try laptop.handshake(keyid: stranger.identity.publicKey.keyid), .unauthenticated, "does not match the derived key"),
            ("bad signature", badSignature, .unauthenticated, "signature does not verify"),
            ("signature over timestamp ‖ payload", timestamped, .unauthenticated, "signature does not verify"),
            ("stale timestamp", try laptop.handshake(at: Date().addingTimeInterval(-301)), .unauthenticated, "5 minutes"),
            ("instance id mismatch", try laptop.handshake(payload: "desktop"), .permissionDenied, "belongs to instance laptop"),
            ("not a handshake first", .with { $0.heartbeat = .init() }, .unauthenticated, "must be a handshake"),
            // backrest 1.13+: establish_shared_secret (field 2, unknown to protocol 1) opens a protocol-3 session, whose
            // key exchange refuses a 5-byte KEM public key.
            (
                "a protocol-3 key exchange with a short key",
                try V1sync_SyncStreamItem(serializedBytes: [0x12, 0x09, 0x08, 0x01, 0x12, 0x05, 0x41, 0x41, 0x41, 0x41, 0x41]),
                .invalidArgument, "KEM public key of 5 bytes"
            ),
        ]
    }

    static func state(_ client: GRPCClient<HTTP2ClientTransport.Posix>, _ peer: BackrestClientIdentity) async throws -> V1sync_PeerState? {
        try await V1sync_BackrestSyncStateService.Client(wrapping: client).getPeerSyncStatesStream(.with { $0.subscribe = false }) {
            try await $0.messages.reduce(into: [V1sync_PeerState]()) { $0.append($1) }
        }.first { $0.peerKeyid == peer.identity.publicKey.keyid }
    }
}

struct HubTestError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
