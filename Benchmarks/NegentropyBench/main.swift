import Foundation
import NegentropyProtocol

// In-process negentropy reconciliation figures (scripts/bench-negentropy prints them), in the layout of the
// reference's measurements (spec/negentropy.md §5): N items per side with timestamps uniform over N seconds;
// each item independently differs with probability p (half client-only, half server-only), or exactly
// `k` items differ. Round trips, binary bytes each way and reconcile wall time; build + seal apart.
//
//   NegentropyBench [items] [seed]

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9e37_79b9_7f4a_7c15
        var z = state
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }
}

enum Difference {
    case probability(Double)
    case exactly(Int)
}

func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
}

/// Where the responder's set lives: the sorted array a session reads from PostgreSQL, or a snapshot of the
/// relay's resident index.
enum ResponderStorage: String {
    case sortedArray = "array"
    case residentIndex = "index"
}

func run(items count: Int, difference: Difference, clientLimit: Int, serverLimit: Int, seed: UInt64, responder storage: ResponderStorage) throws {
    var generator = SplitMix(state: seed)
    var client: [NegentropyItem] = [], server: [NegentropyItem] = []
    client.reserveCapacity(count)
    server.reserveCapacity(count)
    var expectedHave = Set<EventID>(), expectedNeed = Set<EventID>()
    var exactly: Set<Int> = []
    // Draws made as plain SplitMix64 outputs (modulo, one bit) so that the C++ reference's harness
    // (Benchmarks/NegentropyReference) builds exactly the same sets from the same seed.
    if case .exactly(let k) = difference { while exactly.count < k { exactly.insert(Int(generator.next() % UInt64(count))) } }
    for index in 0..<count {
        let id = EventID(bytes: (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })!
        let item = NegentropyItem(timestamp: 1_700_000_000 + generator.next() % UInt64(count), id: id)
        let differs: Bool
        switch difference {
        case .probability(let p): differs = generator.next() % 1_000_000 < UInt64(p * 1_000_000)
        case .exactly: differs = exactly.contains(index)
        }
        if !differs {
            client.append(item)
            server.append(item)
        } else if generator.next() & 1 == 1 {
            client.append(item)
            expectedHave.insert(id)
        } else {
            server.append(item)
            expectedNeed.insert(id)
        }
    }
    let clock = ContinuousClock()
    let buildStart = clock.now
    let initiator = try Negentropy(storage: try SortedItems(client), frameSizeLimit: clientLimit)
    let sortedServer = try SortedItems(server)
    let built = clock.now - buildStart
    switch storage {
    case .sortedArray:
        try reconcile(initiator, try Negentropy(storage: sortedServer, frameSizeLimit: serverLimit))
    case .residentIndex:
        try reconcile(initiator, try Negentropy(storage: try ItemIndex(sorted: sortedServer.items).snapshot, frameSizeLimit: serverLimit))
    }

    func reconcile<Storage: NegentropyStorage>(_ initiator: Negentropy<SortedItems>, _ responder: Negentropy<Storage>) throws {
        let start = clock.now
        var have = Set<EventID>(), need = Set<EventID>()
        var message: [UInt8]? = initiator.initiate()
        var rounds = 0, up = 0, down = 0
        while let query = message {
            rounds += 1
            up += query.count
            let reply = try responder.reconcileAsResponder(query).reply
            down += reply.count
            let step = try initiator.reconcileAsInitiator(reply)
            have.formUnion(step.have)
            need.formUnion(step.need)
            message = step.next
        }
        let wall = clock.now - start
        let label: String
        switch difference {
        case .probability(let p): label = String(format: "%g%%", p * 100)
        case .exactly(let k): label = "\(k) records"
        }
        let exact = have == expectedHave && need == expectedNeed
        print(
            String(
                format:
                    "%9d items, diff %-10@ frames %7d/%-7d responder %-5@: %4d round trips, up %10d B, down %10d B, total %10d B, reconcile %8.4f s, build+seal %.2f s, %@",
                count, label as NSString, clientLimit, serverLimit, storage.rawValue as NSString, rounds, up, down, up + down, seconds(wall),
                seconds(built),
                (exact
                    ? "exact (have \(have.count), need \(need.count))"
                    : "WRONG: have \(have.count)/\(expectedHave.count), need \(need.count)/\(expectedNeed.count)") as NSString))
        if !exact { exit(1) }
    }
}

/// Resident memory of this process, in bytes (/proc/self/statm). Read before anything else ran: later, freed
/// memory the allocator kept would hide what a new structure takes.
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
    let fields = text.split(separator: " ")
    return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
}

/// The resident index of `count` items: memory, load time, changes applied one at a time and in batches.
func indexFigures(items count: Int, seed: UInt64) throws {
    var generator = SplitMix(state: seed &+ 99)
    func randomItem(spread: UInt64) -> NegentropyItem {
        let id = EventID(bytes: (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })!
        return NegentropyItem(timestamp: 1_700_000_000 + UInt64.random(in: 0..<spread, using: &generator), id: id)
    }
    let before = residentBytes()
    var sorted = (0..<count).map { _ in randomItem(spread: UInt64(count)) }
    sorted.sort()
    let clock = ContinuousClock()
    let loadStart = clock.now
    var index = try ItemIndex(sorted: sorted)
    let loaded = clock.now - loadStart
    sorted = []  // only the index stays
    let held = residentBytes() - before
    // New events: the newest timestamps (as a relay receives them), one at a time, then in batches of 1,000.
    let singles = (0..<10_000).map { _ in randomItem(spread: 1) }.map { NegentropyItem(timestamp: 1_800_000_000, id: $0.id) }
    let singleStart = clock.now
    for item in singles {
        index.insert(item)
        _ = index.snapshot
    }
    let single = clock.now - singleStart
    let batches = (0..<100).map { _ in (0..<1_000).map { _ in randomItem(spread: UInt64(count)) } }
    let batchStart = clock.now
    for batch in batches {
        index.apply(inserting: batch, removing: [])
        _ = index.snapshot
    }
    let batched = clock.now - batchStart
    print(
        String(
            format:
                "resident index of %d items: %.1f MB resident (%.1f bytes an item), loaded in %.3f s; a single insert + snapshot %.1f µs; a batch of 1,000 random inserts + snapshot %.2f ms",
            count, Double(held) / 1e6, Double(held) / Double(count), seconds(loaded), seconds(single) / 10_000 * 1e6,
            seconds(batched) / 100 * 1e3))
}

let arguments = CommandLine.arguments
let items = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let seed = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1
try indexFigures(items: items, seed: seed)  // first: its memory is read from the process's resident size
for storage in [ResponderStorage.sortedArray, .residentIndex] {
    try run(items: items, difference: .exactly(2), clientLimit: 60_000, serverLimit: 500_000, seed: seed, responder: storage)
    try run(items: items, difference: .probability(0.01), clientLimit: 60_000, serverLimit: 500_000, seed: seed, responder: storage)
    try run(items: items, difference: .probability(0.01), clientLimit: 0, serverLimit: 0, seed: seed, responder: storage)
    try run(items: items, difference: .probability(0.001), clientLimit: 60_000, serverLimit: 500_000, seed: seed, responder: storage)
    try run(items: items / 10, difference: .probability(0.01), clientLimit: 60_000, serverLimit: 500_000, seed: seed, responder: storage)
}
