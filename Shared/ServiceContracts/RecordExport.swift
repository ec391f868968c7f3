import GRPCCore
import WharfProto

public enum RecordExportLimits {
    /// CIDs per ExportRecords request (the store's maximum).
    public static let exportBatch = 1_000

    /// A record's canonical JSON can be larger than the 4 MiB gRPC default even when its protobuf form is
    /// within Push's limit (JSON escapes `<` as six bytes): an export answer may be up to this size.
    public static let largestExportMessage = 32 * 1024 * 1024
}

extension Wharf_Store_V1_RecordTransfer.Client {
    /// ExportRecords of `cids` (in requests of at most `exportBatch`): one record per CID, in order, `found`
    /// false where the store has none. A store that answers out of order or short is UNAVAILABLE; a store
    /// that is not Wharf answers UNIMPLEMENTED.
    public func exportEach(_ cids: [String], referrers: Bool, options: CallOptions) async throws -> [Wharf_Store_V1_TransferredRecord] {
        var options = options
        options.maxResponseMessageBytes = RecordExportLimits.largestExportMessage
        options.maxRequestMessageBytes = RecordExportLimits.largestExportMessage
        var records: [Wharf_Store_V1_TransferredRecord] = []
        records.reserveCapacity(cids.count)
        for start in stride(from: 0, to: cids.count, by: RecordExportLimits.exportBatch) {
            let batch = Array(cids[start..<min(start + RecordExportLimits.exportBatch, cids.count)])
            let answered = try await exportRecords(
                .with {
                    $0.cids = batch
                    $0.referrers = referrers
                }, options: options
            ) { response in
                try await response.messages.reduce(into: [Wharf_Store_V1_TransferredRecord]()) { $0 += $1.records }
            }
            guard answered.count == batch.count, zip(answered, batch).allSatisfy({ $0.cid == $1 }) else {
                throw RPCError(code: .unavailable, message: "the store answered \(answered.count) of \(batch.count) exports, or out of order")
            }
            records += answered
        }
        return records
    }
}
