import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing
import WharfProto
import WharfTestSupport

/// The console in Debian's chromium (headless, driven by selenium through chromium-driver:
/// Tests/Interop/console_browser.py) against a running system with data (`ObservedSystem`).
@Suite("observability: the console in a real browser against a running system with data", .serialized)
struct ConsoleBrowserTests {
    /// Where the screenshots go: WHARF_TEST_OUTPUT (else .wharf/test-output) / console.
    static var outputFolder: String {
        let root = ProcessInfo.processInfo.environment["WHARF_TEST_OUTPUT"] ?? ProjectPaths.root.appendingPathComponent(".wharf/test-output").path
        return root + "/console"
    }

    static func browser(_ arguments: [String]) async throws -> [String: Any] {
        let script = ProjectPaths.root.appendingPathComponent("Tests/Interop/console_browser.py").path
        let run = try await runExecutable(try testPython(), [script] + arguments, environment: [:], timeout: .seconds(240))
        guard run.status == 0, let line = run.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        else {
            throw TestSupportError(
                "console_browser.py \(arguments.first ?? "") failed (\(run.status.map(String.init) ?? "timeout")): \(run.output.suffix(3000))")
        }
        return object
    }

    static func rows(_ page: [String: Any], _ attribute: String) -> [(key: String, text: String)] {
        ((page["rows"] as? [String: Any])?[attribute] as? [[String: Any]] ?? []).map { ($0["key"] as? String ?? "", $0["text"] as? String ?? "") }
    }

    static func id(_ page: [String: Any], _ name: String) -> String? { (page["ids"] as? [String: String])?[name] }

    @Test(
        "every page shows the rows and numbers the gRPC APIs give, logs no console error, stays under 200 KB and is screenshotted; the live refresh runs"
    )
    func pages() async throws {
        let system = try await ObservedSystem.started()
        let folder = Self.outputFolder
        try? FileManager.default.removeItem(atPath: folder)
        try await system.withA { client in
            let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: client)
            // The monitor has read every replica and the Go peer is connected before the pages are read.
            #expect(
                try await eventually(timeout: .seconds(30), every: .milliseconds(500)) {
                    try await HostsExpectation.connected(client) == 2
                })
            let result = try await Self.browser(["pages", system.consoleURL, TestCredentials.adminTokenText, folder, system.recordCIDs[0]])
            let names = ["system", "hosts", "hosts-filtered", "mirrors", "records", "search", "record", "relay"]
            for name in names {
                let page = try #require(result[name] as? [String: Any], "no \(name) page")
                #expect((page["errors"] as? [String]) == [], "\(name): \(page["errors"] ?? "")")
                #expect((page["bytes"] as? Int ?? .max) < 200_000, "\(name): \(page["bytes"] ?? "")")
                #expect((page["problems"] as? [String]) == [], "\(name): \(page["problems"] ?? "")")
                let screenshot = try #require(page["screenshot"] as? String)
                let size = (try? FileManager.default.attributesOfItem(atPath: screenshot)[.size] as? Int) ?? 0
                #expect(size > 10_000, "\(screenshot): \(size) bytes")
            }
            // What each page weighs, beside its screenshot (docs/performance.md quotes it).
            let sizes = names.map { name in "\(name) \((result[name] as? [String: Any])?["bytes"] as? Int ?? 0)" }
            try sizes.joined(separator: "\n").write(toFile: folder + "/page-bytes.txt", atomically: true, encoding: .utf8)
            let refresh = try #require(result["refresh"] as? [String: Any])
            #expect((refresh["errors"] as? [String]) == [] && refresh["stale"] is NSNull, "\(refresh)")

            // System: every replica the gateway routes to, each serving; both dependencies reachable from all five.
            let systemPage = try #require(result["system"] as? [String: Any])
            let routes = try await Wharf_Gateway_V1_GatewayStatus.Client(wrapping: client).listRoutes(.init()).routes
            #expect(Set(Self.rows(systemPage, "data-address").map(\.key)) == Set(routes.flatMap { $0.replicas.map(\.address) }))
            #expect(Self.rows(systemPage, "data-address").allSatisfy { $0.text.contains("serving") })
            #expect(Set(Self.rows(systemPage, "data-service").map(\.key)) == Set(routes.map(\.service)))
            #expect(Self.id(systemPage, "postgres-reachable") == "5 / 5" && Self.id(systemPage, "redis-reachable") == "5 / 5")

            // Backup hosts: both clients, their protocols, the counts as ListClients and ListOperations give them.
            let hosts = try #require(result["hosts"] as? [String: Any])
            let clients = try await hub.listClients(.init()).clients
            #expect(Set(Self.rows(hosts, "data-keyid").map(\.key)) == Set(clients.map(\.keyid)))
            #expect(Self.id(hosts, "client-count") == String(clients.count))
            let protocols = Self.rows(hosts, "data-keyid").map { $0.text.contains("3 (1.13+)") ? 3 : $0.text.contains("1 (1.11–1.12)") ? 1 : 0 }
            #expect(protocols.sorted() == [1, 3])
            #expect(Self.id(hosts, "failed-plans") == String(try await HostsExpectation.failedPlans(hub)))
            let operations = try await hub.listOperations(.with { $0.limit = 100 }).operations
            #expect(Self.id(hosts, "operation-count") == String(operations.count))
            #expect(Self.rows(hosts, "data-plan").count == operations.count)
            #expect((hosts["circles"] as? Int) == 30)
            let filtered = try #require(result["hosts-filtered"] as? [String: Any])
            let failedGo = try await hub.listOperations(
                .with {
                    $0.keyid = clients.first { $0.instanceID == "go-laptop" }?.keyid ?? ""; $0.status = .statusError
                }
            ).operations
            #expect(Self.rows(filtered, "data-plan").count == failedGo.count && failedGo.count == 4)
            #expect(Self.rows(filtered, "data-plan").allSatisfy { $0.key == "daily" || $0.key == "hourly" })

            // Mirrors: the sync of B with SyncProgress's counters; the credentials RegistryCredentials.List gives.
            let mirrors = try #require(result["mirrors"] as? [String: Any])
            let progress = try await Wharf_Sync_V1_SyncProgress.Client(wrapping: client).getSyncProgress(.with { $0.syncID = system.syncID })
            let syncRow = try #require(Self.rows(mirrors, "data-sync").first { $0.key == system.syncID })
            #expect(syncRow.text.contains(progress.remoteDirectoryURL))
            #expect(progress.copied >= 3 && syncRow.text.contains(" \(progress.copied) "), "\(syncRow.text)")
            let credentials = try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: client).list(.init()).credentials
            #expect(Self.rows(mirrors, "data-username").map(\.key) == credentials.map(\.username))

            // Records: the count and latest pushes as RecordCatalog says; the search's results as routing's.
            let records = try #require(result["records"] as? [String: Any])
            let summary = try await Wharf_Store_V1_RecordCatalog.Client(wrapping: client).summarize(.with { $0.recent = 25 })
            #expect(Self.id(records, "record-count") == String(summary.records))
            #expect(Self.rows(records, "data-cid").map(\.key) == summary.recent.map(\.cid))
            let search = try #require(result["search"] as? [String: Any])
            let found = try await Routing_V1_RoutingService.Client(wrapping: client).search(
                .with {
                    $0.queries = [
                        .with {
                            $0.type = .skill; $0.value = "observed/skill"
                        }
                    ]; $0.minMatchScore = 1; $0.limit = 100
                }
            ) { try await $0.messages.reduce(into: [String]()) { $0.append($1.recordCid) } }
            #expect(Set(Self.rows(search, "data-result").map(\.key)) == Set(found) && found.count == 5)
            let record = try #require(result["record"] as? [String: Any])
            #expect(Self.id(record, "signature-value") == "b2JzZXJ2ZWQtc2lnbmF0dXJl")
            #expect(Self.id(record, "record-json")?.contains("\"name\" : \"observed-0\"") == true)

            // Relay: the reconciliation the system ran.
            let relay = try #require(result["relay"] as? [String: Any])
            #expect(Self.rows(relay, "data-reconciliation").contains { $0.key == "observed" })
        }
    }

    @Test(
        "a pairing token created in the page pairs a client; registry credentials revoked in the page stop opening the registry; a form posted without its CSRF token is refused"
    )
    func forms() async throws {
        let system = try await ObservedSystem.started()
        let created = try await Self.browser(["create-token", system.consoleURL, TestCredentials.adminTokenText, "tablet"])
        let token = try #require(created["token"] as? String)
        #expect(token.hasPrefix("ed25519.") && (created["errors"] as? [String]) == [], "\(created)")
        let tablet = try await GoPeerRun.start(
            ["-address", "127.0.0.1:\(system.a.port("gateway"))", "-protocol", "connect", "-pair", token, "-instance", "tablet", "-ops", "2"],
            state: system.state + "/tablet")
        #expect(try await eventually(timeout: .seconds(30)) { tablet.event("connected") != nil }, "\(tablet.output)")
        _ = try await tablet.finish()

        try await system.withA { client in
            let issued = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).requestRegistryCredentials(
                .with { $0.requestingNodeID = "node-revoked-in-page" })
            let basic = "\(issued.basicAuth.username):\(issued.basicAuth.password)"
            let registry = "http://127.0.0.1:\(system.a.registryPort)/v2/_catalog"
            #expect(try await httpGet(registry, basic: basic).status == 200)
            let revoked = try await Self.browser(["revoke-credentials", system.consoleURL, TestCredentials.adminTokenText, "node-revoked-in-page"])
            #expect((revoked["notice"] as? String)?.contains("revoked") == true, "\(revoked)")
            #expect(try await httpGet(registry, basic: basic).status == 401)

            let tokensBefore = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: client).listPairingTokens(.init()).tokens.count
            let forged = try await Self.browser(["post-without-csrf", system.consoleURL, TestCredentials.adminTokenText])
            #expect(forged["status"] as? Int == 403, "\(forged)")
            #expect(try await Wharf_Sync_V1_BackrestHub.Client(wrapping: client).listPairingTokens(.init()).tokens.count == tokensBefore)
        }
    }
}

/// What the Backup hosts page should say, from the hub's RPCs.
enum HostsExpectation {
    static func connected(_ client: GRPCClient<GRPCNIOTransportHTTP2.HTTP2ClientTransport.Posix>) async throws -> Int {
        try await V1sync_BackrestSyncStateService.Client(wrapping: client).getPeerSyncStatesStream(.with { $0.subscribe = false }) {
            try await $0.messages.reduce(into: 0) { count, state in if state.state == .connected { count += 1 } }
        }
    }

    /// Host and plan pairs whose latest backup failed.
    static func failedPlans(_ hub: Wharf_Sync_V1_BackrestHub.Client<GRPCNIOTransportHTTP2.HTTP2ClientTransport.Posix>) async throws -> Int {
        let backups = try await hub.listOperations(
            .with {
                $0.kind = "backup"; $0.limit = 1000
            }
        ).operations
        var latest: [String: V1_OperationStatus] = [:]
        for entry in backups where latest["\(entry.keyid) \(entry.operation.planID)"] == nil {
            latest["\(entry.keyid) \(entry.operation.planID)"] = entry.operation.status
        }
        return latest.values.filter { $0 == .statusError }.count
    }
}
