import Foundation
import GRPCCore
import ServiceContracts
import Synchronization
import Testing
import WharfProto

@Suite("What services ask of each other: optional RPCs, record transfer batches")
struct ServiceContractsTests {
    @Test("an RPC the peer lacks is asked once: after UNIMPLEMENTED the fallback answers; other errors are thrown and asked again")
    func optionalRPC() async throws {
        let rpc = OptionalRPC()
        let preferredCalls = Atomic(0)
        // Another failure is the caller's to see, and does not mark the RPC missing.
        await #expect(throws: RPCError.self) {
            try await rpc.call(
                { () async throws -> String in
                    preferredCalls.add(1, ordering: .relaxed)
                    throw RPCError(code: .unavailable, message: "down")
                }, otherwise: { "fallback" })
        }
        #expect(!rpc.knownMissing)
        for _ in 0..<3 {
            let answer = try await rpc.call(
                { () async throws -> String in
                    preferredCalls.add(1, ordering: .relaxed)
                    throw RPCError(code: .unimplemented, message: "no such method")
                }, otherwise: { "fallback" })
            #expect(answer == "fallback")
        }
        #expect(rpc.knownMissing)
        #expect(preferredCalls.load(ordering: .relaxed) == 2)  // the failure, then one UNIMPLEMENTED
        let fresh = OptionalRPC()
        #expect(try await fresh.call({ "preferred" }, otherwise: { "fallback" }) == "preferred")
    }

    @Test("records are cut into messages by count and bytes, in order; a record over the byte limit goes alone")
    func batches() {
        func record(_ cid: String, json: Int) -> Wharf_Store_V1_TransferredRecord {
            .with {
                $0.cid = cid; $0.canonicalJson = Data(repeating: 0x20, count: json); $0.signature = "sig"
            }
        }
        let records = (0..<10).map { record("c\($0)", json: 95) }  // 100 bytes each with CID and signature
        #expect(records[0].transferBytes == 100)
        let byBytes = Wharf_Store_V1_TransferredRecord.batches(records, maximumBytes: 350)
        #expect(byBytes.map(\.count) == [3, 3, 3, 1])
        #expect(byBytes.flatMap { $0.map(\.cid) } == records.map(\.cid))
        let byCount = Wharf_Store_V1_TransferredRecord.batches(records, maximumBytes: 1 << 20, maximumCount: 4)
        #expect(byCount.map(\.count) == [4, 4, 2])
        let large = [record("a", json: 10)] + [record("big", json: 5_000)] + [record("b", json: 10)]
        #expect(Wharf_Store_V1_TransferredRecord.batches(large, maximumBytes: 1_000).map { $0.map(\.cid) } == [["a"], ["big"], ["b"]])
        #expect(Wharf_Store_V1_TransferredRecord.batches([], maximumBytes: 1_000).isEmpty)
    }
}
