import Foundation
import GRPCCore
import NegentropyProtocol
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

/// Publishes `events` through the node's relay and waits for every OK.
func publish(_ events: [NostrEvent], to node: NegentropyNode) async throws {
    let client = RelayTestClient(url: node.relayURL)
    for event in events {
        try client.send(["EVENT", event.jsonObject])
        let ok = try await client.receive()
        guard ok[2] as? Bool == true else { throw TestSupportError("not accepted: \(ok)") }
    }
    await client.close()
}

/// Ids of every event the node's relay returns for `{}` (up to 5000).
func storedIDs(_ node: NegentropyNode) async throws -> Set<String> {
    let client = RelayTestClient(url: node.relayURL)
    try client.send(["REQ", "everything", [String: Any]()])
    let frames = try await client.receive(until: "EOSE")
    await client.close()
    return Set(frames.dropLast().compactMap { ($0[2] as? [String: Any])?["id"] as? String })
}

@Suite("orlysync.negentropy.v1.NegentropyService over gRPC")
struct NegentropyServiceTests {
    @Test("sessions: in-band errors with ORLY's strings; listed, continued and closed across two replicas")
    func sessionsAcrossReplicas() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        let connection = "127.0.0.1:5000-\(UUID().uuidString)"
        try await withServices([.negentropy, .negentropy(environment: [:], name: "replica")], database: database) { services in
            let first = await NegentropyNode(services)
            let second = await NegentropyNode(services, name: "replica")
            let notes = (0..<120).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0), kind: 1, content: "n\($0)") }
            let reactions = (0..<10).map { TestKeys.bob.sign(createdAt: 1_700_000_000 + Int64($0), kind: 7, content: "+") }
            try await publish(notes + reactions, to: first)

            // The client holds the first 100 notes and 5 of its own; it reconciles kind 1 only.
            let own = (0..<5).map { TestKeys.bob.sign(createdAt: 1_700_000_500 + Int64($0), kind: 1, content: "own \($0)") }
            let negentropy = try Negentropy(
                storage: try SortedItems((Array(notes.prefix(100)) + own).compactMap(\.negentropyItem)),
                frameSizeLimit: 4096)
            var have = Set<EventID>(), need = Set<EventID>()
            var next: [UInt8]? = nil
            try await withNegentropyClient(port: first.grpcPort) { client in
                let opened = try await client.handleNegOpen(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "s1"
                        $0.filter = .with { $0.kinds = [1] }
                        $0.initialMessage = Data(negentropy.initiate())
                    })
                #expect(opened.error == "")
                let step = try negentropy.reconcileAsInitiator(Array(opened.message))
                have.formUnion(step.have)
                need.formUnion(step.need)
                next = step.next

                // A set under 32 items goes as one id list: the answer names the exact differences (the relay's
                // NEG-MSG does not carry them and skips that work; this API must not).
                let small = try Negentropy(storage: try SortedItems((Array(notes.prefix(10)) + own).compactMap(\.negentropyItem)))
                let differences = try await client.handleNegOpen(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "small"
                        $0.filter = .with { $0.kinds = [1] }
                        $0.initialMessage = Data(small.initiate())
                    })
                #expect(Set(differences.haveIds) == Set(notes.dropFirst(10).compactMap { $0.eventID.map { Data($0.bytes) } }))
                #expect(Set(differences.needIds) == Set(own.compactMap { $0.eventID.map { Data($0.bytes) } }))
                _ = try await client.handleNegClose(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "small"
                    })

                let missing = try await client.handleNegOpen(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "empty"
                    })
                #expect(missing.error == "blocked: NEG-OPEN requires initialMessage from initiator")
                let unknown = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "nope"
                        $0.message = Data([0x61])
                    })
                #expect(unknown.error == "session not found")
                let garbage = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "empty"
                        $0.message = Data([0x61, 0x00, 0x00, 0x07])
                    })
                #expect(garbage.error == "reconcile failed: unexpected mode")
            }
            // The second replica continues the session the first opened.
            try await withNegentropyClient(port: second.grpcPort) { client in
                var rounds = 0
                while let message = next {
                    rounds += 1
                    let answer = try await client.handleNegMsg(
                        .with {
                            $0.connectionID = connection
                            $0.subscriptionID = "s1"
                            $0.message = Data(message)
                        })
                    try #require(answer.error == "", "\(answer.error)")
                    let step = try negentropy.reconcileAsInitiator(Array(answer.message))
                    have.formUnion(step.have)
                    need.formUnion(step.need)
                    next = step.next
                }
                #expect(have == Set(own.compactMap(\.eventID)))
                #expect(need == Set(notes.suffix(20).compactMap(\.eventID)))

                // Listed under the caller's namespace (sessions are bound to the credential that opened them).
                let listed = try await client.listSessions(.init()).sessions.filter { $0.connectionID == "grpc-admin:" + connection }
                #expect(Set(listed.map(\.subscriptionID)) == ["s1", "empty"])
                let s1 = try #require(listed.first { $0.subscriptionID == "s1" })
                #expect(s1.roundCount == Int32(rounds))
                #expect(s1.createdAt > 1_700_000_000 && s1.lastActivity >= s1.createdAt)

                // Peers are stored in PostgreSQL: one replica adds, the other sees.
                _ = try await client.addPeer(.with { $0.peerURL = "wss://relay.example.org" })
                let seenByFirst = try await withNegentropyClient(port: first.grpcPort) { other in
                    try await other.getPeers(.init()).peers
                }
                #expect(seenByFirst == ["wss://relay.example.org"])

                // Close by subscription id alone: every connection's "s1".
                _ = try await client.closeSession(.with { $0.subscriptionID = "s1" })
            }
            try await withNegentropyClient(port: first.grpcPort) { client in
                let closed = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "s1"
                        $0.message = Data(negentropy.initiate())
                    })
                #expect(closed.error == "session not found")
                _ = try await client.handleNegClose(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "empty"
                    })
                #expect(try await client.listSessions(.init()).sessions.filter { $0.connectionID.hasSuffix(connection) }.isEmpty)
            }
        }
    }
    @Test("an idle session expires after the configured timeout")
    func sessionTimeout() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_SESSION_TIMEOUT": "1s"])]) { services in
            let node = await NegentropyNode(services)
            try await withNegentropyClient(port: node.grpcPort) { client in
                let empty = try Negentropy(storage: try SortedItems([]))
                let connection = "timeout-\(UUID().uuidString)"
                let opened = try await client.handleNegOpen(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "s"
                        $0.initialMessage = Data(empty.initiate())
                    })
                // An empty set answers the empty initial message with its own (empty) id list.
                #expect(opened.error == "" && !opened.complete)
                #expect(opened.message == Data([0x61, 0x00, 0x00, 0x02, 0x00]))
                try await Task.sleep(for: .milliseconds(1600))
                let late = try await client.handleNegMsg(
                    .with {
                        $0.connectionID = connection
                        $0.subscriptionID = "s"
                        $0.message = Data(empty.initiate())
                    })
                #expect(late.error == "session not found")
            }
        }
    }

    @Test("two systems on one Redis database (their own WHARF_REDIS_CHANNEL_PREFIX) never list each other's sessions")
    func sessionsKeptPerSystem() async throws {
        try await withServices([.negentropy]) { first in
            let node = await NegentropyNode(first)
            try await withServices([.negentropy]) { second in
                let other = await NegentropyNode(second)
                let client = RelayTestClient(url: node.relayURL)
                let empty = try Negentropy(storage: try SortedItems([])).initiate().hexString
                try client.send(["NEG-OPEN", "mine", [String: Any](), empty])
                #expect(try await client.receive()[0] as? String == "NEG-MSG")
                let listedHere = try await withNegentropyClient(port: node.grpcPort) { try await $0.listSessions(.init()).sessions }
                #expect(listedHere.map(\.subscriptionID) == ["mine"])
                let listedThere = try await withNegentropyClient(port: other.grpcPort) { try await $0.listSessions(.init()).sessions }
                #expect(listedThere.isEmpty, "\(listedThere)")
                await client.close()
            }
        }
    }

    @Test("SyncWithPeer: two relays end with the same events; progress counts the differences; peer state is kept")
    func syncWithPeer() async throws {
        try await withServices([.negentropy]) { services in
            let left = await NegentropyNode(services)
            try await withServices([.negentropy]) { services in
                let right = await NegentropyNode(services)
                let shared = (0..<100).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0), kind: 1, content: "shared \($0)") }
                let leftOnly = (0..<30).map { TestKeys.alice.sign(createdAt: 1_700_001_000 + Int64($0), kind: 1, content: "left \($0)") }
                let rightOnly = (0..<20).map { TestKeys.bob.sign(createdAt: 1_700_000_050 + Int64($0), kind: 1, content: "right \($0)") }
                try await publish(shared + leftOnly, to: left)
                try await publish(shared + rightOnly, to: right)

                try await withNegentropyClient(port: left.grpcPort) { client in
                    _ = try await client.addPeer(.with { $0.peerURL = right.relayURL })
                    #expect(try await client.getPeers(.init()).peers == [right.relayURL])
                    let progress = try await client.syncWithPeer(.with { $0.peerURL = right.relayURL }) { response in
                        try await response.messages.reduce(into: [Orlysync_Negentropy_V1_SyncProgress]()) { $0.append($1) }
                    }
                    #expect(progress.first?.round == 0)
                    let last = try #require(progress.last)
                    #expect(last.complete && last.error == "", "\(last)")
                    #expect(last.haveCount == 30 && last.needCount == 20 && last.fetchedCount == 20 && last.sentCount == 30, "\(last)")
                    #expect(progress.dropLast().allSatisfy { !$0.complete })

                    let state = try await client.getPeerSyncState(.with { $0.peerURL = right.relayURL })
                    #expect(state.found && state.state.status == "idle" && state.state.eventsSynced == 50)
                    #expect(state.state.lastSync > 1_700_000_000 && state.state.consecutiveFailures == 0)
                    let unknown = try await client.getPeerSyncState(.with { $0.peerURL = "ws://127.0.0.1:1" })
                    #expect(!unknown.found)
                }
                let expected = Set((shared + leftOnly + rightOnly).map(\.id))
                #expect(try await storedIDs(left) == expected)
                #expect(try await storedIDs(right) == expected)

                // A second sync finds nothing to do.
                try await withNegentropyClient(port: left.grpcPort) { client in
                    let again = try await client.syncWithPeer(.with { $0.peerURL = right.relayURL }) { response in
                        try await response.messages.reduce(into: [Orlysync_Negentropy_V1_SyncProgress]()) { $0.append($1) }
                    }
                    #expect(again.last?.complete == true && again.last?.haveCount == 0 && again.last?.needCount == 0)
                }
            }
        }
    }

    @Test("wharfctl negentropy sync reconciles two relays and prints the final counts (JSON too); an unreachable relay exits 1 on one line")
    func wharfctlSync() async throws {
        try await withServices([.negentropy]) { services in
            let left = await NegentropyNode(services)
            try await withServices([.negentropy]) { services in
                let right = await NegentropyNode(services)
                let shared = (0..<10).map { TestKeys.alice.sign(createdAt: 1_700_100_000 + Int64($0), kind: 1, content: "shared \($0)") }
                let leftOnly = (0..<7).map { TestKeys.alice.sign(createdAt: 1_700_101_000 + Int64($0), kind: 1, content: "left \($0)") }
                let rightOnly = (0..<4).map { TestKeys.bob.sign(createdAt: 1_700_100_050 + Int64($0), kind: 1, content: "right \($0)") }
                try await publish(shared + leftOnly, to: left)
                try await publish(shared + rightOnly, to: right)
                let wharfctl = try builtExecutable("wharfctl")
                let admin = ["WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText]
                let address = ["--address", "127.0.0.1:\(left.grpcPort)"]
                let first = try await runExecutable(
                    wharfctl, ["negentropy", "sync", right.relayURL, "--output", "json"] + address, environment: admin)
                #expect(first.status == 0, "\(first.output)")
                // On a slow run wharfctl also writes a progress line (standard error, every 5 s): the answer is the JSON line.
                let json = first.output.split(separator: "\n").last { $0.hasPrefix("{") } ?? ""
                let counts = try #require((try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: Any], "\(first.output)")
                #expect(
                    counts["have"] as? Int == 7 && counts["need"] as? Int == 4 && counts["fetched"] as? Int == 4
                        && counts["sent"] as? Int == 7 && counts["complete"] as? Bool == true, "\(counts)")
                #expect(try await storedIDs(left) == Set((shared + leftOnly + rightOnly).map(\.id)))
                let again = try await runExecutable(wharfctl, ["negentropy", "sync", right.relayURL] + address, environment: admin)
                let summary = again.output.split(separator: "\n").last.map(String.init) ?? ""
                #expect(
                    again.status == 0 && summary.hasPrefix("synced \(right.relayURL): ") && summary.hasSuffix("have 0, need 0, fetched 0, sent 0"),
                    "\(again.output)")
                let dead = try await runExecutable(wharfctl, ["negentropy", "sync", "ws://127.0.0.1:9"] + address, environment: admin)
                #expect(dead.status == 1 && dead.output.hasPrefix("wharfctl: ") && dead.output.split(separator: "\n").count == 1, "\(dead.output)")
            }
        }
    }

    @Test("TriggerSync runs as a job; an unreachable peer is recorded as an error; Start and Stop toggle the loop")
    func triggerAndLoop() async throws {
        try await withServices([.negentropy(environment: ["WHARF_NEGENTROPY_PEER_TIMEOUT": "500ms"])]) { services in
            let node = await NegentropyNode(services)
            try await withNegentropyClient(port: node.grpcPort) { client in
                #expect(try await client.ready(.init()).ready)
                let status = try await client.getSyncStatus(.init())
                #expect(!status.active && status.lastSync == 0 && status.peerCount == 0)

                let dead = "ws://127.0.0.1:1"
                _ = try await client.addPeer(.with { $0.peerURL = dead })
                let never = try await client.getPeerSyncState(.with { $0.peerURL = dead })
                #expect(never.found && never.state.lastSync == 0 && never.state.status == "idle")
                _ = try await client.triggerSync(.with { $0.peerURL = dead })
                var state = Orlysync_Negentropy_V1_PeerSyncState()
                for _ in 0..<100 {
                    state = try await client.getPeerSyncState(.with { $0.peerURL = dead }).state
                    if state.consecutiveFailures > 0 { break }
                    try await Task.sleep(for: .milliseconds(100))
                }
                #expect(state.status == "error" && state.consecutiveFailures == 1 && state.lastError.contains("could not connect"), "\(state)")

                // ORLY's answer for a peer it does not know: NOT_FOUND "peer not found: <url>".
                let unknown = await #expect(throws: RPCError.self) { try await client.triggerSync(.with { $0.peerURL = "ws://unknown.example" }) }
                #expect(unknown?.code == .notFound && unknown?.message == "peer not found: ws://unknown.example", "\(String(describing: unknown))")
                await #expect(throws: RPCError.self) { try await client.addPeer(.with { $0.peerURL = "" }) }

                _ = try await client.start(.init())
                #expect(try await client.getSyncStatus(.init()).active)
                _ = try await client.stop(.init())
                #expect(try await !client.getSyncStatus(.init()).active)
                _ = try await client.removePeer(.with { $0.peerURL = dead })
                #expect(try await client.getPeers(.init()).peers.isEmpty)
            }
        }
    }
}
