import Foundation
import GRPCCore
import SyncCore
import Testing
import WharfProto
import WharfTestSupport

extension ConsoleSystemSuites {
    @Suite("console: the Backup hosts page with a protocol-1 client and a protocol-3 Go peer paired from the page", .serialized)
    struct ConsoleHostsPageTests {
        static let readOperations: [V1_Multihost.Permission] = [
            .with {
                $0.type = .permissionReadOperations; $0.scopes = ["*"]
            }
        ]

        /// A backup of `plan` as backrest reports it, finished `hoursAgo` hours ago with `status`.
        static func backup(_ client: BackrestClientIdentity, id: Int64, plan: String, hoursAgo: Int64, status: V1_OperationStatus) -> V1_Operation {
            var operation = client.operation(id, flow: id, modno: id, message: status == .statusError ? "backup failed: disk full" : "")
            operation.planID = plan
            operation.status = status
            operation.unixTimeStartMs = Int64(Date().timeIntervalSince1970 * 1000) - hoursAgo * 3_600_000
            operation.unixTimeEndMs = operation.unixTimeStartMs + 90_000
            operation.operationBackup = .with {
                if status == .statusSuccess {
                    $0.lastStatus = .with {
                        $0.summary = .with {
                            $0.dataAdded = 5_000_000 * id; $0.snapshotID = String(repeating: "ab", count: 32)
                        }
                    }
                }
            }
            return operation
        }

        @Test(
            "both clients are listed with their protocol and state; the counts, the failed plans and the operations match ListClients and ListOperations; filters by host and status; a token created in the page pairs the Go peer; a token revoked in the page refuses it; a config pushed from the page reaches it"
        )
        func hostsPage() async throws {
            try await ConsoleFixture.runSignedIn { fixture, browser in
                let state = try TemporaryDirectories.make(prefix: "console-go-peer")
                let stranger = try TemporaryDirectories.make(prefix: "console-go-stranger")
                defer {
                    try? FileManager.default.removeItem(atPath: state)
                    try? FileManager.default.removeItem(atPath: stranger)
                }
                try await fixture.withGatewayClient { client in
                    let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
                    let desktop = BackrestClientIdentity(instanceID: "desktop")
                    _ = try await hub.addClient(
                        .with {
                            $0.instanceID = "desktop"; $0.keyid = desktop.identity.publicKey.keyid; $0.permissions = Self.readOperations
                        })

                    // A pairing token made in the page pairs the Go peer (protocol 3), which pushes 20 backups.
                    var page = try await browser.get("/hosts")
                    let tokenPage = try await browser.post(
                        "/hosts/pairing-tokens",
                        [
                            ("csrf", try #require(ConsoleHTTPClient.csrf(in: page.body))), ("label", "go laptop"), ("hours", "2"), ("uses", "1"),
                            ("permission", "read-operations"), ("scope", "*"),
                        ])
                    #expect(tokenPage.status == 200)
                    let token = try #require(HTMLRows.text(ofID: "created-token", in: tokenPage.body))
                    #expect(token.hasPrefix("ed25519.") && token.hasSuffix("#console-hub"), "\(token)")
                    let goPeer = try await GoPeerRun.start(
                        [
                            "-address", "127.0.0.1:\(fixture.gatewayPort)", "-protocol", "connect", "-pair", token, "-instance", "go-laptop",
                            "-ops", "20", "-varied",
                        ], state: state)
                    let goKeyid =
                        try await eventually(timeout: .seconds(30)) { goPeer.event("connected") != nil }
                        ? try #require(goPeer.event("connected")?["keyid"] as? String) : ""
                    #expect(!goKeyid.isEmpty, "\(goPeer.output)")
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            try await hub.listOperations(
                                .with {
                                    $0.keyid = goKeyid; $0.limit = 1000
                                }
                            ).operations.count == 20
                        })

                    // The protocol-1 client stays connected while the page is read.
                    try await withHubSession(client) { io in
                        io.send.yield(try desktop.handshake())
                        for _ in 0..<4 { _ = try #require(try await io.next()) }
                        io.send.yield(
                            created([
                                Self.backup(desktop, id: 1, plan: "nightly", hoursAgo: 30, status: .statusSuccess),
                                Self.backup(desktop, id: 2, plan: "nightly", hoursAgo: 6, status: .statusError),
                                Self.backup(desktop, id: 3, plan: "photos", hoursAgo: 2, status: .statusSuccess),
                            ]))
                        let desktopKeyid = desktop.identity.publicKey.keyid
                        #expect(
                            try await eventually(timeout: .seconds(20)) {
                                try await hub.listOperations(.with { $0.keyid = desktopKeyid }).operations.count == 3
                            })
                        let clients = try await hub.listClients(.init()).clients
                        let everyOperation = try await hub.listOperations(.with { $0.limit = 100 }).operations
                        let backups = try await hub.listOperations(
                            .with {
                                $0.kind = "backup"; $0.limit = 1000
                            }
                        ).operations
                        var latest: [String: V1_Operation] = [:]
                        for entry in backups where latest["\(entry.keyid) \(entry.operation.planID)"] == nil {
                            latest["\(entry.keyid) \(entry.operation.planID)"] = entry.operation
                        }
                        let failedPlans = latest.values.filter { $0.status == .statusError }.count
                        #expect(failedPlans == 2)  // the Go peer's hourly (id 20 failed) and the desktop's nightly

                        var hosts: [(value: String, text: String)] = []
                        var listing = try await browser.get("/hosts")
                        #expect(
                            try await eventually(timeout: .seconds(20)) {
                                listing = try await browser.get("/hosts")
                                hosts = HTMLRows.rows(listing.body, attribute: "data-keyid")
                                return hosts.count == 2 && hosts.allSatisfy { $0.text.contains("connected") }
                            }, "\(hosts)")
                        #expect(Set(hosts.map(\.value)) == Set(clients.map(\.keyid)))
                        let goRow = try #require(hosts.first { $0.value == goKeyid })
                        #expect(goRow.text.contains("go-laptop") && goRow.text.contains("3 (1.13+)"))
                        let desktopRow = try #require(hosts.first { $0.value == desktopKeyid })
                        #expect(desktopRow.text.contains("desktop") && desktopRow.text.contains("1 (1.11–1.12)"))
                        #expect(desktopRow.text.contains("read-operations=*"))
                        #expect(HTMLRows.text(ofID: "client-count", in: listing.body) == String(clients.count))
                        #expect(HTMLRows.text(ofID: "failed-plans", in: listing.body) == String(failedPlans))
                        #expect(HTMLRows.text(ofID: "operation-count", in: listing.body) == String(everyOperation.count))
                        #expect(HTMLRows.rows(listing.body, attribute: "data-plan").count == everyOperation.count)
                        #expect(listing.body.contains("backup failed: disk full"))
                        #expect(listing.body.utf8.count < 200_000)

                        // Filtered by host and status: the Go peer's four failed backups, each in the timeline too.
                        let filtered = try await browser.get("/hosts?host=go-laptop&status=error")
                        let rows = HTMLRows.rows(filtered.body, attribute: "data-plan")
                        let expected = try await hub.listOperations(
                            .with {
                                $0.keyid = goKeyid; $0.status = .statusError
                            }
                        ).operations
                        #expect(rows.count == expected.count && expected.count == 4)
                        #expect(rows.allSatisfy { $0.text.contains("go-laptop") && $0.text.contains("error") })
                        let timeline = try await browser.get("/hosts?host=go-laptop")
                        #expect(timeline.body.components(separatedBy: "<circle class=\"backup").count - 1 == 20)

                        // A config pushed from the page reaches the Go peer.
                        let pushed = try await browser.post(
                            "/hosts/config",
                            [
                                ("csrf", try #require(ConsoleHTTPClient.csrf(in: listing.body))), ("keyid", goKeyid),
                                ("config", #"{"plans": [{"id": "weekly", "repo": "repo1"}]}"#),
                            ])
                        #expect(pushed.status == 303 && pushed.header("Location") == "/hosts?done=config-pushed", "\(pushed.body.prefix(2000))")
                        #expect(try await eventually(timeout: .seconds(20)) { goPeer.event("config") != nil }, "\(goPeer.output)")
                        let refusedPush = try await browser.post(
                            "/hosts/config",
                            [("csrf", try #require(ConsoleHTTPClient.csrf(in: listing.body))), ("keyid", goKeyid), ("config", "{not json")])
                        #expect(refusedPush.status == 400 && refusedPush.body.contains("not a SyncActionSetConfig"))
                    }
                    _ = try await goPeer.finish()

                    // A token revoked in the page pairs nobody.
                    page = try await browser.get("/hosts")
                    let before = Set(HTMLRows.rows(page.body, attribute: "data-token").map(\.value))
                    let second = try await browser.post(
                        "/hosts/pairing-tokens",
                        [
                            ("csrf", try #require(ConsoleHTTPClient.csrf(in: page.body))), ("label", "revoked"), ("hours", "1"), ("uses", "1"),
                            ("permission", "read-operations"),
                        ])
                    let secondToken = try #require(HTMLRows.text(ofID: "created-token", in: second.body))
                    let secondID = try #require(Set(HTMLRows.rows(second.body, attribute: "data-token").map(\.value)).subtracting(before).first)
                    let revoked = try await browser.post(
                        "/hosts/pairing-tokens/revoke", [("csrf", try #require(ConsoleHTTPClient.csrf(in: second.body))), ("id", secondID)])
                    #expect(revoked.status == 303 && revoked.header("Location") == "/hosts?done=token-revoked")
                    #expect(try await browser.get("/hosts?done=token-revoked").body.contains("The pairing token is revoked"))
                    let intruder = try await GoPeerRun.start(
                        [
                            "-address", "127.0.0.1:\(fixture.gatewayPort)", "-protocol", "connect", "-pair", secondToken, "-instance", "intruder",
                            "-ops", "1",
                        ], state: stranger)
                    #expect(await intruder.process.waitForExit(timeout: .seconds(30)) == 3, "\(intruder.output)")
                    #expect(intruder.event("refused") != nil)
                }
            }
        }
    }
}
