import Foundation
import NegentropyProtocol
import PostgresNIO
import Testing
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

/// What a relay client with an empty set learns over NIP-77 for `filter`: the ids the relay has. OKs still
/// arriving for EVENTs sent before are counted in `acceptedEvents`.
func reconcileFromEmpty(
    _ client: RelayTestClient, filter: [String: Any], subscription: String = "neg", acceptedEvents: inout Int
) async throws -> Set<String> {
    let negentropy = try Negentropy(storage: try SortedItems([]), frameSizeLimit: 60_000)
    try client.send(["NEG-OPEN", subscription, filter, negentropy.initiate().hexString])
    var need = Set<String>()
    while true {
        let frame = try await client.receive()
        if frame[0] as? String == "OK" {
            if frame[2] as? Bool == true { acceptedEvents += 1 }
            continue
        }
        guard frame[0] as? String == "NEG-MSG", let hex = frame[2] as? String, let message = Data(hexString: hex) else {
            throw TestSupportError("expected NEG-MSG, got \(frame)")
        }
        let step = try negentropy.reconcileAsInitiator(Array(message))
        need.formUnion(step.need.map(\.hex))
        guard let next = step.next else { break }
        try client.send(["NEG-MSG", subscription, next.hexString])
    }
    try client.send(["NEG-CLOSE", subscription])
    return need
}

func reconcileFromEmpty(_ client: RelayTestClient, filter: [String: Any], subscription: String = "neg") async throws -> Set<String> {
    var accepted = 0
    return try await reconcileFromEmpty(client, filter: filter, subscription: subscription, acceptedEvents: &accepted)
}

@Suite("The resident negentropy index: sessions reconcile from memory, kept current across replicas")
struct ResidentIndexTests {
    @Test(
        "indexed filters (with a time window or a limit) never read PostgreSQL; own commits count at once, another replica's soon, replaced events leave"
    )
    func indexedSessions() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        let indexed = ["WHARF_NEGENTROPY_INDEXES": #"[{"kinds":[1]}]"#]
        try await withServices(
            [.negentropy(environment: indexed), .negentropy(environment: indexed, name: "replica")], database: database
        ) { services in
            let node = await NegentropyNode(services)
            let replica = await NegentropyNode(services, name: "replica")
            let indexes = try #require(node.indexes)
            #expect(try await eventually(timeout: .seconds(30)) { indexes.isLoaded && replica.indexes?.isLoaded == true })

            let notes = (0..<200).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0), kind: 1, content: "n\($0)") }
            let oldProfile = TestKeys.bob.sign(createdAt: 1_700_000_000, kind: 0, content: "old")
            let newProfile = TestKeys.bob.sign(createdAt: 1_700_000_100, kind: 0, content: "new")
            let client = RelayTestClient(url: node.relayURL)
            // Pipelined: every EVENT sent before the first OK is read; the NEG-OPEN after them sees them all.
            for event in notes + [oldProfile, newProfile] { try client.send(["EVENT", event.jsonObject]) }
            var accepted = 0
            let all = try await reconcileFromEmpty(client, filter: [:], acceptedEvents: &accepted)
            #expect(accepted == 202)
            #expect(all == Set(notes.map(\.id) + [newProfile.id]))

            let window = try await reconcileFromEmpty(client, filter: ["kinds": [1], "since": 1_700_000_050, "until": 1_700_000_059])
            #expect(window == Set(notes[50...59].map(\.id)))
            let newest = try await reconcileFromEmpty(client, filter: ["kinds": [1], "limit": 10])
            #expect(newest == Set(notes.suffix(10).map(\.id)))
            #expect(node.sessions?.setsBuilt.fromDatabase == 0)
            #expect(node.sessions?.setsBuilt.fromIndex == 3)
            #expect(indexes.counts == [201, 200])

            // Another replica's events reach this one's index through the change feed.
            let elsewhere = (0..<50).map { TestKeys.bob.sign(createdAt: 1_700_001_000 + Int64($0), kind: 1, content: "b\($0)") }
            try await publish(elsewhere, to: replica)
            #expect(try await eventually(timeout: .seconds(20)) { indexes.counts == [251, 250] }, "\(indexes.counts)")
            #expect(try await reconcileFromEmpty(client, filter: ["kinds": [1]]) == Set((notes + elsewhere).map(\.id)))
            #expect(node.sessions?.setsBuilt.fromDatabase == 0)

            // A filter no index answers reads PostgreSQL, as before.
            let authored = try await reconcileFromEmpty(client, filter: ["authors": [TestKeys.bob.publicKeyHex]])
            #expect(authored == Set(elsewhere.map(\.id) + [newProfile.id]))
            #expect(node.sessions?.setsBuilt.fromDatabase == 1)
            await client.close()
        }
    }

    @Test("a change committed after later ones (its sequence number a gap for a while) still reaches the index; a new replica loads the whole set")
    func feedGaps() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        try await withServices([.negentropy], database: database) { services in
            let node = await NegentropyNode(services)
            let indexes = try #require(node.indexes)
            #expect(try await eventually(timeout: .seconds(30)) { indexes.isLoaded })
            let slow = TestKeys.alice.sign(createdAt: 1_700_000_000, kind: 1, content: "slow")
            let fast = (0..<20).map { TestKeys.bob.sign(createdAt: 1_700_000_010 + Int64($0), kind: 1, content: "f\($0)") }
            let held = OnceValue<Void>(), inserted = OnceValue<Void>()
            let slowDone = Task {
                // Stored outside this replica's own path, in a transaction left open while others commit.
                try await node.host.postgres.withTransaction(logger: node.host.logger) { connection in
                    let id = ByteBuffer(bytes: Array(Data(hexString: slow.id)!)), pubkey = ByteBuffer(bytes: Array(Data(hexString: slow.pubkey)!))
                    try await connection.query(
                        """
                        INSERT INTO negentropy.events (id, pubkey, created_at, kind, tag_keys, json)
                        VALUES (\(id), \(pubkey), \(slow.created_at), 1, '{}', \(String(decoding: slow.json, as: UTF8.self)))
                        """, logger: node.host.logger)
                    try await connection.query(
                        "INSERT INTO negentropy.changes (id, created_at, present) VALUES (\(id), \(slow.created_at), true)",
                        logger: node.host.logger)
                    inserted.set(())
                    await held.value
                }
            }
            // Its number is taken before the others'; they commit and are applied while it is open.
            await inserted.value
            try await publish(fast, to: node)
            // The feed is read past it (the fast ones reached the index at their commit, before the feed).
            #expect(try await eventually(timeout: .seconds(60)) { indexes.counts[0] == 20 && indexes.feedWatermark >= 21 })
            #expect(indexes.feedGapCount == 1)
            held.set(())
            try await slowDone.value
            // However long the transaction stayed open (CI once took longer than the former 30-s gap lifetime).
            #expect(try await eventually(timeout: .seconds(60)) { indexes.counts[0] == 21 }, "\(indexes.counts)")
            #expect(indexes.feedGapCount == 0 && indexes.gapsGivenUpByAge == 0)
            let client = RelayTestClient(url: node.relayURL)
            #expect(try await reconcileFromEmpty(client, filter: [:]) == Set(fast.map(\.id) + [slow.id]))
            await client.close()

            // A replica started now loads what is stored.
            try await withServices([.negentropy(environment: [:], name: "late")], database: database) { late in
                let lateNode = await NegentropyNode(late, name: "late")
                #expect(try await eventually(timeout: .seconds(30)) { lateNode.indexes?.counts.first == 21 })
            }
        }
    }

    @Test("a number taken by an insert that rolls back is given up as soon as its transaction has ended, not after a time")
    func rolledBackGap() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let indexes = try #require(node.indexes)
            #expect(try await eventually(timeout: .seconds(30)) { indexes.isLoaded })
            let doomed = TestKeys.alice.sign(createdAt: 1_700_000_000, kind: 1, content: "rolled back")
            let later = TestKeys.bob.sign(createdAt: 1_700_000_001, kind: 1, content: "committed")
            let inserted = OnceValue<Void>(), seen = OnceValue<Void>()
            struct RollBack: Error {}
            let rollingBack = Task {
                try? await node.host.postgres.withTransaction(logger: node.host.logger) { connection in
                    let id = ByteBuffer(bytes: Array(Data(hexString: doomed.id)!)), pubkey = ByteBuffer(bytes: Array(Data(hexString: doomed.pubkey)!))
                    try await connection.query(
                        """
                        INSERT INTO negentropy.events (id, pubkey, created_at, kind, tag_keys, json)
                        VALUES (\(id), \(pubkey), \(doomed.created_at), 1, '{}', \(String(decoding: doomed.json, as: UTF8.self)))
                        """, logger: node.host.logger)
                    try await connection.query(
                        "INSERT INTO negentropy.changes (id, created_at, present) VALUES (\(id), \(doomed.created_at), true)",
                        logger: node.host.logger)
                    inserted.set(())
                    await seen.value
                    throw RollBack()
                }
            }
            await inserted.value
            try await publish([later], to: node)
            #expect(try await eventually(timeout: .seconds(60)) { indexes.feedGapCount == 1 && indexes.counts[0] == 1 })
            seen.set(())
            await rollingBack.value
            // Let go because its transaction ended (and those running beside it when it was seen: other tests'
            // transactions in the shared PostgreSQL can hold it a while), never by age (it was 30 s).
            #expect(try await eventually(timeout: .seconds(120)) { indexes.feedGapCount == 0 }, "\(indexes.feedGapCount) gaps held")
            #expect(indexes.gapsGivenUpByAge == 0)
            #expect(indexes.counts[0] == 1)
        }
    }
}
