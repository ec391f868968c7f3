import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import SyncCore

/// A protocol-3 session as a 1.14 client with an `http` hub URL opens it: Connect (`application/connect+proto`)
/// over h2c, here through the gateway.
func connectProtocol3Session(gateway: Int) async throws -> (io: Protocol3ClientSession, stream: ConnectStream) {
    let stream = try await ConnectStream.open(port: gateway, path: "/v1sync.BackrestSyncService/Sync")
    let io = Protocol3ClientSession(
        send: { try await stream.send(try $0.serializedBytes()) },
        receive: {
            guard let frame = try await stream.next() else { return nil }
            switch frame {
            case .message(let bytes): return try P3Item(serializedBytes: bytes)
            case .end(let json):
                if let error = ConnectEndError(json) { throw error }
                return nil
            }
        })
    return (io, stream)
}

@Suite("backrest hub: protocol 3 over Connect through the gateway, beside protocol 1, on two replicas")
struct BackrestProtocol3ConnectTests {
    @Test(
        "a 1.14 client pairs and syncs over Connect while a 1.12 client syncs through the same gateway; its second connection (to the other replica) displaces the first; SetRemoteClientConfig reaches it on whichever replica holds it, and is NOT_FOUND once it is gone"
    )
    func bothProtocolsTwoReplicas() async throws {
        try await withServices([.sync]) { services in
            let first = services.port("sync")
            let database = services.database
            try await withServices([.sync], database: database) { services in
                let second = services.port("sync")
                try await withGateway(routes: BackrestConnectTests.routes(first, second)) { gateway, _ in
                    try await withTestClient(port: gateway, admin: true) { client in
                        let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                        let old = BackrestClientIdentity(instanceID: "old-laptop")
                        _ = try await hub.addClient(
                            .with {
                                $0.instanceID = "old-laptop"; $0.keyid = old.identity.publicKey.keyid
                                $0.permissions = BackrestProtocol3Tests.readOperations
                            })
                        let token = try await BackrestProtocol3Tests.pairingToken(hub)
                        let laptop = Protocol3ClientIdentity(instanceID: "laptop")
                        let postgres = try await TestPostgres.shared()

                        // Protocol 1 over Connect, kept open.
                        let legacy = try await ConnectHubSession.open(gateway: gateway)
                        defer { legacy.stream.close() }
                        try await legacy.send(try old.handshake())
                        _ = try await legacy.untilRequestOperations()
                        try await legacy.send(created((1...100).map { old.operation(Int64($0), flow: Int64($0), modno: Int64($0)) }))

                        // Protocol 3 over Connect, at the same time.
                        let (io, stream) = try await connectProtocol3Session(gateway: gateway)
                        defer { stream.close() }
                        #expect(stream.responseHeaders.first(name: "content-type") == "application/connect+proto")
                        _ = try await io.connect(as: laptop, pairingSecret: token.secret)
                        _ = try await io.next()
                        _ = try await io.next()
                        let entries: [(id: Int64, modno: Int64)] = (1...50).map { (Int64($0), 1) }
                        let asked = try await BackrestProtocol3Tests.requested(after: entries, expecting: 50, io: io)
                        try await io.sendEncrypted(received(asked.map { laptop.operation($0, flow: $0, modno: 1) }))
                        #expect(
                            try await eventually {
                                let new = try await postgres.count("backrest.operations WHERE peer_keyid = '\(laptop.keyid)'", database: database)
                                let legacy = try await postgres.count(
                                    "backrest.operations WHERE peer_keyid = '\(old.identity.publicKey.keyid)'", database: database)
                                return new == 50 && legacy == 100
                            })

                        // A config push reaches the connected 1.14 client through whichever replica holds it.
                        let repo = V1_Repo.with {
                            $0.id = "offsite"; $0.uri = "sftp:backup@example.org:/srv/restic"
                        }
                        async let pushed = V1sync_BackrestSyncStateService.Client(wrapping: client).setRemoteClientConfig(
                            .with {
                                $0.peerKeyid = laptop.keyid; $0.repos = [repo]
                            })
                        let setConfig = try #require(try await io.next())
                        guard case .setConfig(let config)? = setConfig.action else { throw HubTestError("expected set_config, got \(setConfig)") }
                        #expect(config.repos == [repo])
                        _ = try await pushed

                        // A second connection of the same client, straight to the other replica, displaces the first.
                        try await withTestClient(port: second) { direct in
                            try await withProtocol3Session(direct) { newer in
                                _ = try await newer.connect(as: laptop)
                                do {
                                    while try await io.next() != nil {}
                                    Issue.record("the older session was kept")
                                } catch let error as ConnectEndError {
                                    #expect(error.code == "aborted")
                                    #expect(error.message.contains("displaced by a newer connection"))
                                }
                                let states = try await BackrestProtocol3Tests.states(client)
                                let state = states.first { $0.peerKeyid == laptop.keyid }
                                #expect(state?.state == .connected, "the displaced session must not overwrite the newer one's state")
                                #expect(state?.statusMessage == "connected (protocol 3)")
                                #expect(states.first { $0.peerKeyid == old.identity.publicKey.keyid }?.statusMessage == "connected (protocol 1)")
                            }
                        }
                        #expect(
                            try await eventually {
                                try await BackrestProtocol3Tests.states(client).first { $0.peerKeyid == laptop.keyid }?.state == .disconnected
                            })
                        do {
                            _ = try await V1sync_BackrestSyncStateService.Client(wrapping: client).setRemoteClientConfig(
                                .with {
                                    $0.peerKeyid = laptop.keyid; $0.repos = [repo]
                                })
                            Issue.record("a push to a client that is not connected was accepted")
                        } catch let error as RPCError {
                            #expect(error.code == .notFound)
                            #expect(error.message.contains("is not connected"))
                        }
                    }
                }
            }
        }
    }
}
