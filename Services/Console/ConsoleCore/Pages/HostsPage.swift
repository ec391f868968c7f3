import Foundation
import GRPCCore
import ServiceContracts
import WharfProto

/// The Backup hosts page: every backrest client of the hub (both protocol versions), their state, repos and
/// plans, recent operations and backups per plan (filtered by host, plan and status), pairing tokens and the
/// config push form. Read through BackrestHub and BackrestSyncStateService on the gateway.
struct HostsPage {
    struct Filter: Sendable {
        var host = ""
        var plan = ""
        var status = ""

        init(host: String?, plan: String?, status: String?) {
            self.host = String((host ?? "").prefix(256))
            self.plan = String((plan ?? "").prefix(256))
            self.status = String((status ?? "").prefix(32))
        }

        var operationStatus: V1_OperationStatus {
            switch status {
            case "success": .statusSuccess
            case "warning": .statusWarning
            case "error": .statusError
            case "inprogress": .statusInprogress
            case "pending": .statusPending
            case "cancelled": .statusUserCancelled
            default: .statusUnknown
            }
        }
    }

    static let statuses = [
        ("", "any"), ("success", "success"), ("warning", "warning"), ("error", "error"), ("inprogress", "in progress"), ("pending", "pending"),
        ("cancelled", "cancelled"),
    ]

    let backend: ConsoleBackend
    let filter: Filter
    /// The token created by the form just submitted (shown once).
    var createdToken: String?

    func model() async -> PageModel {
        var model = PageModel(page: "hosts", title: "Backup hosts", context: [:], refresh: "/hosts.json")
        let hub = Wharf_Sync_V1_BackrestHub.Client(wrapping: backend.gateway)
        async let clientsCall = hub.listClients(.init(), options: backend.options)
        async let tokensCall = hub.listPairingTokens(.init(), options: backend.options)
        async let refusedCall = hub.listRefusedPeers(.init(), options: backend.options)
        async let peerCall = Self.peerStates(backend)
        let clients: [Wharf_Sync_V1_BackrestClient]
        do { clients = try await clientsCall.clients } catch {
            model.problems.append("Clients cannot be read: \(ConsoleText.reason(error))")
            clients = []
        }
        let peers: [String: V1sync_PeerState]
        do { peers = Dictionary(try await peerCall.map { ($0.peerKeyid, $0) }, uniquingKeysWith: { $1 }) } catch {
            model.problems.append("Connection states cannot be read: \(ConsoleText.reason(error))")
            peers = [:]
        }
        let keyidOfHost = Dictionary(clients.map { ($0.instanceID, $0.keyid) }, uniquingKeysWith: { first, _ in first })
        let selectedKeyid = filter.host.isEmpty ? "" : keyidOfHost[filter.host] ?? "\u{0}unknown"
        var operations: [Wharf_Sync_V1_HostOperation] = []
        var backups: [Wharf_Sync_V1_HostOperation] = []
        if selectedKeyid != "\u{0}unknown" {
            async let operationsCall = hub.listOperations(
                .with {
                    $0.keyid = selectedKeyid; $0.planID = filter.plan; $0.status = filter.operationStatus; $0.limit = 100
                }, options: backend.options)
            async let backupsCall = hub.listOperations(
                .with {
                    $0.keyid = selectedKeyid; $0.planID = filter.plan; $0.status = filter.operationStatus; $0.kind = "backup"
                    $0.limit = 1000
                }, options: backend.options)
            do {
                operations = try await operationsCall.operations
                backups = try await backupsCall.operations
            } catch {
                model.problems.append("Operations cannot be read: \(ConsoleText.reason(error))")
            }
        }
        var latestBackup: [String: V1_Operation] = [:]
        for entry in backups where latestBackup[entry.keyid] == nil { latestBackup[entry.keyid] = entry.operation }

        var connected = 0
        model.context["hosts"] = clients.map { client -> [String: Any] in
            let state = peers[client.keyid]
            let (text, style) = Self.connection(state?.state)
            if state?.state == .connected { connected += 1 }
            let heartbeat = ConsoleText.time(unixMilliseconds: state?.lastHeartbeatMillis ?? 0)
            model.live.text["state:\(client.keyid)"] = text
            model.live.classes["state:\(client.keyid)"] = style
            model.live.text["heartbeat:\(client.keyid)"] = heartbeat
            let latest = latestBackup[client.keyid]
            return [
                "instance": client.instanceID, "keyid": client.keyid, "shortKeyid": String(client.keyid.prefix(24)),
                "protocol": client.keyid.hasPrefix("ed25519.") ? "3 (1.13+)" : "1 (1.11–1.12)",
                "state": text, "stateClass": style, "statusMessage": String((state?.statusMessage ?? "").prefix(200)),
                "heartbeat": heartbeat,
                "permissions": client.permissions.map(BackrestPermissionText.text).joined(separator: "; "),
                "repos": (state?.knownRepos.map(\.id) ?? []).joined(separator: ", "),
                "plans": (state?.knownPlans.map(\.id) ?? []).joined(separator: ", "),
                "paired": client.pairedWithToken.isEmpty ? "–" : client.pairedWithToken,
                "lastBackup": latest.map { "\(OperationRows.status($0.status)) · \(ConsoleText.time(unixMilliseconds: $0.unixTimeStartMs))" } ?? "–",
                "lastBackupClass": latest.map { OperationRows.statusClass($0.status) } ?? StateClass.neutral,
            ]
        }
        model.context["clientCount"] = clients.count
        model.context["connectedCount"] = connected
        model.live.text["connectedCount"] = String(connected)
        model.context["failedPlans"] = filter.status.isEmpty ? String(Self.failedPlans(backups)) : "–"
        model.context["operations"] = operations.map { OperationRows.row($0.operation, keyid: $0.keyid) }
        model.context["operationCount"] = operations.count
        model.context["timeline"] = BackupTimeline.svg(
            backups.map { entry in
                let operation = entry.operation
                let summary = OperationRows.summary(operation)
                return BackupTimeline.Mark(
                    row: "\(operation.instanceID) · \(operation.planID)", startMilliseconds: operation.unixTimeStartMs,
                    status: OperationRows.status(operation.status),
                    label: "\(operation.instanceID) \(operation.planID): \(OperationRows.status(operation.status)) at "
                        + "\(ConsoleText.time(unixMilliseconds: operation.unixTimeStartMs))"
                        + (summary.map { ", \(ConsoleText.bytes($0.dataAdded)) added" } ?? ""))
            })
        model.context["filterHost"] = filter.host
        model.context["filterPlan"] = filter.plan
        model.context["hostOptions"] = clients.map { ["value": $0.instanceID, "selected": $0.instanceID == filter.host] }
        model.context["statusOptions"] = Self.statuses.map { ["value": $0.0, "label": $0.1, "selected": $0.0 == filter.status] }
        model.context["clientOptions"] = clients.map { ["keyid": $0.keyid, "instance": $0.instanceID] }
        model.context["permissionChoices"] = ["read-operations", "read-config", "read-write-config", "receive-shared-repos"].map {
            ["name": $0, "checked": $0 == "read-operations"]
        }
        do {
            model.context["tokens"] = try await tokensCall.tokens.map { token -> [String: Any] in
                [
                    "id": token.id, "label": token.label.isEmpty ? "–" : token.label, "created": token.createdAt, "expires": token.expiresAt,
                    "uses": "\(token.uses) / \(token.maxUses)",
                    "permissions": token.permissions.map(BackrestPermissionText.text).joined(separator: "; "),
                ]
            }
        } catch {
            model.problems.append("Pairing tokens cannot be read: \(ConsoleText.reason(error))")
            model.context["tokens"] = [[String: Any]]()
        }
        do {
            model.context["refused"] = try await refusedCall.peers.prefix(20).map { peer -> [String: Any] in
                [
                    "instance": String(peer.peerInstanceID.prefix(64)), "keyid": String(peer.peerKeyid.prefix(64)),
                    "reason": String(peer.statusMessage.prefix(200)), "at": ConsoleText.time(unixMilliseconds: peer.lastHeartbeatMillis),
                ]
            }
        } catch {
            model.context["refused"] = [[String: Any]]()
        }
        model.context["createdToken"] = createdToken ?? false
        return model
    }

    static func peerStates(_ backend: ConsoleBackend) async throws -> [V1sync_PeerState] {
        try await V1sync_BackrestSyncStateService.Client(wrapping: backend.gateway).getPeerSyncStatesStream(
            .with { $0.subscribe = false }, options: backend.options
        ) { response in
            var states: [V1sync_PeerState] = []
            for try await state in response.messages { states.append(state) }
            return states
        }
    }

    static func connection(_ state: V1sync_ConnectionState?) -> (String, String) {
        switch state {
        case .connected?: ("connected", StateClass.ok)
        case .pending?: ("pending", StateClass.warn)
        case .retryWait?: ("retry wait", StateClass.warn)
        case .disconnected?: ("disconnected", StateClass.neutral)
        case .errorAuth?: ("refused (auth)", StateClass.bad)
        case .errorProtocol?: ("protocol error", StateClass.bad)
        case .errorInternal?: ("internal error", StateClass.bad)
        default: ("never connected", StateClass.neutral)
        }
    }

    /// Host and plan pairs whose latest backup failed.
    static func failedPlans(_ backups: [Wharf_Sync_V1_HostOperation]) -> Int {
        var seen = Set<String>()
        var failed = 0
        for entry in backups {
            let key = entry.keyid + "\u{0}" + entry.operation.planID
            guard seen.insert(key).inserted else { continue }
            if entry.operation.status == .statusError { failed += 1 }
        }
        return failed
    }
}
