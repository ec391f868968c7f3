import Foundation
import GRPCCore
import NegentropyCore
import NegentropyProtocol
import Testing
import WharfEncoding
import WharfProto
import WharfTestSupport

extension ConsoleSystemSuites {
    @Suite("console: the Records, Mirrors and Relay pages against what the services' RPCs say", .serialized)
    struct ConsoleRecordsMirrorsRelayTests {
        @Test(
            "Records: counts and latest pushes as RecordCatalog says; a search's results are routing Search's and link to the record, its JSON and signature"
        )
        func records() async throws {
            try await ConsoleFixture.runSignedIn { fixture, browser in
                try await fixture.withGatewayClient { client in
                    let cids = try await client.pushRecords(
                        (0..<3).map { labelledRecord("console-record-\($0)", skills: ["console/search", "other/\($0)"], locators: ["docker-image"]) })
                    _ = try await Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client).pushReferrer(
                        request: StreamingClientRequest { writer in
                            try await writer.write(
                                .with {
                                    $0.recordRef = .with { $0.cid = cids[0] }
                                    $0.signature = .with {
                                        $0.algorithm = "ECDSA_P256_SHA256"; $0.signature = "c2lnbmF0dXJlLWJ5dGVz";
                                        $0.signedAt = "2026-12-07T10:00:00Z"
                                    }
                                })
                        }
                    ) { try await $0.messages.reduce(into: 0) { count, _ in count += 1 } }
                    let summary = try await Wharf_Store_V1_RecordCatalog.Client(wrapping: client).summarize(.with { $0.recent = 25 })
                    #expect(summary.records == 3 && summary.referrers["signature"] == 1)
                    #expect(Set(summary.recent.map(\.cid)) == Set(cids))
                    #expect(summary.recent.first { $0.cid == cids[0] }?.signed == true)

                    let page = try await browser.get("/records")
                    #expect(HTMLRows.text(ofID: "record-count", in: page.body) == "3")
                    #expect(HTMLRows.text(ofID: "signature-count", in: page.body) == "1")
                    let recent = HTMLRows.rows(page.body, attribute: "data-cid")
                    #expect(recent.map(\.value) == summary.recent.map(\.cid))
                    #expect(recent.first { $0.value == cids[0] }?.text.contains("signed") == true)
                    #expect(recent.contains { $0.text.contains("console-record-1") })

                    // Published records are searchable once routing has indexed their labels.
                    let search = Routing_V1_RoutingService.Client(wrapping: client)
                    for cid in cids { _ = try await search.publish(.with { $0.recordCid = cid }) }
                    var found: [String] = []
                    #expect(
                        try await eventually(timeout: .seconds(20)) {
                            found = try await search.search(
                                .with {
                                    $0.queries = [
                                        .with {
                                            $0.type = .skill; $0.value = "console/search"
                                        }
                                    ]; $0.minMatchScore = 1
                                }
                            ) { try await $0.messages.reduce(into: [String]()) { $0.append($1.recordCid) } }
                            return found.count == 3
                        })
                    let results = try await browser.get("/records?q=skill%3Aconsole%2Fsearch")
                    #expect(Set(HTMLRows.rows(results.body, attribute: "data-result").map(\.value)) == Set(found))
                    #expect(HTMLRows.text(ofID: "result-count", in: results.body) == "3")
                    #expect(results.body.contains("href=\"/records/\(cids[1])\""))

                    let record = try await browser.get("/records/\(cids[0])")
                    #expect(record.status == 200)
                    #expect(HTMLRows.text(ofID: "record-name", in: record.body) == "console-record-0")
                    #expect(HTMLRows.text(ofID: "signature-value", in: record.body) == "c2lnbmF0dXJlLWJ5dGVz")
                    let json = try #require(HTMLRows.text(ofID: "record-json", in: record.body))
                    #expect(json.contains("\"name\" : \"console-record-0\""), "\(json.prefix(500))")
                    let unsigned = try await browser.get("/records/\(cids[1])")
                    #expect(unsigned.body.contains("id=\"unsigned\""))
                    let missing = try await browser.get("/records/bafkreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
                    #expect(missing.status == 200 && missing.body.contains("class=\"problem\""))
                }
            }
        }

        @Test(
            "Mirrors: a sync created in the page is listed with the state and counters SyncProgress reports and deleted from the page; registry credentials revoked in the page no longer open the registry"
        )
        func mirrors() async throws {
            try await ConsoleFixture.runSignedIn { fixture, browser in
                try await fixture.withGatewayClient { client in
                    var page = try await browser.get("/mirrors")
                    let created = try await browser.post(
                        "/mirrors", [("csrf", try #require(ConsoleHTTPClient.csrf(in: page.body))), ("remote", "127.0.0.1:1"), ("cids", "")])
                    #expect(created.status == 303 && created.header("Location") == "/mirrors?done=sync-created", "\(created.body.prefix(1000))")
                    let syncs = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).listSyncs(.init()) {
                        try await $0.messages.reduce(into: [Agntcy_Dir_Store_V1_ListSyncsItem]()) { $0.append($1) }
                    }
                    let sync = try #require(syncs.first)
                    #expect(syncs.count == 1 && sync.remoteDirectoryURL == "127.0.0.1:1")
                    // Nothing listens there: the first rounds fail, and the page shows the error the service reports.
                    let progress = Wharf_Sync_V1_SyncProgress.Client(wrapping: client)
                    #expect(
                        try await eventually(timeout: .seconds(30)) {
                            !(try await progress.getSyncProgress(.with { $0.syncID = sync.syncID }).lastError.isEmpty)
                        })
                    page = try await browser.get("/mirrors")
                    let counters = try await progress.getSyncProgress(.with { $0.syncID = sync.syncID })
                    let row = try #require(HTMLRows.rows(page.body, attribute: "data-sync").first { $0.value == sync.syncID })
                    #expect(row.text.contains("127.0.0.1:1"))
                    #expect(row.text.contains(String(counters.lastError.prefix(40))), "\(row.text) vs \(counters.lastError)")
                    #expect(HTMLRows.text(ofID: "sync-count", in: page.body) == "1")

                    let deleted = try await browser.post(
                        "/mirrors/delete", [("csrf", try #require(ConsoleHTTPClient.csrf(in: page.body))), ("id", sync.syncID)])
                    #expect(deleted.status == 303)
                    let after = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).getSync(.with { $0.syncID = sync.syncID })
                    #expect(after.status == .deletePending || after.status == .deleted)

                    // Credentials handed to node-b open the registry until revoked in the page.
                    let issued = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: client).requestRegistryCredentials(
                        .with { $0.requestingNodeID = "node-b" })
                    #expect(issued.success)
                    let basic = "\(issued.basicAuth.username):\(issued.basicAuth.password)"
                    let registry = "http://127.0.0.1:\(fixture.registryPort)/v2/_catalog"
                    #expect(try await httpGet(registry, basic: basic).status == 200)
                    page = try await browser.get("/mirrors")
                    let credentialRows = HTMLRows.rows(page.body, attribute: "data-username")
                    let listed = try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: client).list(.init()).credentials
                    #expect(credentialRows.map(\.value) == listed.map(\.username))
                    #expect(credentialRows.first?.text.contains("node-b") == true && credentialRows.first?.text.contains("live") == true)
                    let revoked = try await browser.post(
                        "/mirrors/credentials/revoke", [("csrf", try #require(ConsoleHTTPClient.csrf(in: page.body))), ("node", "node-b")])
                    #expect(revoked.status == 303 && revoked.header("Location") == "/mirrors?done=credentials-revoked")
                    #expect(try await httpGet(registry, basic: basic).status == 401)
                    page = try await browser.get("/mirrors")
                    #expect(HTMLRows.rows(page.body, attribute: "data-username").first?.text.contains("revoked") == true)
                }
            }
        }

        @Test(
            "Relay: an open NIP-77 session is listed from its replica; a closed one is among the recent reconciliations with its rounds and outcome")
        func relay() async throws {
            try await ConsoleFixture.runSignedIn { fixture, browser in
                let relayPort = await fixture.services.built(NegentropyServer.self).relay.boundPort()
                let client = RelayTestClient(url: "ws://127.0.0.1:\(relayPort)")
                defer { Task { await client.close() } }
                let open = try Negentropy(storage: try SortedItems([])).initiate()
                try client.send(["NEG-OPEN", "finished-one", ["kinds": [1]], open.hexString])
                let answer = try await client.receive()
                #expect(answer.first as? String == "NEG-MSG")
                // A bare version byte means the sets already matched: the session ended complete, else closed.
                let outcome = (answer.last as? String)?.count == 2 ? "complete" : "closed"
                try client.send(["NEG-CLOSE", "finished-one"])
                try client.send(["NEG-OPEN", "still-open", ["kinds": [1]], open.hexString])
                #expect(try await client.receive().first as? String == "NEG-MSG")
                var page = ""
                #expect(
                    try await eventually(timeout: .seconds(20), every: .milliseconds(300)) {
                        page = try await browser.get("/relay").body
                        return HTMLRows.rows(page, attribute: "data-reconciliation").contains { $0.value == "finished-one" }
                            && HTMLRows.rows(page, attribute: "data-subscription").contains { $0.value == "still-open" }
                    }, "\(page.prefix(3000))")
                let finished = try #require(HTMLRows.rows(page, attribute: "data-reconciliation").first { $0.value == "finished-one" })
                #expect(finished.text.contains("relay") && finished.text.contains(" 1 ") && finished.text.contains(outcome), "\(finished.text)")
                // (Sessions are listed from the registry in Redis, which the suites running beside this one share.)
                #expect((Int(HTMLRows.text(ofID: "session-count", in: page) ?? "") ?? 0) >= 1)
            }
        }
    }
}
