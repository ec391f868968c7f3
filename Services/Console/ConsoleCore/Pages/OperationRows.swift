import WharfProto

/// How an operation of a backup host reads in the console's tables.
enum OperationRows {
    static func kind(_ operation: V1_Operation) -> String {
        switch operation.op {
        case .operationBackup: "backup"
        case .operationIndexSnapshot: "index snapshot"
        case .operationForget: "forget"
        case .operationPrune: "prune"
        case .operationRestore: "restore"
        case .operationStats: "stats"
        case .operationRunHook: "hook"
        case .operationCheck: "check"
        case .operationRunCommand: "command"
        case nil: "unknown"
        }
    }

    /// "success", "error", … (OperationStatus without STATUS_).
    static func status(_ status: V1_OperationStatus) -> String {
        switch status {
        case .statusPending: "pending"
        case .statusInprogress: "in progress"
        case .statusSuccess: "success"
        case .statusWarning: "warning"
        case .statusError: "error"
        case .statusSystemCancelled: "cancelled (system)"
        case .statusUserCancelled: "cancelled"
        default: "unknown"
        }
    }

    static func statusClass(_ status: V1_OperationStatus) -> String {
        switch status {
        case .statusSuccess: StateClass.ok
        case .statusWarning, .statusInprogress, .statusPending: StateClass.warn
        case .statusError: StateClass.bad
        default: StateClass.neutral
        }
    }

    /// The backup's summary, when it finished one.
    static func summary(_ operation: V1_Operation) -> V1_BackupProgressSummary? {
        guard case .operationBackup(let backup) = operation.op, case .summary(let summary)? = backup.lastStatus.entry else { return nil }
        return summary
    }

    static func row(_ operation: V1_Operation, keyid: String) -> [String: Any] {
        let end = operation.unixTimeEndMs
        let duration = end > 0 && end >= operation.unixTimeStartMs ? ConsoleText.duration(milliseconds: end &- operation.unixTimeStartMs) : "–"
        let summary = summary(operation)
        let snapshot = operation.snapshotID.isEmpty ? (summary?.snapshotID ?? "") : operation.snapshotID
        return [
            "keyid": keyid, "host": operation.instanceID, "plan": operation.planID, "repo": operation.repoID, "kind": kind(operation),
            "status": status(operation.status), "statusClass": statusClass(operation.status),
            "started": ConsoleText.time(unixMilliseconds: operation.unixTimeStartMs), "duration": duration,
            "bytesAdded": summary.map { ConsoleText.bytes($0.dataAdded) } ?? "–",
            "snapshot": snapshot.isEmpty ? "–" : String(snapshot.prefix(16)),
            "error": operation.status == .statusError || operation.status == .statusWarning
                ? String(operation.displayMessage.prefix(300)) : "",
        ]
    }
}
