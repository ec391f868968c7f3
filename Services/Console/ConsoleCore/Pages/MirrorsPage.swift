import Foundation
import GRPCCore
import WharfProto

/// The Mirrors page: every agntcy sync with its state, counters, lag and last error (SyncService.ListSyncs and
/// Wharf's SyncProgress), and the registry credentials the store handed out (RegistryCredentials.List).
struct MirrorsPage {
    /// Syncs shown at most (their progress is read one call each).
    static let maximumSyncs: UInt32 = 200

    let backend: ConsoleBackend

    func model() async -> PageModel {
        var model = PageModel(page: "mirrors", title: "Mirrors", context: [:], refresh: "/mirrors.json")
        let syncs: [Agntcy_Dir_Store_V1_ListSyncsItem]
        do {
            syncs = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: backend.gateway).listSyncs(
                .with { $0.limit = Self.maximumSyncs }, options: backend.options
            ) { response in try await response.messages.reduce(into: []) { $0.append($1) } }
        } catch {
            model.problems.append("Syncs cannot be read: \(ConsoleText.reason(error))")
            syncs = []
        }
        let progress = await withTaskGroup(of: (String, Wharf_Sync_V1_SyncProgressResponse?).self) { group in
            for sync in syncs {
                group.addTask {
                    let answer = try? await Wharf_Sync_V1_SyncProgress.Client(wrapping: backend.gateway).getSyncProgress(
                        .with { $0.syncID = sync.syncID }, options: backend.options)
                    return (sync.syncID, answer)
                }
            }
            var found: [String: Wharf_Sync_V1_SyncProgressResponse] = [:]
            for await (id, answer) in group { if let answer { found[id] = answer } }
            return found
        }
        var byStatus: [String: Int] = [:]
        model.context["syncs"] = syncs.map { sync -> [String: Any] in
            let (status, style) = Self.status(sync.status)
            byStatus[status, default: 0] += 1
            let counters = progress[sync.syncID]
            let lag =
                counters.map {
                    $0.lagSeconds < 0
                        ? "not caught up yet" : ConsoleText.duration(milliseconds: $0.lagSeconds.multipliedReportingOverflow(by: 1000).partialValue)
                } ?? "–"
            model.live.text["status:\(sync.syncID)"] = status
            model.live.classes["status:\(sync.syncID)"] = style
            model.live.text["copied:\(sync.syncID)"] = counters.map { String($0.copied) } ?? "–"
            model.live.text["lag:\(sync.syncID)"] = lag
            return [
                "id": sync.syncID, "remote": sync.remoteDirectoryURL, "status": status, "statusClass": style,
                "method": counters.map { $0.method.isEmpty ? "–" : $0.method } ?? "–",
                "discovered": counters.map { String($0.discovered) } ?? "–", "copied": counters.map { String($0.copied) } ?? "–",
                "present": counters.map { String($0.alreadyPresent) } ?? "–", "rejected": counters.map { String($0.rejected) } ?? "–",
                "bytes": counters.map { ConsoleText.bytes(Int64(clamping: $0.bytes)) } ?? "–", "lag": lag,
                "failures": counters.map { String($0.consecutiveFailures) } ?? "–",
                "lastError": String((counters?.lastError ?? "").prefix(300)),
                "lastRound": counters.map { $0.lastRoundTime.isEmpty ? "–" : $0.lastRoundTime } ?? "–",
            ]
        }
        model.context["syncCount"] = syncs.count
        model.context["statusCounts"] = byStatus.sorted { $0.key < $1.key }.map { ["status": $0.key, "count": $0.value] }
        do {
            let now = Int64(Date().timeIntervalSince1970)
            let credentials = try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: backend.gateway).list(
                .with { $0.limit = 200 }, options: backend.options
            ).credentials
            model.context["credentials"] = credentials.map { credential -> [String: Any] in
                let state = credential.revokedAt > 0 ? "revoked" : credential.expiresAt <= now ? "expired" : "live"
                return [
                    "username": credential.username, "node": credential.nodeID, "state": state,
                    "stateClass": state == "live" ? StateClass.ok : StateClass.neutral,
                    "issued": ConsoleText.time(unixMilliseconds: credential.issuedAt.multipliedReportingOverflow(by: 1000).partialValue),
                    "expires": ConsoleText.time(unixMilliseconds: credential.expiresAt.multipliedReportingOverflow(by: 1000).partialValue),
                    "live": state == "live",
                ]
            }
        } catch {
            model.problems.append("Registry credentials cannot be read: \(ConsoleText.reason(error))")
            model.context["credentials"] = [[String: Any]]()
        }
        return model
    }

    static func status(_ status: Agntcy_Dir_Store_V1_SyncStatus) -> (String, String) {
        switch status {
        case .pending: ("pending", StateClass.warn)
        case .inProgress: ("in progress", StateClass.ok)
        case .failed: ("failed", StateClass.bad)
        case .deletePending: ("deleting", StateClass.neutral)
        case .deleted: ("deleted", StateClass.neutral)
        default: ("unknown", StateClass.neutral)
        }
    }
}
