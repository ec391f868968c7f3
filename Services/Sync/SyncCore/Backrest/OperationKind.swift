import WharfProto

/// An operation's kind as the hub stores it (`backrest.operations.kind`): its oneof case as backrest's proto
/// names it, without "operation_", so that the console and the metrics find backups without decoding rows.
enum OperationKind {
    static let all = ["backup", "index_snapshot", "forget", "prune", "restore", "stats", "run_hook", "check", "run_command"]

    /// "" for an operation of a kind this hub's schema does not know (a newer backrest's).
    static func of(_ operation: V1_Operation) -> String {
        switch operation.op {
        case .operationBackup: "backup"
        case .operationIndexSnapshot: "index_snapshot"
        case .operationForget: "forget"
        case .operationPrune: "prune"
        case .operationRestore: "restore"
        case .operationStats: "stats"
        case .operationRunHook: "run_hook"
        case .operationCheck: "check"
        case .operationRunCommand: "run_command"
        case nil: ""
        }
    }
}
