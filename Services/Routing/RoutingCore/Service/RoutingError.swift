import GRPCCore

/// What can go wrong in a RoutingService call, mapped to one status (upstream's texts) in one place.
public enum RoutingError: Error, Equatable {
    case cidRequired
    case recordNotFound(cid: String)
    case storeUnavailable
    case maximumHopsExceeded
    case storage(operation: String)
    case tooManyQueries(what: String, count: Int, maximum: Int)
    case queryTooLong(what: String, bytes: Int, maximum: Int)
    case recordLabelsTooLarge(cid: String, problem: String)
    case nulInText(what: String)

    public var rpcError: RPCError {
        switch self {
        case .cidRequired:
            RPCError(code: .invalidArgument, message: "object reference is required and must have a type")
        case .recordNotFound(let cid):
            RPCError(code: .notFound, message: "failed to get record: failed to lookup object: record not found: \(cid)")
        case .storeUnavailable:
            RPCError(code: .unavailable, message: "failed to get record: the store service is unavailable")
        case .maximumHopsExceeded:
            RPCError(code: .unknown, message: "failed to list: max hops exceeded")
        case .storage(let operation):
            RPCError(code: .internalError, message: "failed to \(operation)")
        case .tooManyQueries(let what, let count, let maximum):
            RPCError(code: .invalidArgument, message: "\(what) has \(count) queries; at most \(maximum) are allowed (WHARF_ROUTING_MAX_QUERIES)")
        case .queryTooLong(let what, let bytes, let maximum):
            RPCError(code: .invalidArgument, message: "\(what) has a query value of \(bytes) bytes; at most \(maximum) are allowed")
        case .nulInText(let what):
            RPCError(code: .invalidArgument, message: "\(what) contains a NUL character (U+0000)")
        case .recordLabelsTooLarge(let cid, let problem):
            RPCError(code: .invalidArgument, message: "record \(cid) cannot be published: it has \(problem)")
        }
    }
}
