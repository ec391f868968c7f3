import GRPCCore
import WharfProto

extension Agntcy_Dir_Store_V1_StoreService.Client {
    /// Pulls `cids` over as few Pull streams as possible, one answer per CID in order (nil where the store has
    /// no such record). The store ends a Pull stream with NOT_FOUND at the first missing record after
    /// answering every earlier one, so the position of the gap is known: it is recorded as nil and the rest
    /// is asked for in a new stream. Any other failure, or a stream that ends early without one, is thrown.
    public func pullEach(_ cids: [String], options: CallOptions) async throws -> [Agntcy_Dir_Core_V1_Record?] {
        func pullStream(_ batch: ArraySlice<String>) async throws -> (records: [Agntcy_Dir_Core_V1_Record], stoppedAtMissing: Bool) {
            try await pull(
                request: StreamingClientRequest { writer in
                    for cid in batch { try await writer.write(.with { $0.cid = cid }) }
                }, options: options
            ) { response in
                var records: [Agntcy_Dir_Core_V1_Record] = []
                records.reserveCapacity(batch.count)
                do {
                    for try await record in response.messages { records.append(record) }
                    return (records, false)
                } catch let error as RPCError where error.code == .notFound {
                    return (records, true)
                }
            }
        }
        var answers: [Agntcy_Dir_Core_V1_Record?] = []
        answers.reserveCapacity(cids.count)
        while answers.count < cids.count {
            let remaining = cids[(cids.startIndex + answers.count)...]
            let (records, stoppedAtMissing) = try await pullStream(remaining)
            guard stoppedAtMissing ? records.count < remaining.count : records.count == remaining.count else {
                throw RPCError(code: .unavailable, message: "the store answered \(records.count) of \(remaining.count) pulls")
            }
            answers += records.map { Optional($0) }
            if stoppedAtMissing { answers.append(nil) }
        }
        return answers
    }
}
