import WharfProto

extension Agntcy_Dir_Store_V1_SyncStatus {
    /// The enum value's name in the proto (`SYNC_STATUS_IN_PROGRESS`), as upstream's clients print it.
    var protoName: String {
        switch self {
        case .unspecified: "SYNC_STATUS_UNSPECIFIED"
        case .pending: "SYNC_STATUS_PENDING"
        case .inProgress: "SYNC_STATUS_IN_PROGRESS"
        case .failed: "SYNC_STATUS_FAILED"
        case .deletePending: "SYNC_STATUS_DELETE_PENDING"
        case .deleted: "SYNC_STATUS_DELETED"
        case .UNRECOGNIZED(let value): "\(value)"
        }
    }
}
