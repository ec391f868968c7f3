import BLAKE3
import GRPCCore

/// What can go wrong in a blob RPC, mapped to one gRPC status in one place.
enum BlobServiceError: Error {
    case invalidDigestLength
    case notFound(BlobDigest)
    case tooLarge(limit: Int64)
    case dataLoss(String)
    /// The client's stream failed or was cancelled: nothing was stored, and nobody waits for a status.
    case clientGone(RPCError)
    case storage(any Error)

    /// The status a client sees; `flavor` picks the digest text form of tvix ("b3:…") or snix ("blake3-…").
    func rpcError(flavor: BlobServiceFlavor) -> RPCError {
        switch self {
        case .invalidDigestLength:
            return RPCError(code: .invalidArgument, message: "invalid digest length")
        case .notFound(let digest):
            let text = flavor == .tvix ? digest.tvixText : digest.snixText
            return RPCError(code: .notFound, message: "blob \(text) not found")
        case .tooLarge(let limit):
            return RPCError(code: .resourceExhausted, message: "blob exceeds the maximum size of \(limit) bytes (WHARF_BLOB_MAX_BYTES)")
        case .dataLoss(let message):
            return RPCError(code: .dataLoss, message: message)
        case .clientGone(let error):
            return error
        case .storage:
            // Details go to the log, not to the client.
            return RPCError(code: .internalError, message: "blob storage failed")
        }
    }
}

public enum BlobServiceFlavor: Sendable {
    case tvix
    case snix
}
