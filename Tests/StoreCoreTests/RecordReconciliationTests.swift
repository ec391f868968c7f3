import Foundation
import GRPCCore
import NegentropyProtocol
import RecordIdentity
import Testing
import WharfProto
import WharfTestSupport

@Suite("The store's record reconciliation (negentropy over its CID set)")
struct RecordReconciliationTests {
    /// A client holding `cids` reconciles with the store as responder; what only the client has, and what
    /// only the store has.
    static func differences(_ client: GRPCClient<some ClientTransport>, holding cids: [String]) async throws -> (
        clientOnly: Set<String>, storeOnly: Set<EventID>
    ) {
        var collected: [EventID: String] = [:]
        for cid in cids { if let id = RecordCID.digest(of: cid).flatMap({ EventID(bytes: $0) }) { collected[id] = cid } }
        let byID = collected
        let negentropy = try Negentropy(storage: try SortedItems(byID.keys.map { NegentropyItem(timestamp: 0, id: $0) }))
        let (replies, repliesInput) = AsyncStream.makeStream(of: Data.self)
        return try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: client).reconcile(
            request: StreamingClientRequest { writer in
                try await writer.write(.with { $0.negentropy = Data(negentropy.initiate()) })
                for await reply in replies { try await writer.write(.with { $0.negentropy = reply }) }
            }
        ) { response in
            defer { repliesInput.finish() }
            var clientOnly = Set<String>(), storeOnly = Set<EventID>()
            for try await message in response.messages {
                let step = try negentropy.reconcileAsInitiator(Array(message.negentropy))
                clientOnly.formUnion(step.have.compactMap { byID[$0] })
                storeOnly.formUnion(step.need)
                guard let next = step.next else { return (clientOnly, storeOnly) }
                repliesInput.yield(Data(next))
            }
            throw RPCError(code: .unavailable, message: "the store ended the reconciliation early")
        }
    }

    @Test("pushes and deletes between two reconciliations are seen by the second (the resident set follows the changes)")
    func followsChanges() async throws {
        try await withServices([.store]) { services in
            let port = services.port("store")
            try await withTestClient(port: port) { client in
                let run = UUID().uuidString.prefix(8)
                let first = try await client.pushRecords((0..<50).map { labelledRecord("reconcile-\(run)-\($0)", skills: ["s"], locators: []) })
                let initial = try await Self.differences(client, holding: first)
                #expect(initial.clientOnly.isEmpty && initial.storeOnly.isEmpty)

                try await client.deleteRecords(Array(first[0..<5]))
                let added = try await client.pushRecords((50..<55).map { labelledRecord("reconcile-\(run)-\($0)", skills: ["s"], locators: []) })
                let after = try await Self.differences(client, holding: first)
                #expect(after.clientOnly == Set(first[0..<5]))
                #expect(after.storeOnly == Set(added.compactMap { RecordCID.digest(of: $0).flatMap { EventID(bytes: $0) } }))
                // Again, with the same set: the same answer (nothing replayed twice, nothing lost).
                let again = try await Self.differences(client, holding: first)
                #expect(again.clientOnly == after.clientOnly && again.storeOnly == after.storeOnly)
            }
        }
    }
}
