import Foundation
import Testing
import WharfTestSupport

@testable import NegentropyCore

@Suite("Live fan-out: only connections with a subscription open are handed events")
struct LiveEventsTests {
    @Test("a connection without subscriptions gets nothing queued; it does once a REQ is open, and not after its CLOSE")
    func onlyListeners() throws {
        let live = LiveEvents()
        let publisherSubscriptions = RelaySubscriptions(limits: RelayContext.Limits())
        let readerSubscriptions = RelaySubscriptions(limits: RelayContext.Limits())
        let (publisherID, publisherQueue) = live.subscribe(maximumBytes: 1 << 20, interest: publisherSubscriptions.interest) {}
        let (readerID, readerQueue) = live.subscribe(maximumBytes: 1 << 20, interest: readerSubscriptions.interest) {}
        defer {
            live.unsubscribe(publisherID)
            live.unsubscribe(readerID)
        }
        guard case .opened = readerSubscriptions.open("live", filters: [NostrFilter(kinds: [1])]) else {
            Issue.record("the REQ was refused")
            return
        }
        let note = TestKeys.alice.sign(createdAt: 1_700_000_000, kind: 1, content: "hello")
        live.deliver(note)
        #expect(publisherQueue.waitingBytes == 0)
        #expect(readerQueue.waitingBytes > 0)
        let queued = readerQueue.waitingBytes
        readerSubscriptions.close("live")
        live.deliver(note)
        #expect(readerQueue.waitingBytes == queued)
    }
}

/// A `LoadTests` suite: it runs in the robustness phase of `scripts/wharf test` (a burst signed and verified by a
/// debug build takes the cores for a while).
@Suite("Live events across replicas")
struct CrossReplicaLiveLoadTests {
    @Test("a subscriber on one replica receives, live, every event another replica accepts in a pipelined burst")
    func burstReachesOtherReplica() async throws {
        let postgres = try await TestPostgres.shared()
        let database = try await postgres.createDatabase()
        try await withServices([.negentropy, .negentropy(environment: [:], name: "replica")], database: database) { services in
            let first = await NegentropyNode(services)
            let second = await NegentropyNode(services, name: "replica")
            let subscriber = RelayTestClient(url: second.relayURL)
            try subscriber.send(["REQ", "live", ["kinds": [1], "since": 1_700_000_000]])
            #expect(try await subscriber.receive()[0] as? String == "EOSE")
            let events = (0..<300).map { TestKeys.alice.sign(createdAt: 1_700_000_000 + Int64($0), kind: 1, content: "burst \($0)") }
            let publisher = RelayTestClient(url: first.relayURL)
            for event in events { try publisher.send(["EVENT", event.jsonObject]) }
            var received: [String] = []
            while received.count < events.count {
                let frame = try await subscriber.receive(timeout: .seconds(20))
                guard frame[0] as? String == "EVENT", let object = frame[2] as? [String: Any], let id = object["id"] as? String else { continue }
                received.append(id)
            }
            #expect(Set(received) == Set(events.map(\.id)))
            #expect(received.count == events.count)
            await publisher.close()
            await subscriber.close()
        }
    }
}
