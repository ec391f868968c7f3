import Foundation
import GRPCCore
import ServiceContracts
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

extension FederationTests {
    @Test("records pushed to A appear in B with their referrers, listed by label; later pushes arrive within seconds; DeleteSync stops it")
    func mirrorFollowsAndStops() async throws {
        let federation = try await Federation.start()
        defer { Task { await federation.stop() } }
        let skill = uniqueSkill("mirror")
        let vectors = try UpstreamRecordVectors.load()
        // What a store keeps of a signature, as upstream (spec agntcy-dir.md §4.6): the signature and its payload.
        let signature = Agntcy_Dir_Sign_V1_Signature.with {
            $0.signature = "MEUCIQ=="
            $0.annotations = ["payload": "{\"critical\":{}}"]
        }
        let publicKey = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ==\n-----END PUBLIC KEY-----\n"

        try await federation.withGateways { a, b in
            // A holds upstream's vector records and labelled records, one signed.
            let vectorCIDs = try await a.pushRecords(vectors.map(\.record))
            #expect(vectorCIDs == vectors.map(\.cid))
            let labelled = try await a.pushRecords(federationRecords(20, skill: skill))
            let signed = labelled[0]
            _ = try await a.store.pushReferrer(
                request: StreamingClientRequest { writer in
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = signed; $0.signature = signature
                        })
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = signed; $0.publicKey = publicKey
                        })
                }
            ) { response in try await response.messages.reduce(0) { count, _ in count + 1 } }

            // B mirrors A: the id comes back at once, the sync is PENDING or IN_PROGRESS with its timestamps.
            let id = try await b.createSync(remote: federation.remoteURL)
            #expect(UUID(uuidString: id) != nil)
            let outside = try await wharfctl(["sync", "create", "http://10.1.2.3:50050", "--address", "127.0.0.1:\(federation.b.port("gateway"))"])
            #expect(outside.status == 1 && outside.output.hasPrefix("wharfctl: PERMISSION_DENIED: "), "\(outside.output)")
            let created = try await b.sync.getSync(.with { $0.syncID = id })
            #expect([.pending, .inProgress].contains(created.status))
            #expect(created.remoteDirectoryURL == federation.remoteURL)
            #expect(!created.createdTime.isEmpty && !created.lastUpdateTime.isEmpty)

            let all = vectorCIDs + labelled
            #expect(
                try await eventually(timeout: .seconds(60), every: .milliseconds(250)) {
                    try await b.pullableCIDs(all) == Set(all)
                }, "B did not receive every record of A")
            // The copies are the records (their CIDs are recomputed on B's Push), with their referrers (pushed
            // right after their batch of records: a record can be pullable a moment before its signature).
            var pulledSigned: [Agntcy_Dir_Store_V1_PullReferrerResponse] = []
            #expect(
                try await eventually(timeout: .seconds(10), every: .milliseconds(100)) {
                    pulledSigned = try await b.store.pullReferrer(
                        request: StreamingClientRequest { writer in
                            try await writer.write(
                                .with {
                                    $0.recordRef.cid = signed; $0.pullSignature = true
                                })
                            try await writer.write(
                                .with {
                                    $0.recordRef.cid = signed; $0.pullPublicKey = true
                                })
                        }
                    ) { response in try await response.messages.reduce(into: [Agntcy_Dir_Store_V1_PullReferrerResponse]()) { $0.append($1) } }
                    return pulledSigned.last?.publicKey.isEmpty == false
                })
            #expect(pulledSigned.count == 2)
            #expect(pulledSigned.first?.signature == signature)
            #expect(pulledSigned.last?.publicKey == publicKey)
            // B's routing lists them by label, as upstream's monitor indexes synced records.
            #expect(try await eventually(timeout: .seconds(10)) { Set(try await b.listed(skill: skill)) == Set(labelled) })
            #expect(try await b.listed(skill: skill).count == labelled.count)

            let progress = try await b.progress(id)
            #expect(progress.status == "SYNC_STATUS_IN_PROGRESS")
            #expect(progress.method == "negentropy")
            #expect(progress.copied == UInt64(all.count))
            #expect(progress.rejected == 0)
            #expect(progress.bytes > 0)
            #expect(progress.lastError == "")
            #expect(try await b.status(id) == .inProgress)

            // Pushed to A while the sync is active: pullable on B within seconds, through A's change feed.
            let clock = ContinuousClock()
            var latencies: [Duration] = []
            for record in federationRecords(5, skill: skill) {
                let start = clock.now
                let cid = try #require(try await a.pushRecords([record]).first)
                #expect(try await eventually(timeout: .seconds(10), every: .milliseconds(20)) { try await b.pullableCIDs([cid]) == [cid] })
                latencies.append(clock.now - start)
            }
            #expect(latencies.allSatisfy { $0 < .seconds(5) }, "push on A to pullable on B: \(latencies)")
            print("federation figures: push on A to pullable on B: \(latencies.map { "\($0)" }.joined(separator: ", "))")
            // While it follows, the lag stays near zero.
            #expect(try await eventually(timeout: .seconds(10)) { try await b.progress(id).lagSeconds <= 3 })
            // The same counters as Prometheus gauges on B's sync metrics port (refreshed every 10 s).
            let metricsPort = try #require(federation.b.component("sync").metricsPort)
            var metrics = ""
            #expect(
                try await eventually(timeout: .seconds(25), every: .milliseconds(500)) {
                    metrics = try await httpGet("http://127.0.0.1:\(metricsPort)/metrics").body
                    return metrics.contains("wharf_sync_records_copied{sync_id=\"\(id)\"} \(all.count + 5)")
                }, "\(metrics.split(separator: "\n").filter { $0.contains("wharf_sync") })")
            #expect(metrics.contains("wharf_sync_records_rejected{sync_id=\"\(id)\"} 0"))

            // wharfctl prints the counters, as text and as JSON.
            let text = try await wharfctl(["sync", "status", id, "--address", "127.0.0.1:\(federation.b.port("gateway"))"])
            #expect(text.status == 0, "\(text.output)")
            #expect(text.output.contains("status: SYNC_STATUS_IN_PROGRESS"))
            #expect(text.output.contains("copied: \(all.count + 5)"), "\(text.output)")
            let json = try await wharfctl(["sync", "status", id, "--address", "127.0.0.1:\(federation.b.port("gateway"))", "--output", "json"])
            let object = try JSONSerialization.jsonObject(with: Data(json.output.utf8)) as? [String: Any]
            #expect(object?["copied"] as? Int == all.count + 5, "\(json.output)")
            #expect(object?["method"] as? String == "negentropy")
            let listed = try await wharfctl(["sync", "list", "--address", "127.0.0.1:\(federation.b.port("gateway"))"])
            #expect(listed.output.contains("\(id)\tSYNC_STATUS_IN_PROGRESS\t\(federation.remoteURL)"), "\(listed.output)")

            // DeleteSync: DELETE_PENDING, then DELETED; a record pushed to A afterwards never arrives.
            let deleting = try await wharfctl(["sync", "delete", id, "--address", "127.0.0.1:\(federation.b.port("gateway"))"])
            #expect(deleting.status == 0 && deleting.output == "deleting \(id)\n", "\(deleting.output)")
            #expect([.deletePending, .deleted].contains(try await b.status(id)))
            #expect(try await eventually(timeout: .seconds(15)) { try await b.status(id) == .deleted })
            let late = try #require(try await a.pushRecords(federationRecords(1, skill: skill)).first)
            try await Task.sleep(for: .seconds(5))  // longer than a round and far longer than the feed's latency
            #expect(try await b.pullableCIDs([late]).isEmpty)
            let items = try await b.sync.listSyncs(.init()) { response in
                try await response.messages.reduce(into: [Agntcy_Dir_Store_V1_ListSyncsItem]()) { $0.append($1) }
            }
            #expect(items.first { $0.syncID == id }?.status == .deleted)
            // A second delete says it is gone, as settled.
            let again = await #expect(throws: RPCError.self) { try await b.deleteSync(id) }
            #expect(again?.code == .notFound)
            let againByWharfctl = try await wharfctl(["sync", "delete", id, "--address", "127.0.0.1:\(federation.b.port("gateway"))"])
            #expect(againByWharfctl.status == 1 && againByWharfctl.output.hasPrefix("wharfctl: NOT_FOUND: "), "\(againByWharfctl.output)")
        }
        #expect(await federation.a.problems().isEmpty)
        #expect(await federation.b.problems().isEmpty)
    }

    @Test("a cids-limited sync copies exactly those; a record whose content does not hash to its CID is rejected, counted and never stored")
    func listedAndTampered() async throws {
        let federation = try await Federation.start()
        defer { Task { await federation.stop() } }
        let skill = uniqueSkill("listed")
        let postgres = try await TestPostgres.shared()

        try await federation.withGateways { a, b in
            let cids = try await a.pushRecords(federationRecords(10, skill: skill))
            // A serves record 3 with other content than its CID names (a corrupted or hostile remote).
            try await postgres.query(
                database: federation.a.database,
                """
                UPDATE store.records SET data = convert_to(replace(convert_from(data, 'UTF8'), 'federation-', 'tampered-'), 'UTF8')
                WHERE cid = '\(cids[3])'
                """)
            let wanted = [cids[0], cids[1], cids[3], cids[5]]
            // Created with wharfctl, as a user would: one --cid per record, the id in the JSON answer.
            let created = try await wharfctl(
                [
                    "sync", "create", federation.remoteURL, "--address", "127.0.0.1:\(federation.b.port("gateway"))",
                    "--output", "json",
                ] + wanted.flatMap { ["--cid", $0] })
            #expect(created.status == 0, "\(created.output)")
            let answer = try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any]
            #expect(answer?["remote_directory_url"] as? String == federation.remoteURL)
            let id = try #require(answer?["sync_id"] as? String, "\(created.output)")
            #expect(UUID(uuidString: id) != nil)
            let expected: Set<String> = [cids[0], cids[1], cids[5]]
            #expect(
                try await eventually(timeout: .seconds(30), every: .milliseconds(250)) {
                    try await b.pullableCIDs(cids) == expected
                })
            #expect(try await eventually(timeout: .seconds(10)) { try await b.progress(id).rejected >= 1 })
            let progress = try await b.progress(id)
            #expect(progress.method == "cids")
            #expect(progress.copied == 3)
            #expect(progress.discovered >= 4)
            // Nothing else arrived, the tampered record included, and only the three are listed.
            #expect(try await b.pullableCIDs(cids) == expected)
            #expect(Set(try await b.listed(skill: skill)) == expected)
            #expect(try await postgres.count("store.records", database: federation.b.database) == 3)
        }
        let log = (try? String(contentsOfFile: federation.b.component("sync").logPath, encoding: .utf8)) ?? ""
        #expect(log.contains("does not hash to its CID"), "the rejection is logged with both CIDs")
    }

    @Test("kill -9 of B's sync mid-mirror, then a restart: the mirror completes with no duplicate and no gap")
    func syncKilledMidMirror() async throws {
        let federation = try await Federation.start()
        defer { Task { await federation.stop() } }
        let skill = uniqueSkill("killed")
        let postgres = try await TestPostgres.shared()
        let total = 3_000

        try await federation.withGateways { a, b in
            var cids: [String] = []
            let records = federationRecords(total, skill: skill)
            for start in stride(from: 0, to: total, by: 500) {
                cids += try await a.pushRecords(Array(records[start..<min(start + 500, total)]))
            }
            let id = try await b.createSync(remote: federation.remoteURL)
            // Kill B's sync once part of the records is in B's store.
            #expect(
                try await eventually(timeout: .seconds(60), every: .milliseconds(10)) {
                    try await postgres.count("store.records", database: federation.b.database) > 0
                })
            federation.b.component("sync").process.send(SIGKILL)
            let atKill = try await postgres.count("store.records", database: federation.b.database)
            #expect(atKill < total, "the mirror finished before the kill; nothing was interrupted")
            try await federation.b.respawn("sync")

            #expect(
                try await eventually(timeout: .seconds(90), every: .milliseconds(500)) {
                    try await postgres.count("store.records", database: federation.b.database) == total
                })
            #expect(try await b.pullableCIDs(cids) == Set(cids))
            // Every record is listed once (those pushed before the kill but not yet published included).
            #expect(try await eventually(timeout: .seconds(30)) { try await b.listed(skill: skill).count == total })
            let listed = try await b.listed(skill: skill)
            #expect(Set(listed) == Set(cids) && listed.count == total)
            // No copy counted twice, and none lost: what the killed round journalled is counted when finished (only
            // a batch killed between its journal's removal and its count, a few statements apart, could be lost).
            let progress = try await b.progress(id)
            #expect(progress.copied <= UInt64(total) && progress.copied >= UInt64(total - 512), "copied \(progress.copied)")
            #expect(progress.status == "SYNC_STATUS_IN_PROGRESS")
            #expect(try await postgres.count("sync.copies_in_flight", database: federation.b.database) == 0)
            print(
                "federation figures: kill -9 of sync: \(atKill) of \(total) records in B at the kill, all \(total) afterwards, copied counter \(progress.copied)"
            )
        }
    }

    @Test("A's gateway stopped: the sync becomes FAILED after its retry budget, with the reason wharfctl sync status shows")
    func remoteGoneFails() async throws {
        let federation = try await Federation.start(b: ["WHARF_SYNC_MAX_FAILURES": "2", "WHARF_SYNC_POLL_INTERVAL": "1s"])
        defer { Task { await federation.stop() } }
        let skill = uniqueSkill("gone")

        try await federation.withGateways { a, b in
            let cids = try await a.pushRecords(federationRecords(3, skill: skill))
            let id = try await b.createSync(remote: federation.remoteURL)
            #expect(try await eventually(timeout: .seconds(30)) { try await b.pullableCIDs(cids) == Set(cids) })
            // `sync status --watch` follows the sync from here and ends by itself once it has FAILED.
            async let watched = runExecutable(
                try builtExecutable("wharfctl"),
                [
                    "sync", "status", id, "--watch", "--address", "127.0.0.1:\(federation.b.port("gateway"))",
                ], environment: [:], timeout: .seconds(90))
            await federation.a.component("gateway").process.stop()
            #expect(try await eventually(timeout: .seconds(60), every: .milliseconds(250)) { try await b.status(id) == .failed })
            let watch = try await watched
            #expect(watch.status == 0 && watch.output.contains("status: SYNC_STATUS_FAILED"), "\(watch.output)")
            #expect(!watch.output.contains("\r"), "no line drawn in place when the output is not a terminal: \(watch.output)")

            let status = try await wharfctl(["sync", "status", id, "--address", "127.0.0.1:\(federation.b.port("gateway"))"])
            #expect(status.status == 0, "\(status.output)")
            #expect(status.output.contains("status: SYNC_STATUS_FAILED"), "\(status.output)")
            let lastError = status.output.split(separator: "\n").first { $0.hasPrefix("last_error: ") }.map { String($0.dropFirst(12)) } ?? ""
            #expect(lastError.contains("unavailable"), "\(status.output)")
            #expect(status.output.contains("consecutive_failures: 2"), "\(status.output)")
            // An unknown id is a clear error with a non-zero exit.
            let unknown = try await wharfctl([
                "sync", "status", "00000000-0000-4000-8000-000000000000",
                "--address", "127.0.0.1:\(federation.b.port("gateway"))",
            ])
            #expect(unknown.status == 1)
            #expect(unknown.output.contains("wharfctl: NOT_FOUND: sync not found: 00000000-0000-4000-8000-000000000000"), "\(unknown.output)")
        }
    }

    @Test("registry credentials A hands to B's node read A's OCI API until revoked (wharfctl sync revoke) or expired")
    func credentialsRevokedAndExpired() async throws {
        let federation = try await Federation.start(a: ["WHARF_SYNC_CREDENTIAL_TTL": "10s"])
        defer { Task { await federation.stop() } }
        let registry = "127.0.0.1:\(federation.a.registryPort)"

        try await federation.withGateways { a, _ in
            _ = try await a.pushRecords(federationRecords(2, skill: uniqueSkill("credentials")))
            func issue() async throws -> String {
                let answer = try await a.sync.requestRegistryCredentials(.with { $0.requestingNodeID = "node-b" })
                #expect(answer.success)
                #expect(answer.remoteRegistryURL == registry)
                return "\(answer.basicAuth.username):\(answer.basicAuth.password)"
            }
            let first = try await issue()
            #expect(try await httpGet("http://\(registry)/v2/_catalog", basic: first).status == 200)
            #expect(try await httpGet("http://\(registry)/v2/_catalog").status == 401)

            let revoke = try await wharfctl(
                ["sync", "revoke", "node-b", "--address", "127.0.0.1:\(federation.a.port("gateway"))", "--output", "json"],
                environment: ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText])
            #expect(revoke.status == 0, "\(revoke.output)")
            #expect(revoke.output.contains("\"revoked\":1"), "\(revoke.output)")
            let revoked = try await httpGet("http://\(registry)/v2/_catalog", basic: first)
            #expect(revoked.status == 401)
            #expect(revoked.headers["Www-Authenticate"]?.hasPrefix("Basic") == true, "\(revoked.headers)")
            // Without the admin token the revocation is refused.
            let refused = try await wharfctl(
                ["sync", "revoke", "node-b", "--address", "127.0.0.1:\(federation.a.port("gateway"))"],
                environment: ["WHARF_ADMIN_TOKEN": "not-the-admin-token-at-all"])
            #expect(refused.status == 1)
            #expect(refused.output.contains("PERMISSION_DENIED") || refused.output.contains("UNAUTHENTICATED"), "\(refused.output)")

            let second = try await issue()
            #expect(try await httpGet("http://\(registry)/v2/_catalog", basic: second).status == 200)
            try await Task.sleep(for: .seconds(11))
            #expect(try await httpGet("http://\(registry)/v2/_catalog", basic: second).status == 401)
        }
    }
}

extension FederationTests {
    @Test(
        "a remote that is no Wharf node (no reconciliation or transfer RPC) is mirrored through its OCI tag list with the credentials it issues, by Pull and PullReferrer"
    )
    func tagListFallback() async throws {
        let federation = try await Federation.start(unroutedOnA: ["wharf.store.v1.RecordReconciliation", "wharf.store.v1.RecordTransfer"])
        defer { Task { await federation.stop() } }
        let skill = uniqueSkill("oci")

        try await federation.withGateways { a, b in
            // A's gateway does not know the Wharf-only service, as any other Directory.
            let probe = await #expect(throws: RPCError.self) {
                try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: a).watchRecords(.init()) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(probe?.code == .unimplemented)
            let exportProbe = await #expect(throws: RPCError.self) {
                _ = try await Wharf_Store_V1_RecordTransfer.Client(wrapping: a).exportEach(["baeareiexample"], referrers: true, options: .defaults)
            }
            #expect(exportProbe?.code == .unimplemented)
            let cids = try await a.pushRecords(federationRecords(30, skill: skill))
            let publicKey = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQ==\n-----END PUBLIC KEY-----\n"
            _ = try await a.store.pushReferrer(
                request: StreamingClientRequest { writer in
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = cids[0];
                            $0.signature = .with {
                                $0.signature = "MEUCIQ=="; $0.annotations = ["payload": "{}"]
                            }
                        })
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = cids[0]; $0.publicKey = publicKey
                        })
                }
            ) { response in try await response.messages.reduce(0) { count, _ in count + 1 } }
            let id = try await b.createSync(remote: federation.remoteURL)
            #expect(try await eventually(timeout: .seconds(30), every: .milliseconds(250)) { try await b.pullableCIDs(cids) == Set(cids) })
            let progress = try await b.progress(id)
            #expect(progress.method == "oci-tags")
            #expect(progress.copied == 30)
            #expect(progress.rejected == 0)
            #expect(Set(try await b.listed(skill: skill)) == Set(cids))
            // The referrers came by PullReferrer.
            let referrers = try await b.store.pullReferrer(
                request: StreamingClientRequest { writer in
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = cids[0]; $0.pullSignature = true
                        })
                    try await writer.write(
                        .with {
                            $0.recordRef.cid = cids[0]; $0.pullPublicKey = true
                        })
                }
            ) { response in try await response.messages.reduce(into: [Agntcy_Dir_Store_V1_PullReferrerResponse]()) { $0.append($1) } }
            #expect(referrers.first?.signature.signature == "MEUCIQ==" && referrers.first?.signature.annotations == ["payload": "{}"])
            #expect(referrers.last?.publicKey == publicKey)
            // Later pushes arrive with the next listing (one poll interval, 3 s here).
            let later = try await a.pushRecords(federationRecords(3, skill: skill))
            #expect(try await eventually(timeout: .seconds(20), every: .milliseconds(250)) { try await b.pullableCIDs(later) == Set(later) })
            #expect(try await eventually(timeout: .seconds(10)) { try await b.progress(id).copied == 33 })
        }
    }
}
