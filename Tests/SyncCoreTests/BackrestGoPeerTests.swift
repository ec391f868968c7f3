import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@Suite("backrest hub: a protocol-3 peer built on Go's standard library (crypto/hpke, as backrest), driven as a process")
struct BackrestGoPeerTests {
    @Test(
        "the Go peer pairs with a token over Connect through the gateway while a protocol-1 client syncs; reconnects over gRPC with its key alone; syncs 10,000 operations through a manifest; after a hub restart only what changed is requested; a config push reaches it; a second key with the used-up token is refused"
    )
    func goPeer() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        let state = try TemporaryDirectories.make(prefix: "backrest-go-peer")
        let stranger = try TemporaryDirectories.make(prefix: "backrest-go-stranger")
        defer {
            try? FileManager.default.removeItem(atPath: state)
            try? FileManager.default.removeItem(atPath: stranger)
        }
        func count(_ condition: String) async throws -> Int {
            try await postgres.count("backrest.operations WHERE \(condition)", database: database)
        }
        let goKeyid: String = try await withServices([.sync], database: database) { services in
            let sync = services.port("sync")
            return try await withGateway(routes: BackrestConnectTests.routes(sync)) { gateway, _ in
                try await withTestClient(port: gateway, admin: true) { client in
                    let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                    let token = try await BackrestProtocol3Tests.pairingToken(hub)
                    let old = BackrestClientIdentity(instanceID: "old-laptop")
                    _ = try await hub.addClient(
                        .with {
                            $0.instanceID = "old-laptop"; $0.keyid = old.identity.publicKey.keyid; $0.permissions = BackrestHubTests.readOperations
                        })
                    let legacy = try await ConnectHubSession.open(gateway: gateway)
                    defer { legacy.stream.close() }
                    try await legacy.send(try old.handshake())
                    _ = try await legacy.untilRequestOperations()

                    let first = try await GoPeerRun.start(
                        ["-address", "127.0.0.1:\(gateway)", "-protocol", "connect", "-pair", token.text, "-instance", "go-laptop", "-ops", "10000"],
                        state: state)
                    try await legacy.send(created((1...200).map { old.operation(Int64($0), flow: Int64($0), modno: 1) }))
                    let keyid = try #require(
                        await eventually(timeout: .seconds(30)) { first.event("connected") != nil }
                            ? first.event("connected")?["keyid"] as? String : nil,
                        "\(first.output)")
                    #expect(try await eventually(timeout: .seconds(90)) { try await count("peer_keyid = '\(keyid)'") == 10_000 }, "\(first.output)")
                    let summary = try await first.finish()
                    #expect(summary["requested"] as? Int == 10_000)
                    #expect(summary["largest_request"] as? Int == 10_000)
                    #expect(try await count("peer_keyid = '\(old.identity.publicKey.keyid)'") == 200)
                    // Its 1.13 field (operation_backup {dry_run = true}: tag 100, length 2, field 5 = 1) is kept with each
                    // operation, though Wharf's v1 schema is 1.12's.
                    #expect(try await count("peer_keyid = '\(keyid)' AND position('\\xa206022801'::bytea in operation) > 0") == 10_000)

                    // Its key alone now (the token is spent), over gRPC straight to the hub.
                    let second = try await GoPeerRun.start(
                        ["-address", "127.0.0.1:\(sync)", "-protocol", "grpc", "-instance", "go-laptop", "-ops", "10000", "-changed", "3"],
                        state: state)
                    #expect(
                        try await eventually(timeout: .seconds(30)) { try await count("peer_keyid = '\(keyid)' AND peer_modno = 2") == 3 },
                        "\(second.output)")
                    #expect(try await second.finish()["requested"] as? Int == 3)

                    // Another key cannot reuse the token.
                    let refused = try await GoPeerRun.start(
                        ["-address", "127.0.0.1:\(gateway)", "-protocol", "connect", "-pair", token.text, "-instance", "intruder", "-ops", "1"],
                        state: stranger)
                    #expect(await refused.process.waitForExit(timeout: .seconds(30)) == 3, "\(refused.output)")
                    #expect(refused.event("refused")?["code"] as? String == "permission_denied", "\(refused.output)")
                    #expect((refused.event("refused")?["message"] as? String)?.contains("is used up") == true, "\(refused.output)")
                    return keyid
                }
            }
        }

        // The hub restarts (same database, same key file): catch-up asks only for what changed since.
        try await withServices([.sync], database: database) { services in
            let sync = services.port("sync")
            try await withGateway(routes: BackrestConnectTests.routes(sync)) { gateway, _ in
                let third = try await GoPeerRun.start(
                    ["-address", "127.0.0.1:\(gateway)", "-protocol", "grpc", "-instance", "go-laptop", "-ops", "9990", "-changed", "8"],
                    state: state)
                #expect(
                    try await eventually(timeout: .seconds(30)) { try await count("peer_keyid = '\(goKeyid)' AND peer_modno = 2") == 8 },
                    "\(third.output)")
                let summary = try await third.finish()
                #expect(summary["requested"] as? Int == 5, "\(third.output)")
                #expect(try await count("peer_keyid = '\(goKeyid)'") == 9_990)  // the 10 the manifest lacks were deleted

                // A config push reaches it.
                let fourth = try await GoPeerRun.start(
                    [
                        "-address", "127.0.0.1:\(gateway)", "-protocol", "connect", "-instance", "go-laptop", "-ops", "9990", "-changed", "8",
                        "-exit-after-config",
                    ], state: state)
                #expect(await eventually(timeout: .seconds(30)) { fourth.event("connected") != nil }, "\(fourth.output)")
                try await withTestClient(port: gateway, admin: true) { client in
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await BackrestProtocol3Tests.states(client).first { $0.peerKeyid == goKeyid }?.state == .connected
                        })
                    _ = try await V1sync_BackrestSyncStateService.Client(wrapping: client).setRemoteClientConfig(
                        .with {
                            $0.peerKeyid = goKeyid
                            $0.repos = [
                                .with {
                                    $0.id = "offsite"; $0.uri = "sftp:backup@example.org:/srv/restic"
                                }
                            ]
                            $0.reposToDelete = ["old"]
                        })
                }
                #expect(await fourth.process.waitForExit(timeout: .seconds(30)) == 0, "\(fourth.output)")
                #expect(fourth.event("config")?["repos"] as? [String] == ["offsite"], "\(fourth.output)")
                #expect(fourth.event("config")?["repos_to_delete"] as? [String] == ["old"], "\(fourth.output)")
            }
        }
    }

    @Test("over TLS (ALPN h2) where the gateway serves it, as 1.14 speaks to an https:// hub: the Go peer pairs and syncs over Connect and over gRPC")
    func goPeerOverTLS() async throws {
        let (certificate, key) = try await TestCertificates.selfSigned()
        let state = try TemporaryDirectories.make(prefix: "backrest-go-tls")
        defer { try? FileManager.default.removeItem(atPath: state) }
        try await withServices([.sync]) { services in
            let sync = services.port("sync")
            let database = services.database
            let postgres = try await TestPostgres.shared()
            let token = try await withTestClient(port: sync, admin: true) { client in
                try await BackrestProtocol3Tests.pairingToken(Wharf_Sync_V1_BackrestHub.Client(wrapping: client))
            }
            try await withGateway(
                routes: BackrestConnectTests.routes(sync), environment: ["WHARF_TLS_CERT": certificate, "WHARF_TLS_KEY": key]
            ) { gateway, _ in
                for (run, protocolName) in ["connect", "grpc"].enumerated() {
                    let pairing = run == 0 ? ["-pair", token.text] : []
                    let peer = try await GoPeerRun.start(
                        [
                            "-address", "localhost:\(gateway)", "-ca", certificate, "-protocol", protocolName, "-instance", "tls-laptop",
                            "-ops", "500", "-changed", "\(run * 10)",
                        ] + pairing, state: state)
                    #expect(await eventually(timeout: .seconds(30)) { peer.event("connected") != nil }, "\(peer.output)")
                    #expect(peer.event("connected")?["tls"] as? Bool == true, "\(peer.output)")
                    #expect(peer.event("connected")?["http"] as? String == "HTTP/2.0", "\(peer.output)")
                    let stored = try await eventually(timeout: .seconds(30)) {
                        try await postgres.count("backrest.operations WHERE peer_modno = \(run + 1)", database: database) == (run == 0 ? 500 : 10)
                    }
                    #expect(stored, "\(peer.output)")
                    #expect(try await peer.finish()["requested"] as? Int == (run == 0 ? 500 : 10))
                }
            }
        }
    }
}
