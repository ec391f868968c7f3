import Foundation
import GRPCCore
import NegentropyProtocol
import RecordIdentity
import WharfProto

extension StoreRecordSource {
    /// Negentropy messages a comparison may exchange before it is given up (the store allows 10,000 rounds;
    /// a set of millions needs a few dozen).
    static let maximumComparisonRounds = 1_000

    /// Which of `published` the store no longer holds, found through the store's reconciliation RPC
    /// (`wharf.store.v1.RecordReconciliation/Reconcile`, the store as responder) rather than its tables: the
    /// bytes exchanged follow the difference, not the size of the sets.
    public func cidsMissing(from published: [String]) async throws(Failure) -> [String] {
        var collected: [EventID: String] = [:]
        for cid in published {
            guard let digest = RecordCID.digest(of: cid), let id = EventID(bytes: digest) else { continue }
            collected[id] = cid
        }
        let byID = collected
        guard !byID.isEmpty else { return [] }
        do {
            let negentropy = try Negentropy(
                storage: try SortedItems(byID.keys.map { NegentropyItem(timestamp: 0, id: $0) }),
                frameSizeLimit: 512 * 1024, buckets: Negentropy<SortedItems>.fewestBytesBuckets)
            let (replies, repliesInput) = AsyncStream.makeStream(of: Data.self)
            let missing = try await Wharf_Store_V1_RecordReconciliation.Client(wrapping: client).reconcile(
                request: StreamingClientRequest { writer in
                    // Each reply arrives before the next message is written: the exchange is one round at a time.
                    try await writer.write(.with { $0.negentropy = Data(negentropy.initiate()) })
                    var rounds = 1
                    for await reply in replies {
                        rounds += 1
                        guard rounds <= Self.maximumComparisonRounds else {
                            throw RPCError(
                                code: .aborted, message: "the comparison with the store took more than \(Self.maximumComparisonRounds) rounds")
                        }
                        try await writer.write(.with { $0.negentropy = reply })
                    }
                }, options: Self.callOptions
            ) { response in
                defer { repliesInput.finish() }
                var missing: [String] = []
                for try await message in response.messages {
                    let step = try negentropy.reconcileAsInitiator(Array(message.negentropy))
                    missing += step.have.compactMap { byID[$0] }
                    guard let next = step.next else { return missing }
                    repliesInput.yield(Data(next))
                }
                throw RPCError(code: .unavailable, message: "the store ended the comparison before it was complete")
            }
            return missing
        } catch {
            throw .unavailable("\(error)")
        }
    }
}
