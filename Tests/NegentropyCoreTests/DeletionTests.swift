import Foundation
import NegentropyProtocol
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

/// NIP-09 deletions on one relay and across peer syncs between separate systems.
@Suite("Deletions (NIP-09): applied, remembered, propagated by sync, never fetched again")
struct DeletionTests {
    /// Runs SyncWithPeer on `node` against `peer`; returns the last progress message.
    static func sync(_ node: NegentropyNode, with peer: NegentropyNode) async throws -> Orlysync_Negentropy_V1_SyncProgress {
        try await withNegentropyClient(port: node.grpcPort) { client in
            let progress = try await client.syncWithPeer(.with { $0.peerURL = peer.relayURL }) { response in
                try await response.messages.reduce(into: [Orlysync_Negentropy_V1_SyncProgress]()) { $0.append($1) }
            }
            return try #require(progress.last)
        }
    }

    @Test("a deletion removes only its author's events; they are refused after; a sync carries the deletion and skips what it deleted")
    func deletionsAcrossSyncs() async throws {
        try await withServices([.negentropy]) { aServices in
            let a = await NegentropyNode(aServices)
            try await withServices([.negentropy]) { bServices in
                let b = await NegentropyNode(bServices)
                try await withServices([.negentropy]) { cServices in
                    let c = await NegentropyNode(cServices)
                    let notes = (0..<30).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0), kind: 1, content: "n\($0)") }
                    let article = TestKeys.alice.sign(createdAt: 1_700_000_000, kind: 30023, tags: [["d", "post"]], content: "v1")
                    for node in [a, b, c] { try await publish(notes + [article], to: node) }

                    // Alice deletes ten notes and her article's address; Bob's deletion of her note does nothing.
                    let deletion = TestKeys.alice.sign(
                        createdAt: 1_700_000_100, kind: 5,
                        tags: notes[0..<10].map { ["e", $0.id] } + [["a", "30023:\(TestKeys.alice.publicKeyHex):post"]], content: "")
                    let forged = TestKeys.bob.sign(createdAt: 1_700_000_100, kind: 5, tags: [["e", notes[10].id]], content: "")
                    try await publish([deletion, forged], to: a)
                    let kept = Set(notes[10...].map(\.id) + [deletion.id, forged.id])
                    #expect(try await storedIDs(a) == kept)

                    // What was deleted is refused from now on; others' events, and older versions at the address too.
                    let client = RelayTestClient(url: a.relayURL)
                    try client.send(["EVENT", notes[0].jsonObject])
                    let refused = try await client.receive()
                    #expect(refused[2] as? Bool == false && refused[3] as? String == EventStore.SaveOutcome.deletedMessage, "\(refused)")
                    let older = TestKeys.alice.sign(createdAt: 1_700_000_050, kind: 30023, tags: [["d", "post"]], content: "v0")
                    try client.send(["EVENT", older.jsonObject])
                    #expect(try await client.receive()[2] as? Bool == false)
                    let newer = TestKeys.alice.sign(createdAt: 1_700_000_200, kind: 30023, tags: [["d", "post"]], content: "v2")
                    try client.send(["EVENT", newer.jsonObject])
                    #expect(try await client.receive()[2] as? Bool == true)
                    await client.close()
                    let onA = kept.union([newer.id])
                    #expect(try await storedIDs(a) == onA)

                    // B syncs from A: it fetches the deletions (applying them) and uploads nothing it deleted.
                    let fromA = try await Self.sync(b, with: a)
                    #expect(fromA.complete && fromA.error == "", "\(fromA)")
                    #expect(try await storedIDs(b) == onA)
                    #expect(try await storedIDs(a) == onA)

                    // A syncs with C, which never saw the deletion: A needs C's ten deleted notes and its old
                    // article, and asks for none of them (A confirmed those tombstones); C gets the deletions.
                    let settings = NegentropySettings(
                        reader: EnvironmentReader(environment: ["WHARF_NEGENTROPY_ALLOWED_PEERS": TestCredentials.loopbackAndPublic]))
                    let sync = PeerSync(
                        store: EventStore(client: a.host.postgres, logger: a.host.logger), indexes: a.indexes, live: nil,
                        settings: settings.peerSync, logger: a.host.logger)
                    let withC = try await sync.run(peerURL: c.relayURL, filter: NostrFilter())
                    #expect(withC.need == 11 && withC.skippedDeleted == 11 && withC.received == 0 && withC.fetched == 0, "\(withC)")
                    #expect(withC.have == 3 && withC.sent == 3, "\(withC)")
                    #expect(try await storedIDs(c) == onA)
                    #expect(try await storedIDs(a) == onA)
                    // Nothing left to do either way.
                    let again = try await Self.sync(c, with: a)
                    #expect(again.haveCount == 0 && again.needCount == 0, "\(again)")
                }
            }
        }
    }
}
