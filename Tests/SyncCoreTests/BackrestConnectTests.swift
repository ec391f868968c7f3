import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import SyncCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

/// A backrest client's Sync stream over Connect (`application/connect+proto`, h2c with prior knowledge), the
/// way backrest 1.11–1.12 dials its hub.
struct ConnectHubSession {
    let stream: ConnectStream

    static func open(gateway: Int) async throws -> ConnectHubSession {
        ConnectHubSession(stream: try await ConnectStream.open(port: gateway, path: "/v1sync.BackrestSyncService/Sync"))
    }

    func send(_ item: V1sync_SyncStreamItem) async throws {
        try await stream.send(try item.serializedBytes())
    }

    /// The next item that is not a heartbeat; nil when the stream ended without an error.
    func next() async throws -> V1sync_SyncStreamItem? {
        while let frame = try await stream.next() {
            switch frame {
            case .message(let bytes):
                let item = try V1sync_SyncStreamItem(serializedBytes: bytes)
                if case .heartbeat? = item.action { continue }
                return item
            case .end(let json):
                if let error = ConnectEndError(json) { throw error }
                return nil
            }
        }
        return nil
    }

    /// Reads past the hub's handshake, config and resources to its request_operations.
    func untilRequestOperations() async throws -> V1sync_SyncStreamItem.SyncActionRequestOperations {
        while let item = try await next() {
            if case .requestOperations(let request)? = item.action { return request }
        }
        throw HubTestError("the stream ended before request_operations")
    }
}

/// The error of a Connect end-of-stream envelope.
struct ConnectEndError: Error, Equatable {
    let code: String
    let message: String

    init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// The error an end-of-stream envelope's JSON carries; nil when it carries none.
    init?(_ json: [UInt8]) {
        let end = (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any]
        guard let error = end?["error"] as? [String: Any] else { return nil }
        self.init(code: error["code"] as? String ?? "", message: error["message"] as? String ?? "")
    }
}

/// Peer states as subscribers on several replicas saw them.
actor PeerStateLog {
    private var seen: [String: [V1sync_PeerState]] = [:]

    func add(_ state: V1sync_PeerState, from replica: String) { seen[replica, default: []].append(state) }

    /// The states `replica`'s subscriber saw for `keyid`, a repeated one once (a heartbeat rewrites the state,
    /// and a subscriber's first snapshot may repeat the change that follows it).
    func states(of keyid: String, from replica: String) -> [V1sync_ConnectionState] {
        (seen[replica] ?? []).filter { $0.peerKeyid == keyid }.map(\.state).reduce(into: []) { states, state in
            if states.last != state { states.append(state) }
        }
    }
}

@Suite("backrest hub over Connect through the gateway, and two hub replicas", .serialized)
struct BackrestConnectTests {
    static let readOperations = BackrestHubTests.readOperations
    static let writeConfig: [V1_Multihost.Permission] =
        readOperations + [
            .with {
                $0.type = .permissionReadWriteConfig; $0.scopes = ["*"]
            }
        ]

    /// Connect's name of a gRPC status code (connectrpc.com/docs/protocol, "Error Codes").
    static func connectCode(_ code: RPCError.Code) -> String {
        switch code {
        case .unauthenticated: "unauthenticated"
        case .permissionDenied: "permission_denied"
        case .failedPrecondition: "failed_precondition"
        case .invalidArgument: "invalid_argument"
        case .unavailable: "unavailable"
        default: "\(code)"
        }
    }

    static func routes(_ replicas: Int...) -> String {
        let addresses = replicas.map { "127.0.0.1:\($0)" }.joined(separator: ";")
        return ["v1sync.BackrestSyncService", "v1sync.BackrestSyncStateService", "wharf.sync.v1.BackrestHub"]
            .map { "\($0)=\(addresses)" }.joined(separator: ",")
    }

    @Test(
        "over Connect through the gateway: the hub's handshake verifies, 1,000 operations are stored, a config push reaches only a READ_WRITE_CONFIG client; every refused handshake is a Connect error with gRPC's code"
    )
    func connectThroughGateway() async throws {
        try await withServices([.sync]) { services in
            let sync = services.port("sync")
            let database = services.database
            try await withGateway(routes: Self.routes(sync)) { gateway, _ in
                try await withTestClient(port: gateway, admin: true) { client in
                    let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                    let identity = try await hub.getIdentity(.init())
                    let laptop = BackrestClientIdentity(instanceID: "laptop")
                    let desktop = BackrestClientIdentity(instanceID: "desktop")
                    _ = try await hub.addClient(
                        .with {
                            $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = Self.readOperations
                        })
                    _ = try await hub.addClient(
                        .with {
                            $0.instanceID = "desktop"; $0.keyid = desktop.identity.publicKey.keyid; $0.permissions = Self.writeConfig
                        })

                    let session = try await ConnectHubSession.open(gateway: gateway)
                    defer { session.stream.close() }
                    #expect(session.stream.responseHeaders.first(name: ":status") == "200")
                    #expect(session.stream.responseHeaders.first(name: "content-type") == "application/connect+proto")
                    try await session.send(try laptop.handshake())
                    let greeting = try #require(try await session.next())
                    guard case .handshake(let handshake)? = greeting.action else { throw HubTestError("first item \(greeting)") }
                    #expect(handshake.publicKey.keyid == identity.keyid)
                    let key = try BackrestPublicKey(pem: handshake.publicKey.ed25519Pub)
                    #expect(key.isValidSignature(handshake.instanceID.signature, over: handshake.instanceID.payload))
                    let ask = try await session.untilRequestOperations()
                    #expect(ask.highOpid == 0)
                    for batch in 0..<2 {
                        try await session.send(
                            created(
                                (1...500).map { index in
                                    let id = Int64(batch * 500 + index)
                                    return laptop.operation(id, flow: id, modno: id)
                                }))
                    }
                    // Its config and resources are kept with its peer state.
                    try await session.send(
                        .with {
                            $0.receiveConfig = .with {
                                $0.config = .with {
                                    $0.modno = 7
                                    $0.repos = [
                                        .with {
                                            $0.id = "nas"; $0.guid = "guid-nas"; $0.uri = "/mnt/nas/restic"
                                        }
                                    ]
                                }
                            }
                        })
                    try await session.send(
                        .with {
                            $0.receiveResources = .with {
                                $0.repos = [
                                    .with {
                                        $0.id = "nas"; $0.guid = "guid-nas"
                                    }
                                ]
                                $0.plans = [.with { $0.id = "daily" }]
                            }
                        })
                    let postgres = try await TestPostgres.shared()
                    #expect(
                        try await eventually(timeout: .seconds(20)) { try await postgres.count("backrest.operations", database: database) == 1_000 })
                    let kept = try await eventually {
                        let state = try await BackrestHubTests.state(client, laptop)
                        return state?.remoteConfig.modno == 7 && state?.knownRepos.map(\.id) == ["nas"] && state?.knownPlans.map(\.id) == ["daily"]
                    }
                    #expect(kept)

                    // Config pushes: refused for a client without READ_WRITE_CONFIG, delivered to one with it.
                    await #expect(throws: RPCError.self) {
                        _ = try await hub.pushConfig(
                            .with {
                                $0.keyid = laptop.identity.publicKey.keyid; $0.setConfig.reposToDelete = ["repo1"]
                            })
                    }
                    let writer = try await ConnectHubSession.open(gateway: gateway)
                    defer { writer.stream.close() }
                    try await writer.send(try desktop.handshake())
                    _ = try await writer.untilRequestOperations()
                    let repo = V1_Repo.with {
                        $0.id = "offsite"; $0.uri = "sftp:backup@example.org:/srv/restic"
                    }
                    let pushed = try await hub.pushConfig(
                        .with {
                            $0.keyid = desktop.identity.publicKey.keyid; $0.setConfig.repos = [repo]
                        })
                    #expect(pushed.delivered)
                    let setConfig = try #require(try await writer.next())
                    guard case .setConfig(let config)? = setConfig.action else { throw HubTestError("expected set_config, got \(setConfig)") }
                    #expect(config.repos == [repo])
                    // The client ends its stream: the hub ends the call without an error and shows it DISCONNECTED.
                    try await writer.stream.finish()
                    #expect(try await writer.next() == nil)
                    #expect(try await eventually { try await BackrestHubTests.state(client, desktop)?.state == .disconnected })

                    // Refusals arrive as the end-of-stream envelope's error, with the codes gRPC clients get.
                    func refusal(_ item: V1sync_SyncStreamItem) async throws -> ConnectEndError? {
                        let attempt = try await ConnectHubSession.open(gateway: gateway)
                        defer { attempt.stream.close() }
                        try await attempt.send(item)
                        do {
                            while try await attempt.next() != nil {}
                            return nil
                        } catch let error as ConnectEndError {
                            return error
                        }
                    }
                    for refused in try BackrestHubTests.refusedHandshakes(laptop) {
                        let error = try await refusal(refused.item)
                        #expect(error?.code == Self.connectCode(refused.code), "\(refused.name): \(String(describing: error))")
                        #expect(error?.message.contains(refused.says) == true, "\(refused.name): \(String(describing: error))")
                    }
                }
            }
        }
    }

    @Test(
        "two hub replicas behind the gateway stream the same peer state changes; a client that disappears is DISCONNECTED on both within one heartbeat interval"
    )
    func replicas() async throws {
        let heartbeat = ["WHARF_BACKREST_HEARTBEAT_INTERVAL": "3s"]
        try await withServices([.sync(environment: heartbeat)]) { services in
            let first = services.port("sync")
            let database = services.database
            try await withServices([.sync(environment: heartbeat)], database: database) { services in
                let second = services.port("sync")
                try await withGateway(routes: Self.routes(first, second)) { gateway, _ in
                    let identities = try await [first, second].asyncMap { port in
                        try await withTestClient(port: port) { try await Wharf_Sync_V1_BackrestHub.Client(wrapping: $0).getIdentity(.init()) }
                    }
                    #expect(identities[0] == identities[1])
                    let laptop = BackrestClientIdentity(instanceID: "laptop")
                    try await withTestClient(port: gateway, admin: true) { client in
                        _ = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: client).addClient(
                            .with {
                                $0.instanceID = "laptop"; $0.keyid = laptop.identity.publicKey.keyid; $0.permissions = Self.readOperations
                            })
                    }
                    let log = PeerStateLog()
                    let keyid = laptop.identity.publicKey.keyid
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        for (name, port) in [("first", first), ("second", second)] {
                            group.addTask {
                                try await withTestClient(port: port, admin: true) { client in
                                    try await V1sync_BackrestSyncStateService.Client(wrapping: client).getPeerSyncStatesStream(
                                        .with { $0.subscribe = true }
                                    ) {
                                        for try await state in $0.messages { await log.add(state, from: name) }
                                    }
                                }
                            }
                        }
                        // The subscriptions are live once a change made after they began reaches both.
                        let session = try await ConnectHubSession.open(gateway: gateway)
                        try await session.send(try laptop.handshake())
                        _ = try await session.untilRequestOperations()
                        for replica in ["first", "second"] {
                            #expect(try await eventually(timeout: .seconds(10)) { await log.states(of: keyid, from: replica).last == .connected })
                        }
                        let gone = ContinuousClock.now
                        session.stream.disappear()
                        for replica in ["first", "second"] {
                            #expect(try await eventually(timeout: .seconds(10)) { await log.states(of: keyid, from: replica).last == .disconnected })
                        }
                        let noticed = ContinuousClock.now - gone
                        #expect(noticed < .seconds(3), "DISCONNECTED after \(noticed), more than one heartbeat interval")
                        // Both replicas saw the same changes, in the same order.
                        #expect(await log.states(of: keyid, from: "first") == log.states(of: keyid, from: "second"))
                        group.cancelAll()
                        while true {
                            do { guard try await group.next() != nil else { break } } catch {}
                        }
                    }
                }
            }
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
