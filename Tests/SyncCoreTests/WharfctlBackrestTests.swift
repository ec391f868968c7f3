import Foundation
import GRPCCore
import SyncCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@Suite("wharfctl backrest: identity, clients, peers and config pushes through the gateway", .serialized)
struct WharfctlBackrestTests {
    @Test(
        "identity (text and JSON), client add/list/remove with permissions, push-config to a connected client, peers and peers --watch; errors exit non-zero on one line"
    )
    func commands() async throws {
        try await withServices([.sync]) { services in
            let sync = services.port("sync")
            try await withGateway(routes: BackrestConnectTests.routes(sync)) { gateway, _ in
                let wharfctl = try builtExecutable("wharfctl")
                let admin = ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]
                func run(_ arguments: [String], environment: [String: String] = admin) async throws -> (status: Int32?, output: String) {
                    try await runExecutable(
                        wharfctl, ["backrest"] + arguments + ["--address", "127.0.0.1:\(gateway)"],
                        environment: environment, timeout: .seconds(30))
                }
                let identity = try await withTestClient(port: gateway) {
                    try await Wharf_Sync_V1_BackrestHub.Client(wrapping: $0).getIdentity(.init())
                }
                let text = try await run(["identity"], environment: [:])
                #expect(
                    text.status == 0
                        && text.output == """
                            instance_id: wharf-hub
                            keyid: \(identity.keyid)   (backrest 1.11–1.12)
                            ed25519_keyid: \(identity.ed25519Keyid)   (backrest 1.13+)

                            """,
                    "\(text.output)")
                let json = try await run(["identity", "--output", "json"], environment: [:])
                let parsed = (try? JSONSerialization.jsonObject(with: Data(json.output.utf8))) as? [String: String]
                #expect(
                    parsed == ["instance_id": "wharf-hub", "keyid": identity.keyid, "ed25519_keyid": identity.ed25519Keyid], "\(json.output)")

                let laptop = BackrestClientIdentity(instanceID: "laptop")
                let desktop = BackrestClientIdentity(instanceID: "desktop")
                // No token anywhere (not even in a launcher state folder of the working directory).
                let noToken = try await run(
                    ["client", "list"], environment: ["WHARF_STATE_DIR": try TemporaryDirectories.make(prefix: "wharfctl-no-token")])
                #expect(noToken.status == 78, "\(noToken.output)")
                let badPermission = try await run([
                    "client", "add", "--instance-id", "laptop", "--keyid", laptop.identity.publicKey.keyid,
                    "--permission", "write-everything=*",
                ])
                #expect(badPermission.status == 78 && badPermission.output.hasPrefix("wharfctl: --permission: "), "\(badPermission.output)")
                let badKeyid = try await run(["client", "add", "--instance-id", "laptop", "--keyid", "ecdsa.short"])
                #expect(badKeyid.status == 1 && badKeyid.output.hasPrefix("wharfctl: INVALID_ARGUMENT: "), "\(badKeyid.output)")
                let added = try await run([
                    "client", "add", "--instance-id", "laptop", "--keyid", laptop.identity.publicKey.keyid,
                    "--permission", "read-operations=*",
                ])
                #expect(added.status == 0 && added.output == "accepted laptop (\(laptop.identity.publicKey.keyid))\n", "\(added.output)")
                _ = try await run([
                    "client", "add", "--instance-id", "desktop", "--keyid", desktop.identity.publicKey.keyid,
                    "--permission", "read-operations=*", "--permission", "read-write-config=plan:daily,repo:nas",
                ])
                let listed = try await run(["client", "list"])
                #expect(
                    listed.output.split(separator: "\n").sorted() == [
                        "desktop\t\(desktop.identity.publicKey.keyid)\tread-operations=* read-write-config=plan:daily,repo:nas",
                        "laptop\t\(laptop.identity.publicKey.keyid)\tread-operations=*",
                    ], "\(listed.output)")
                let listedJSON = try await run(["client", "list", "--output", "json"])
                let objects = listedJSON.output.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }
                #expect(objects.count == 2)
                #expect(objects.contains { $0["instance_id"] as? String == "laptop" && $0["permissions"] as? [String] == ["read-operations=*"] })

                // push-config: refused for laptop (read-operations only); delivered to a connected desktop.
                let folder = try TemporaryDirectories.make(prefix: "wharfctl-backrest")
                let configFile = "\(folder)/set-config.json"
                try Data(#"{"repos": [{"id": "nas", "uri": "/mnt/nas/restic"}], "plansToDelete": ["old"]}"#.utf8)
                    .write(to: URL(fileURLWithPath: configFile))
                let refused = try await run(["push-config", "--keyid", laptop.identity.publicKey.keyid, configFile])
                #expect(refused.status == 1 && refused.output.hasPrefix("wharfctl: FAILED_PRECONDITION: "), "\(refused.output)")
                try Data("repos: nas".utf8).write(to: URL(fileURLWithPath: "\(folder)/not.json"))
                let notJSON = try await run(["push-config", "--keyid", desktop.identity.publicKey.keyid, "\(folder)/not.json"])
                #expect(notJSON.status == 78, "\(notJSON.output)")

                let watchOutput = "\(folder)/watch.out"
                let watcher = try SpawnedProcess.spawn(
                    wharfctl, ["backrest", "peers", "--watch", "--address", "127.0.0.1:\(gateway)"],
                    environment: ProcessInfo.processInfo.environment.merging(admin) { $1 }, outputPath: watchOutput)
                let session = try await ConnectHubSession.open(gateway: gateway)
                try await session.send(try desktop.handshake())
                _ = try await session.untilRequestOperations()
                let pushed = try await run(["push-config", "--keyid", desktop.identity.publicKey.keyid, configFile])
                #expect(pushed.status == 0 && pushed.output == "delivered to \(desktop.identity.publicKey.keyid)\n", "\(pushed.output)")
                let item = try #require(try await session.next())
                guard case .setConfig(let setConfig)? = item.action else { throw HubTestError("expected set_config, got \(item)") }
                #expect(setConfig.repos.map(\.uri) == ["/mnt/nas/restic"])
                #expect(setConfig.plansToDelete == ["old"])

                let peers = try await run(["peers", "--output", "json"])
                let desktopState = peers.output.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }.first { $0["peer_keyid"] as? String == desktop.identity.publicKey.keyid }
                #expect(desktopState?["state"] as? String == "CONNECTED", "\(peers.output)")
                #expect(desktopState?["peer_instance_id"] as? String == "desktop")

                session.stream.disappear()
                let watched = await eventually(timeout: .seconds(10)) {
                    let lines = ((try? String(contentsOfFile: watchOutput, encoding: .utf8)) ?? "").split(separator: "\n")
                        .filter { $0.hasPrefix("desktop\t") }
                    return lines.contains { $0.contains("\tCONNECTED\t") } && lines.last?.contains("\tDISCONNECTED\t") == true
                }
                #expect(watched, "\((try? String(contentsOfFile: watchOutput, encoding: .utf8)) ?? "")")
                await watcher.stop()

                let removed = try await run(["client", "remove", "--keyid", laptop.identity.publicKey.keyid])
                #expect(removed.status == 0 && removed.output == "removed \(laptop.identity.publicKey.keyid)\n", "\(removed.output)")
                let again = try await run(["client", "remove", "--keyid", laptop.identity.publicKey.keyid])
                #expect(again.status == 1 && again.output.hasPrefix("wharfctl: NOT_FOUND: "), "\(again.output)")
                #expect(
                    ![noToken, badPermission, badKeyid, refused, notJSON, again].contains {
                        $0.output.contains("Stack") || $0.output.contains("Fatal")
                    })
            }
        }
    }

    @Test(
        "pair prints a token in backrest's format that pairs a 1.14 client; pair list shows uses and expiry (never the secret); pair revoke; client list shows what paired it; peers shows the protocol and --refused the reason a pairing failed"
    )
    func pairing() async throws {
        try await withServices([.sync]) { services in
            let sync = services.port("sync")
            try await withGateway(routes: BackrestConnectTests.routes(sync)) { gateway, _ in
                let wharfctl = try builtExecutable("wharfctl")
                let admin = ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]
                @Sendable func run(_ arguments: [String]) async throws -> (status: Int32?, output: String) {
                    try await runExecutable(
                        wharfctl, ["backrest"] + arguments + ["--address", "127.0.0.1:\(gateway)"], environment: admin, timeout: .seconds(30))
                }
                let identity = try await withTestClient(port: gateway) {
                    try await Wharf_Sync_V1_BackrestHub.Client(wrapping: $0).getIdentity(.init())
                }
                let badTTL = try await run(["pair", "--ttl", "soon"])
                #expect(badTTL.status == 78 && badTTL.output.hasPrefix("wharfctl: --ttl: "), "\(badTTL.output)")
                let tooLong = try await run(["pair", "--ttl", "400d"])
                #expect(tooLong.status == 1 && tooLong.output.hasPrefix("wharfctl: INVALID_ARGUMENT: "), "\(tooLong.output)")
                let created = try await run([
                    "pair", "--ttl", "2h", "--uses", "2", "--label", "office laptops", "--permission", "read-operations=*",
                    "--permission", "receive-shared-repos=*",
                ])
                #expect(created.status == 0, "\(created.output)")
                let token = created.output.trimmingCharacters(in: .whitespacesAndNewlines)
                let match = try #require(token.firstMatch(of: /^(ed25519\.[A-Za-z0-9_-]{43}):([0-9a-f]{64})#(.+)$/), "\(token)")
                #expect(String(match.1) == identity.ed25519Keyid)
                #expect(String(match.3) == "wharf-hub")
                let secret = String(match.2)

                let listed = try await run(["pair", "list", "--output", "json"])
                let tokens = listed.output.split(separator: "\n").compactMap {
                    (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
                }
                #expect(tokens.count == 1)
                #expect(tokens.first?["label"] as? String == "office laptops")
                #expect(tokens.first?["max_uses"] as? Int == 2 && tokens.first?["uses"] as? Int == 0)
                #expect(tokens.first?["permissions"] as? [String] == ["read-operations=*", "receive-shared-repos=*"])
                #expect(!listed.output.contains(secret))
                let id = try #require(tokens.first?["id"] as? String)

                let laptop = Protocol3ClientIdentity(instanceID: "laptop")
                try await withTestClient(port: gateway) { client in
                    try await withProtocol3Session(client) { io in
                        _ = try await io.connect(as: laptop, pairingSecret: secret)
                        _ = try await io.next()
                        let peers = try await run(["peers"])
                        #expect(
                            peers.output.split(separator: "\n").contains { $0.hasPrefix("laptop\t\(laptop.keyid)\tprotocol 3\tCONNECTED\t") },
                            "\(peers.output)")
                    }
                }
                let clients = try await run(["client", "list"])
                #expect(
                    clients.output == "laptop\t\(laptop.keyid)\tread-operations=* receive-shared-repos=*\tpaired with \(id)\n", "\(clients.output)")
                let used = try await run(["pair", "list"])
                #expect(used.output.hasPrefix("\(id)\toffice laptops\texpires ") && used.output.contains("\t1/2\t"), "\(used.output)")

                #expect(try await run(["pair", "revoke", id]).status == 0)
                let again = try await run(["pair", "revoke", id])
                #expect(again.status == 1 && again.output.hasPrefix("wharfctl: NOT_FOUND: "), "\(again.output)")
                #expect(try await run(["pair", "list"]).output.isEmpty)
                let desktop = Protocol3ClientIdentity(instanceID: "desktop")
                let refusal = try await withTestClient(port: gateway) { client in
                    try await BackrestProtocol3Tests.refusal(client) { io in _ = try await io.connect(as: desktop, pairingSecret: secret) }
                }
                #expect(refusal?.code == .permissionDenied)
                let refused = try await run(["peers", "--refused"])
                #expect(
                    refused.output.hasPrefix("desktop\t\(desktop.keyid)\tprotocol 3\tERROR_AUTH\t")
                        && refused.output.contains("pairing refused: pairing token \(id) was revoked"), "\(refused.output)")
            }
        }
    }

    @Test("--ca-file (and --tls) reach a gateway serving TLS; plaintext to it fails on one line; an unreadable CA file exits 78")
    func tlsGateway() async throws {
        let (certificate, key) = try await TestCertificates.selfSigned()
        try await withServices([.sync]) { services in
            let sync = services.port("sync")
            try await withGateway(
                routes: BackrestConnectTests.routes(sync),
                environment: ["WHARF_TLS_CERT": certificate, "WHARF_TLS_KEY": key]
            ) { gateway, _ in
                let wharfctl = try builtExecutable("wharfctl")
                let address = ["--address", "localhost:\(gateway)"]
                let trusted = try await runExecutable(wharfctl, ["backrest", "identity", "--ca-file", certificate] + address, environment: [:])
                #expect(trusted.status == 0 && trusted.output.hasPrefix("instance_id: wharf-hub\nkeyid: ecdsa."), "\(trusted.output)")
                // --tls alone checks against the system's roots, which do not hold this self-signed certificate.
                let untrusted = try await runExecutable(wharfctl, ["backrest", "identity", "--tls"] + address, environment: [:])
                #expect(
                    untrusted.status == 1 && untrusted.output.hasPrefix("wharfctl: UNAVAILABLE: ")
                        && untrusted.output.split(separator: "\n").count == 1, "\(untrusted.output)")
                let plaintext = try await runExecutable(wharfctl, ["backrest", "identity", "--timeout", "3"] + address, environment: [:])
                #expect(
                    plaintext.status == 1 && plaintext.output.hasPrefix("wharfctl: ") && plaintext.output.split(separator: "\n").count == 1,
                    "\(plaintext.output)")
                let missing = try await runExecutable(
                    wharfctl, ["backrest", "identity", "--ca-file", "\(certificate).absent"] + address, environment: [:])
                #expect(missing.status == 78 && missing.output.hasPrefix("wharfctl: --ca-file: "), "\(missing.output)")
            }
        }
    }
}
