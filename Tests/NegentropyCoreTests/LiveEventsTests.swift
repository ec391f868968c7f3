import Testing

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
