import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import WharfProto

/// The Relay page: peers and their sync state (orlysync GetSyncStatus through the gateway), and from each
/// negentropy replica on its own address its open sessions (ListSessions) and recent reconciliations
/// (Wharf's RelayActivity), since each replica holds its own.
struct RelayPage {
    static let service = "orlysync.negentropy.v1.NegentropyService"

    let backend: ConsoleBackend
    let monitor: ReplicaMonitor

    func model() async -> PageModel {
        var model = PageModel(page: "relay", title: "Relay", context: [:], refresh: "/relay.json")
        do {
            let status = try await Orlysync_Negentropy_V1_NegentropyService.Client(wrapping: backend.gateway).getSyncStatus(
                .init(), options: backend.options)
            model.context["syncActive"] = status.active ? "running" : "stopped"
            model.context["peerCount"] = String(status.peerCount)
            model.context["lastSync"] = ConsoleText.time(unixMilliseconds: status.lastSync.multipliedReportingOverflow(by: 1000).partialValue)
            model.context["peers"] = status.peerStates.map { peer -> [String: Any] in
                [
                    "url": peer.peerURL, "status": peer.status.isEmpty ? "–" : peer.status,
                    "statusClass": peer.lastError.isEmpty ? StateClass.ok : StateClass.bad,
                    "lastSync": ConsoleText.time(unixMilliseconds: peer.lastSync.multipliedReportingOverflow(by: 1000).partialValue),
                    "events": String(peer.eventsSynced), "failures": String(peer.consecutiveFailures), "error": String(peer.lastError.prefix(300)),
                ]
            }
        } catch {
            model.problems.append("The relay's peers cannot be read: \(ConsoleText.reason(error))")
            model.context["peers"] = [[String: Any]]()
        }
        let replicas = monitor.replicas.filter { $0.routedServices.contains(Self.service) }.map(\.address)
        var sessions: [[String: Any]] = []
        var reconciliations: [[String: Any]] = []
        await withTaskGroup(of: (String, Result<([Orlysync_Negentropy_V1_ClientSession], [Wharf_Negentropy_V1_Reconciliation]), any Error>).self) {
            group in
            for address in replicas {
                group.addTask {
                    do {
                        let found = try await backend.onReplica(address) { client in
                            let open = try await Orlysync_Negentropy_V1_NegentropyService.Client(wrapping: client).listSessions(
                                .init(), options: backend.options)
                            let recent = try await Wharf_Negentropy_V1_RelayActivity.Client(wrapping: client).listReconciliations(
                                .with { $0.limit = 50 }, options: backend.options)
                            return (open.sessions, recent.reconciliations)
                        }
                        return (address, .success(found))
                    } catch {
                        return (address, .failure(error))
                    }
                }
            }
            for await (address, result) in group {
                switch result {
                case .success(let (open, recent)):
                    sessions += open.map { session in
                        [
                            "replica": address, "subscription": String(session.subscriptionID.prefix(64)),
                            "connection": String(session.connectionID.prefix(64)), "rounds": String(session.roundCount),
                            "opened": ConsoleText.time(unixMilliseconds: session.createdAt.multipliedReportingOverflow(by: 1000).partialValue),
                            "active": ConsoleText.time(unixMilliseconds: session.lastActivity.multipliedReportingOverflow(by: 1000).partialValue),
                        ]
                    }
                    reconciliations += recent.map { entry in
                        [
                            "replica": address, "transport": entry.transport, "subscription": String(entry.subscriptionID.prefix(64)),
                            "started": ConsoleText.time(unixMilliseconds: entry.startedAtUnixMs), "startedAt": entry.startedAtUnixMs,
                            "duration": ConsoleText.duration(milliseconds: max(0, entry.endedAtUnixMs &- entry.startedAtUnixMs)),
                            "rounds": String(entry.rounds), "setSize": String(entry.setSize), "outcome": entry.outcome,
                            "outcomeClass": entry.outcome == "error"
                                ? StateClass.bad : entry.outcome == "complete" ? StateClass.ok : StateClass.neutral,
                            "error": String(entry.error.prefix(300)),
                        ]
                    }
                case .failure(let error):
                    model.problems.append("Relay replica \(address) cannot be read: \(ConsoleText.reason(error))")
                }
            }
        }
        if replicas.isEmpty { model.problems.append("No relay replica is known yet (the gateway's routes are read every few seconds).") }
        model.context["sessions"] = sessions
        model.context["sessionCount"] = String(sessions.count)
        model.live.text["sessionCount"] = String(sessions.count)
        model.context["reconciliations"] = reconciliations.sorted { ($0["startedAt"] as? Int64 ?? 0) > ($1["startedAt"] as? Int64 ?? 0) }
        return model
    }
}
