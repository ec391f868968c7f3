import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
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
    static func requested(after entries: [(id: Int64, modno: Int64)], expecting: Int, io: Protocol3SessionIO) async throws -> [Int64] {
        try io.sendEncrypted(manifest(entries))
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
                    try io.sendEncrypted(received(asked.map { laptop.operation($0, flow: $0, modno: $0 * 10) }))
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
                    try io.sendEncrypted(received([laptop.operation(3, flow: 3, modno: 999), laptop.operation(31, flow: 31, modno: 310)]))
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
