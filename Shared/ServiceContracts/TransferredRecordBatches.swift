import WharfProto

extension Wharf_Store_V1_TransferredRecord {
    /// The bytes a record adds to an ExportRecords or ImportRecords message, as both ends count them: its JSON,
    /// signature, payload, public key and CID (protobuf framing aside, which the message limits leave room for).
    public var transferBytes: Int {
        canonicalJson.count + signature.utf8.count + signaturePayload.utf8.count + publicKey.utf8.count + cid.utf8.count
    }

    /// `records` in order, cut into messages of at most `maximumCount` records and about `maximumBytes`
    /// (`transferBytes`); a record larger than `maximumBytes` goes alone.
    public static func batches(_ records: [Self], maximumBytes: Int, maximumCount: Int = .max) -> [[Self]] {
        var batches: [[Self]] = []
        var current: [Self] = []
        var currentBytes = 0
        for record in records {
            let size = record.transferBytes
            if !current.isEmpty, current.count >= maximumCount || currentBytes > maximumBytes - size {
                batches.append(current)
                current = []
                currentBytes = 0
            }
            current.append(record)
            currentBytes += size
        }
        if !current.isEmpty { batches.append(current) }
        return batches
    }
}
