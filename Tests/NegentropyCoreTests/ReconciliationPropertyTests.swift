import NegentropyProtocol
import Testing
import WharfTestSupport

/// Two parties over random sets always find exactly the symmetric difference, whatever the sizes, overlap,
/// timestamp clustering and frame limits.
@Suite("Negentropy reconciliation of random sets")
struct ReconciliationPropertyTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var seed: UInt64
        var size: Int
        var clientOnly: Double
        var serverOnly: Double
        var clientLimit: Int
        var serverLimit: Int
        var timestampSpread: UInt64
        var testDescription: String {
            "seed \(seed): \(size) items, client-only \(clientOnly), server-only \(serverOnly), frames \(clientLimit)/\(serverLimit), spread \(timestampSpread)"
        }
    }

    static let cases: [Case] = [
        Case(seed: 1, size: 0, clientOnly: 0, serverOnly: 0, clientLimit: 0, serverLimit: 0, timestampSpread: 1),
        Case(seed: 2, size: 1, clientOnly: 1, serverOnly: 0, clientLimit: 0, serverLimit: 0, timestampSpread: 1),
        Case(seed: 3, size: 31, clientOnly: 0.1, serverOnly: 0.1, clientLimit: 0, serverLimit: 0, timestampSpread: 5),
        Case(seed: 4, size: 1_000, clientOnly: 0.5, serverOnly: 0.5, clientLimit: 4096, serverLimit: 4096, timestampSpread: 100),
        Case(seed: 5, size: 5_000, clientOnly: 1, serverOnly: 0, clientLimit: 0, serverLimit: 4096, timestampSpread: 1_000_000),
        Case(seed: 6, size: 5_000, clientOnly: 0, serverOnly: 1, clientLimit: 4096, serverLimit: 0, timestampSpread: 3),
        Case(seed: 7, size: 20_000, clientOnly: 0.01, serverOnly: 0.01, clientLimit: 60_000, serverLimit: 500_000, timestampSpread: 20_000),
        Case(seed: 8, size: 20_000, clientOnly: 0.3, serverOnly: 0.05, clientLimit: 4096, serverLimit: 8192, timestampSpread: 50),
        Case(seed: 9, size: 100_000, clientOnly: 0.01, serverOnly: 0.01, clientLimit: 60_000, serverLimit: 500_000, timestampSpread: 100_000),
        Case(seed: 10, size: 100_000, clientOnly: 0.001, serverOnly: 0, clientLimit: 0, serverLimit: 0, timestampSpread: 1_000_000),
        Case(seed: 11, size: 100_000, clientOnly: 0.2, serverOnly: 0.2, clientLimit: 500_000, serverLimit: 60_000, timestampSpread: 10),
    ]

    @Test("the symmetric difference, exactly", arguments: cases)
    func reconcile(_ testCase: Case) throws {
        var generator = SeededGenerator(seed: testCase.seed)
        var client: [NegentropyItem] = [], server: [NegentropyItem] = []
        var expectedHave = Set<EventID>(), expectedNeed = Set<EventID>()
        for _ in 0..<testCase.size {
            let id = EventID(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
            let item = NegentropyItem(timestamp: 1_700_000_000 + UInt64.random(in: 0..<testCase.timestampSpread, using: &generator), id: id)
            let draw = Double.random(in: 0..<1, using: &generator)
            if draw < testCase.clientOnly {
                client.append(item)
                expectedHave.insert(id)
            } else if draw < testCase.clientOnly + testCase.serverOnly {
                server.append(item)
                expectedNeed.insert(id)
            } else {
                client.append(item)
                server.append(item)
            }
        }
        let initiator = try Negentropy(storage: try SortedItems(client), frameSizeLimit: testCase.clientLimit)
        let responder = try Negentropy(storage: try SortedItems(server), frameSizeLimit: testCase.serverLimit)
        var have = Set<EventID>(), need = Set<EventID>()
        var message: [UInt8]? = initiator.initiate()
        var rounds = 0
        while let query = message {
            rounds += 1
            try #require(rounds <= 20_000, "reconciliation does not terminate")
            if testCase.clientLimit > 0 { #expect(query.count <= testCase.clientLimit) }
            // A responder that does not work out the differences (the relay's) answers byte for byte the same.
            let withDifferences = try responder.reconcileAsResponder(query)
            let bare = try responder.reconcileAsResponder(query, differences: false)
            #expect(bare.reply == withDifferences.reply)
            #expect(bare.have.isEmpty && bare.need.isEmpty)
            let reply = bare.reply
            if testCase.serverLimit > 0 { #expect(reply.count <= testCase.serverLimit) }
            let step = try initiator.reconcileAsInitiator(reply)
            have.formUnion(step.have)
            need.formUnion(step.need)
            message = step.next
        }
        #expect(have == expectedHave)
        #expect(need == expectedNeed)
    }
}
