import Foundation
import GRPCCore
import NegentropyProtocol
import Testing
import WharfEncoding
import WharfProto
import WharfRuntime
import WharfTestSupport

@Suite("Negentropy's administrative boundary and peer allow list")
struct AdminBoundaryTests {
    /// Every administrative RPC, called once with `client`; the error each threw (nil: it succeeded).
    private func callEveryAdminRPC(_ client: NegentropyClient) async -> [String: RPCError?] {
        var outcomes: [String: RPCError?] = [:]
        func record(_ name: String, _ call: () async throws -> Void) async {
            do { try await call(); outcomes[name] = .some(nil) } catch let error as RPCError { outcomes[name] = error } catch {
                outcomes[name] = RPCError(code: .unknown, message: "\(error)")
            }
        }
        await record("AddPeer") { _ = try await client.addPeer(.with { $0.peerURL = "ws://127.0.0.1:9" }) }
        await record("RemovePeer") { _ = try await client.removePeer(.with { $0.peerURL = "ws://127.0.0.1:9" }) }
        await record("TriggerSync") { _ = try await client.triggerSync(.with { $0.peerURL = "" }) }
        await record("Start") { _ = try await client.start(.init()) }
        await record("Stop") { _ = try await client.stop(.init()) }
        await record("ListSessions") { _ = try await client.listSessions(.init()) }
        await record("CloseSession") { _ = try await client.closeSession(.with { $0.subscriptionID = "s" }) }
        await record("SyncWithPeer") {
            try await client.syncWithPeer(.with { $0.peerURL = "ws://127.0.0.1:9" }) { response in
                for try await _ in response.messages {}
            }
        }
        return outcomes
    }

    @Test("without the admin token every administrative RPC is UNAUTHENTICATED and changes nothing; with it they work")
    func adminToken() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let refused = try await withNegentropyClient(port: node.grpcPort, admin: false) { client async throws -> [String: RPCError?] in
                let outcomes = await callEveryAdminRPC(client)
                // Reading is open: ORLY's relay front-end and monitoring call these.
                #expect(try await client.getPeers(.init()).peers.isEmpty)
                #expect(try await client.ready(.init()).ready)
                return outcomes
            }
            #expect(refused.count == 8)
            for (name, error) in refused {
                #expect(error?.code == .unauthenticated, "\(name): \(String(describing: error))")
                #expect(error?.message.contains("wharf-admin-token") == true, "\(name): \(String(describing: error))")
            }
            // A wrong token is refused the same way.
            let transportTarget = node.grpcPort
            try await withTestClient(port: transportTarget) { raw async throws in
                let client = NegentropyClient(wrapping: raw)
                var metadata = Metadata()
                metadata.addString("wharf-test-admin-token-WRONG000", forKey: "wharf-admin-token")
                let wrong = await #expect(throws: RPCError.self) {
                    _ = try await client.addPeer(.with { $0.peerURL = "ws://127.0.0.1:9" }, metadata: metadata)
                }
                #expect(wrong?.code == .unauthenticated)
                #expect(wrong?.message.contains("not this node's admin token") == true)
                #expect(try await client.getPeers(.init()).peers.isEmpty)
            }
            let admitted = try await withNegentropyClient(port: node.grpcPort) { client in await callEveryAdminRPC(client) }
            for (name, error) in admitted where name != "SyncWithPeer" {
                #expect(error == nil, "\(name): \(String(describing: error))")
            }
        }
    }

    @Test("a node without WHARF_ADMIN_TOKEN refuses administrative RPCs whatever is sent, on loopback too")
    func noTokenConfigured() async throws {
        try await withServices([.negentropy(environment: ["WHARF_ADMIN_TOKEN": ""])]) { services in
            let node = await NegentropyNode(services)
            let outcomes = try await withNegentropyClient(port: node.grpcPort) { client in await callEveryAdminRPC(client) }
            for (name, error) in outcomes {
                #expect(error?.code == .unauthenticated, "\(name)")
                #expect(error?.message.contains("set WHARF_ADMIN_TOKEN") == true, "\(name): \(String(describing: error))")
            }
        }
    }

    @Test("peer URLs outside WHARF_NEGENTROPY_ALLOWED_PEERS get PERMISSION_DENIED naming the rule; nothing is dialled or stored")
    func allowList() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_ALLOWED_PEERS": "10.1.0.0/16"])]) { services in
            let node = await NegentropyNode(services)
            try await withNegentropyClient(port: node.grpcPort) { client in
                for url in [
                    "ws://127.0.0.1:7777", "ws://localhost:7777", "ws://169.254.169.254", "ws://[::1]:7777", "ws://10.2.0.1", "wss://93.184.216.34",
                ] {
                    let added = await #expect(throws: RPCError.self, "\(url)") { try await client.addPeer(.with { $0.peerURL = url }) }
                    #expect(added?.code == .permissionDenied, "\(url)")
                    #expect(added?.message.contains("WHARF_NEGENTROPY_ALLOWED_PEERS") == true, "\(added?.message ?? "")")
                    let synced = await #expect(throws: RPCError.self, "\(url)") {
                        try await client.syncWithPeer(.with { $0.peerURL = url }) { response in for try await _ in response.messages {} }
                    }
                    #expect(synced?.code == .permissionDenied, "\(url)")
                }
                #expect(try await client.getPeers(.init()).peers.isEmpty)
                // A listed network is allowed (stored; dialling it is the sync's business).
                _ = try await client.addPeer(.with { $0.peerURL = "ws://10.1.2.3:7777" })
                #expect(try await client.getPeers(.init()).peers == ["ws://10.1.2.3:7777"])
            }
        }
        // The default: public hosts only.
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_ALLOWED_PEERS": ""])]) { services in
            let node = await NegentropyNode(services)
            try await withNegentropyClient(port: node.grpcPort) { client in
                let refused = await #expect(throws: RPCError.self) { try await client.addPeer(.with { $0.peerURL = "ws://127.0.0.1:1" }) }
                #expect(refused?.message.contains("loopback") == true, "\(refused?.message ?? "")")
                _ = try await client.addPeer(.with { $0.peerURL = "wss://93.184.216.34" })
                _ = try await client.addPeer(.with { $0.peerURL = "wss://relay.not-resolvable.invalid" })
                #expect(Set(try await client.getPeers(.init()).peers) == ["wss://93.184.216.34", "wss://relay.not-resolvable.invalid"])
            }
        }
    }

    @Test("a relay client reaches only its own negentropy sessions: the same subscription id on another connection is untouched")
    func relaySessionsAreConnectionScoped() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let open = try Negentropy(storage: try SortedItems([])).initiate()
            let first = RelayTestClient(url: node.relayURL)
            let second = RelayTestClient(url: node.relayURL)
            defer {
                Task {
                    await first.close(); await second.close()
                }
            }
            for client in [first, second] {
                try client.send(["NEG-OPEN", "shared", ["kinds": [1]], open.hexString])
                #expect(try await client.receive().first as? String == "NEG-MSG")
            }
            try first.send(["NEG-CLOSE", "shared"])
            try second.send(["NEG-MSG", "shared", open.hexString])
            let answer = try await second.receive()
            #expect(answer.first as? String == "NEG-MSG", "\(answer)")
            try first.send(["NEG-MSG", "shared", open.hexString])
            let closed = try await first.receive()
            #expect(closed.first as? String == "NEG-ERR", "\(closed)")
        }
    }
}

@Suite("wharfctl negentropy: the admin token from the environment or a file")
struct WharfctlNegentropyTests {
    @Test(
        "without the admin token wharfctl says how to get it (exit 78); a wrong one is UNAUTHENTICATED (exit 1); with it peers are added, listed and removed and sessions listed, JSON too"
    )
    func adminTokenSources() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let wharfctl = try builtExecutable("wharfctl")
            let address = ["--address", "127.0.0.1:\(node.grpcPort)"]
            // No token anywhere (not even in a launcher state folder of the working directory).
            let missing = try await runExecutable(
                wharfctl, ["negentropy", "add-peer", "ws://127.0.0.1:7001"] + address,
                environment: ["WHARF_STATE_DIR": try TemporaryDirectories.make(prefix: "wharfctl-no-token")])
            #expect(missing.status == 78, "\(missing.output)")
            #expect(missing.output.contains("needs the admin token: set WHARF_ADMIN_TOKEN"), "\(missing.output)")
            #expect(!missing.output.contains("Stack"), "\(missing.output)")

            let wrong = try await runExecutable(
                wharfctl, ["negentropy", "add-peer", "ws://127.0.0.1:7001"] + address,
                environment: ["WHARF_ADMIN_TOKEN": "wharf-test-admin-token-WRONG000"])
            #expect(wrong.status == 1, "\(wrong.output)")
            #expect(wrong.output.hasPrefix("wharfctl: UNAUTHENTICATED: "), "\(wrong.output)")

            let folder = try TemporaryDirectories.make(prefix: "wharfctl")
            let tokenFile = "\(folder)/admin-token"
            try Data((TestCredentials.adminTokenText + "\n").utf8).write(to: URL(fileURLWithPath: tokenFile))
            let added = try await runExecutable(
                wharfctl, ["negentropy", "add-peer", "ws://127.0.0.1:7001"] + address,
                environment: ["WHARF_ADMIN_TOKEN_FILE": tokenFile])
            #expect(added.status == 0, "\(added.output)")
            #expect(added.output == "added ws://127.0.0.1:7001\n")
            let listed = try await runExecutable(wharfctl, ["negentropy", "peers", "--output", "json"] + address, environment: [:])
            #expect(listed.status == 0, "\(listed.output)")
            #expect(listed.output == "{\"peer_url\":\"ws://127.0.0.1:7001\"}\n")
            let refused = try await runExecutable(
                wharfctl, ["negentropy", "add-peer", "ws://10.1.2.3:7001"] + address,
                environment: ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText])
            #expect(refused.status == 1, "\(refused.output)")
            #expect(refused.output.hasPrefix("wharfctl: PERMISSION_DENIED: "), "\(refused.output)")

            let admin = ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]
            let removed = try await runExecutable(
                wharfctl, ["negentropy", "remove-peer", "ws://127.0.0.1:7001", "--output", "json"] + address,
                environment: admin)
            #expect(removed.status == 0, "\(removed.output)")
            #expect(removed.output == "{\"peer_url\":\"ws://127.0.0.1:7001\",\"removed\":true}\n")
            let none = try await runExecutable(wharfctl, ["negentropy", "peers"] + address, environment: [:])
            #expect(none.status == 0 && none.output.isEmpty, "\(none.output)")

            // Sessions: one a client opened (NEG-OPEN over gRPC), as a table and as JSON; none without the token.
            let negentropy = try Negentropy(storage: try SortedItems([]))
            try await withNegentropyClient(port: node.grpcPort) { client in
                let opened = try await client.handleNegOpen(
                    .with {
                        $0.connectionID = "wharfctl-conn"
                        $0.subscriptionID = "wharfctl-sub"
                        $0.initialMessage = Data(negentropy.initiate())
                    })
                #expect(opened.error == "")
                // A connection id with terminal escape sequences (an OSC retitling the window, a screen clear).
                let hostile = try await client.handleNegOpen(
                    .with {
                        $0.connectionID = "evil\u{1B}]0;pwned\u{07}\u{1B}[2J\u{9B}"
                        $0.subscriptionID = "hostile-sub"
                        $0.initialMessage = Data(negentropy.initiate())
                    })
                #expect(hostile.error == "")
            }
            let table = try await runExecutable(wharfctl, ["negentropy", "sessions"] + address, environment: admin)
            #expect(table.status == 0, "\(table.output)")
            // Server text reaches the terminal with its control characters shown, not obeyed.
            #expect(
                !table.output.unicodeScalars.contains { $0.value == 0x1B || $0.value == 0x07 || $0.value == 0x9B }, "\(table.output.debugDescription)"
            )
            #expect(table.output.contains("evil\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}"), "\(table.output.debugDescription)")
            let lines = table.output.split(separator: "\n").map(String.init)
            #expect(lines.first?.hasPrefix("CONNECTION") == true && lines.first?.contains("LAST ACTIVITY") == true, "\(table.output)")
            let row = try #require(lines.first { $0.hasPrefix("grpc-admin:wharfctl-conn") }, "\(table.output)")
            #expect(
                row.split(separator: " ", omittingEmptySubsequences: true).prefix(3) == ["grpc-admin:wharfctl-conn", "wharfctl-sub", "0"], "\(row)")
            #expect(row.contains("Z"), "RFC 3339 times: \(row)")
            let json = try await runExecutable(wharfctl, ["negentropy", "sessions", "--output", "json"] + address, environment: admin)
            let objects = json.output.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let session = try #require(objects.first { $0["connection_id"] as? String == "grpc-admin:wharfctl-conn" }, "\(json.output)")
            #expect(session["subscription_id"] as? String == "wharfctl-sub")
            #expect(session["rounds"] as? Int == 0)  // counted from the first NEG-MSG after the open
            #expect((session["created_at"] as? Int ?? 0) > 1_700_000_000)
            let anonymous = try await runExecutable(
                wharfctl, ["negentropy", "sessions"] + address,
                environment: ["WHARF_STATE_DIR": try TemporaryDirectories.make(prefix: "wharfctl-no-token")])
            #expect(anonymous.status == 78, "\(anonymous.output)")
        }
    }
}
