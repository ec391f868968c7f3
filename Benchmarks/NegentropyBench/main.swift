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

func run(items count: Int, difference: Difference, clientLimit: Int, serverLimit: Int, seed: UInt64) throws {
    var generator = SplitMix(state: seed)
    var client: [NegentropyItem] = [], server: [NegentropyItem] = []
    client.reserveCapacity(count)
    server.reserveCapacity(count)
    var expectedHave = Set<EventID>(), expectedNeed = Set<EventID>()
    var exactly: Set<Int> = []
    if case .exactly(let k) = difference { while exactly.count < k { exactly.insert(Int.random(in: 0..<count, using: &generator)) } }
    for index in 0..<count {
        let id = EventID(bytes: (0..<4).flatMap { _ in withUnsafeBytes(of: generator.next()) { Array($0) } })!
        let item = NegentropyItem(timestamp: 1_700_000_000 + UInt64.random(in: 0..<UInt64(count), using: &generator), id: id)
        let differs: Bool
        switch difference {
        case .probability(let p): differs = Double.random(in: 0..<1, using: &generator) < p
        case .exactly: differs = exactly.contains(index)
        }
        if !differs {
            client.append(item)
            server.append(item)
        } else if Bool.random(using: &generator) {
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
    let responder = try Negentropy(storage: try SortedItems(server), frameSizeLimit: serverLimit)
    let built = clock.now - buildStart

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
                "%9d items, diff %-10@ frames %7d/%-7d: %4d round trips, up %10d B, down %10d B, total %10d B, reconcile %8.3f s, build+seal %.2f s, %@",
            count, label as NSString, clientLimit, serverLimit, rounds, up, down, up + down, seconds(wall), seconds(built),
            (exact
                ? "exact (have \(have.count), need \(need.count))"
                : "WRONG: have \(have.count)/\(expectedHave.count), need \(need.count)/\(expectedNeed.count)") as NSString))
    if !exact { exit(1) }
}

let arguments = CommandLine.arguments
let items = arguments.count > 1 ? Int(arguments[1]) ?? 1_000_000 : 1_000_000
let seed = arguments.count > 2 ? UInt64(arguments[2]) ?? 1 : 1
try run(items: items, difference: .exactly(2), clientLimit: 60_000, serverLimit: 500_000, seed: seed)
try run(items: items, difference: .probability(0.01), clientLimit: 60_000, serverLimit: 500_000, seed: seed)
try run(items: items, difference: .probability(0.01), clientLimit: 0, serverLimit: 0, seed: seed)
try run(items: items, difference: .probability(0.001), clientLimit: 60_000, serverLimit: 500_000, seed: seed)
try run(items: items / 10, difference: .probability(0.01), clientLimit: 60_000, serverLimit: 500_000, seed: seed)
