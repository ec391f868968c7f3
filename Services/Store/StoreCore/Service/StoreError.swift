import GRPCCore

/// What can go wrong in a StoreService call, mapped to one gRPC status (and upstream's message text) in
/// one place.
public enum StoreError: Error, Equatable {
    case noData
    case invalidRecord(String)
    case recordTooLarge(size: Int)
    case annotationsTooLarge(bytes: Int)
    case cidRequired
    case pullNotFound(cid: String)
    case lookupNotFound(cid: String)
    /// A storage failure; the detail is logged, not sent.
    case storage(operation: String)

    public var rpcError: RPCError {
        switch self {
        case .noData:
            RPCError(code: .invalidArgument, message: "record has no data")
        case .invalidRecord(let what):
            RPCError(code: .invalidArgument, message: "record validation failed: \(what)")
        case .recordTooLarge(let size):
            RPCError(
                code: .resourceExhausted,
                message: "record size \(size) bytes exceeds maximum allowed size of \(PreparedRecord.maximumSize) bytes (4MB)")
        case .annotationsTooLarge(let bytes):
            RPCError(
                code: .invalidArgument,
                message:
                    "record validation failed: annotations are \(bytes) bytes, over the maximum of \(PreparedRecord.maximumAnnotationBytes) bytes (100KB)"
            )
        case .cidRequired:
            RPCError(code: .invalidArgument, message: "record cid is required")
        case .pullNotFound(let cid):
            RPCError(code: .notFound, message: "failed to pull record: record not found: \(cid)")
        case .lookupNotFound(let cid):
            RPCError(code: .notFound, message: "failed to lookup record: record not found: \(cid)")
        case .storage(let operation):
            RPCError(code: .internalError, message: "failed to \(operation)")
        }
    }
}
