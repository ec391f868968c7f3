import NegentropyProtocol
import Testing
import WharfTestSupport

/// The resident index against the sorted-array storage it replaces: the same items after any sequence of
/// changes, the same fingerprint for every range, byte-identical protocol messages, snapshots that never change.
@Suite("Negentropy resident index")
struct ItemIndexTests {
    static func randomItem(_ generator: inout SeededGenerator, spread: UInt64) -> NegentropyItem {
        let id = EventID(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
        return NegentropyItem(timestamp: 1_700_000_000 + UInt64.random(in: 0..<spread, using: &generator), id: id)
    }

    @Test("random batches of inserts and removals leave the same set as a reference; every snapshot keeps its own", arguments: [1, 2, 3] as [UInt64])
    func changes(seed: UInt64) throws {
        var generator = SeededGenerator(seed: seed)
        var reference = Set<NegentropyItem>()
        var index = ItemIndex()
        var kept: [(ItemIndexSnapshot, [NegentropyItem])] = []
        for round in 0..<60 {
            var inserting: [NegentropyItem] = [], removing: [NegentropyItem] = []
            for _ in 0..<Int.random(in: 0...400, using: &generator) {
                inserting.append(Self.randomItem(&generator, spread: round % 2 == 0 ? 50 : 1_000_000))
            }
            // Re-inserting held items, an item twice in one batch, removing held and absent ones.
            inserting += reference.prefix(Int.random(in: 0...5, using: &generator))
            if let repeated = inserting.first { inserting.append(repeated) }
            removing += reference.shuffled(using: &generator).prefix(Int.random(in: 0...300, using: &generator))
            removing.append(Self.randomItem(&generator, spread: 10))
            let before = reference.count
            reference.formUnion(inserting)
            reference.subtract(removing)
            let change = index.apply(inserting: inserting, removing: removing)
            #expect(change == reference.count - before)
            #expect(index.count == reference.count)
            if round % 10 == 0 { kept.append((index.snapshot, reference.sorted())) }
        }
        let sorted = reference.sorted()
        #expect(index.snapshot.items == sorted)
        for (snapshot, items) in kept { #expect(snapshot.items == items, "a snapshot changed after it was taken") }
        for item in sorted.prefix(50) { #expect(index.contains(item)) }
        #expect(!index.contains(Self.randomItem(&generator, spread: 10)))
        // Removing everything leaves an empty, usable index.
        index.apply(inserting: [], removing: sorted)
        #expect(index.count == 0 && index.snapshot.items.isEmpty)
        #expect(index.insert(sorted[0]) && !index.insert(sorted[0]) && index.count == 1)
        #expect(index.remove(sorted[0]) && !index.remove(sorted[0]) && index.count == 0)
    }

    @Test("every range's fingerprint equals the sorted array's, windows included")
    func fingerprints() throws {
        var generator = SeededGenerator(seed: 7)
        let items = (0..<20_000).map { _ in Self.randomItem(&generator, spread: 5_000) }
        let sorted = Array(Set(items)).sorted()
        var index = try ItemIndex(sorted: Array(sorted.prefix(10_000)))
        index.apply(inserting: Array(sorted.dropFirst(10_000)), removing: [])
        let snapshot = index.snapshot
        let reference = try SortedItems(sorted: sorted)
        #expect(snapshot.count == reference.count)
        for _ in 0..<2_000 {
            let a = Int.random(in: 0...sorted.count, using: &generator), b = Int.random(in: 0...sorted.count, using: &generator)
            let range = min(a, b)..<max(a, b)
            #expect(snapshot.fingerprint(of: range) == reference.fingerprint(of: range))
        }
        #expect(snapshot.fingerprint(of: 0..<sorted.count) == Fingerprint.of(sorted.map(\.id)))
        // A time window, and its newest 100.
        let since = sorted[3_000].timestamp, until = sorted[12_000].timestamp
        let inWindow = sorted.filter { $0.timestamp >= since && $0.timestamp <= until }
        let window = snapshot.window(since: since, until: until)
        #expect(window.items == inWindow)
        #expect(window.fingerprint(of: 0..<window.count) == Fingerprint.of(inWindow.map(\.id)))
        #expect(snapshot.window(since: since, until: until, limit: 100).items == Array(inWindow.suffix(100)))
        #expect(snapshot.window(since: .max - 1).count == 0)
        #expect(snapshot.window(until: 0).count == 0)
        #expect(ItemIndex().snapshot.fingerprint(of: 0..<0) == Fingerprint.of([]))
    }

    @Test("reconciling against a snapshot sends the same bytes as against the sorted array, and finds the differences")
    func reconciliation() throws {
        var generator = SeededGenerator(seed: 11)
        var server: [NegentropyItem] = [], client: [NegentropyItem] = []
        var expectedNeed = Set<EventID>(), expectedHave = Set<EventID>()
        for _ in 0..<50_000 {
            let item = Self.randomItem(&generator, spread: 50_000)
            switch Int.random(in: 0..<100, using: &generator) {
            case 0: server.append(item); expectedNeed.insert(item.id)
            case 1: client.append(item); expectedHave.insert(item.id)
            default: server.append(item); client.append(item)
            }
        }
        var index = ItemIndex()
        for chunk in stride(from: 0, to: server.count, by: 4_096) {
            index.apply(inserting: Array(server[chunk..<min(chunk + 4_096, server.count)]), removing: [])
        }
        let fromIndex = try Negentropy(storage: index.snapshot, frameSizeLimit: 60_000)
        let fromArray = try Negentropy(storage: try SortedItems(server), frameSizeLimit: 60_000)
        let initiator = try Negentropy(storage: try SortedItems(client), frameSizeLimit: 60_000)
        var message: [UInt8]? = initiator.initiate()
        var have = Set<EventID>(), need = Set<EventID>()
        var rounds = 0
        while let query = message {
            rounds += 1
            try #require(rounds < 100)
            let reply = try fromIndex.reconcileAsResponder(query).reply
            #expect(reply == (try fromArray.reconcileAsResponder(query).reply))
            let step = try initiator.reconcileAsInitiator(reply)
            have.formUnion(step.have)
            need.formUnion(step.need)
            message = step.next
        }
        #expect(have == expectedHave)
        #expect(need == expectedNeed)
    }

    @Test("a set loaded out of order or with a repeated item is refused")
    func refusesBadInput() throws {
        var generator = SeededGenerator(seed: 5)
        let a = Self.randomItem(&generator, spread: 10), b = Self.randomItem(&generator, spread: 10)
        #expect(throws: NegentropyError.self) { try ItemIndex(sorted: [a, a]) }
        #expect(throws: NegentropyError.self) { try ItemIndex(sorted: [max(a, b), min(a, b)]) }
    }
}
