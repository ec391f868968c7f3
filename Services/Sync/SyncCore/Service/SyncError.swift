import GRPCCore

/// The statuses and texts SyncService answers with (spec agntcy-dir.md §5, §8, and the points settled in
/// spec/README.md).
enum SyncError {
    static func invalidURL(_ problem: RemoteDirectoryURLError) -> RPCError {
        RPCError(code: .invalidArgument, message: "invalid remote directory URL: \(problem)")
    }

    static func notFound(_ id: String) -> RPCError {
        RPCError(code: .notFound, message: "sync not found: \(id.count > 64 ? String(id.prefix(64)) + "…" : id)")
    }

    static let alreadyDeleted = RPCError(code: .notFound, message: "sync has already been deleted")

    static func refusedRemote(_ reason: String) -> RPCError {
        RPCError(code: .permissionDenied, message: "remote directory refused: \(reason)")
    }

    static func storage(_ operation: String) -> RPCError {
        RPCError(code: .unavailable, message: "\(operation): the sync database is unavailable")
    }
}
