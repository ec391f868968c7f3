import Foundation
import GRPCCore
import Hummingbird
import ServiceContracts
import SwiftProtobuf
import WharfProto

/// The Backup hosts page's forms: create and revoke pairing tokens, push a config. Each calls the hub with the
/// console's admin token; the hub decides.
struct HostForms {
    let backend: ConsoleBackend

    func createToken(_ fields: FormFields) async -> FormOutcome {
        guard let hours = Int(fields["hours"] ?? ""), (1...8760).contains(hours) else {
            return .problem("Valid for: a number of hours from 1 to 8760.")
        }
        guard let uses = Int32(fields["uses"] ?? ""), (1...1000).contains(uses) else { return .problem("Uses: a number from 1 to 1000.") }
        let label = fields["label"] ?? ""
        guard label.utf8.count <= 200 else { return .problem("Label: at most 200 bytes.") }
        let scope = (fields["scope"] ?? "*").trimmingCharacters(in: .whitespaces)
        var permissions: [V1_Multihost.Permission] = []
        for name in fields.all("permission") {
            guard let permission = BackrestPermissionText.permission("\(name)=\(scope.isEmpty ? "*" : scope)") else {
                return .problem("Permission \(name.prefix(40)) is not one of \(BackrestPermissionText.names).")
            }
            permissions.append(permission)
        }
        guard !permissions.isEmpty else { return .problem("Choose at least one permission.") }
        do {
            let created = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: backend.gateway).createPairingToken(
                .with {
                    $0.label = label
                    $0.ttlSeconds = Int64(hours) * 3600
                    $0.maxUses = uses
                    $0.permissions = permissions
                }, options: backend.options)
            return .createdToken(created.token)
        } catch {
            return .problem("The hub refused the pairing token: \(ConsoleText.reason(error))")
        }
    }

    func revokeToken(_ fields: FormFields) async -> FormOutcome {
        let id = fields["id"] ?? ""
        guard !id.isEmpty, id.utf8.count <= 128 else { return .problem("No pairing token named.") }
        do {
            let revoked = try await Wharf_Sync_V1_BackrestHub.Client(wrapping: backend.gateway).revokePairingToken(
                .with { $0.id = id }, options: backend.options)
            return revoked.revoked ? .done("token-revoked") : .problem("No live pairing token \(id.prefix(64)) (already revoked?).")
        } catch {
            return .problem("The hub did not revoke the token: \(ConsoleText.reason(error))")
        }
    }

    func pushConfig(_ fields: FormFields) async -> FormOutcome {
        let keyid = fields["keyid"] ?? ""
        guard !keyid.isEmpty else { return .problem("Choose a host.") }
        let setConfig: V1sync_SyncStreamItem.SyncActionSetConfig
        do {
            setConfig = try V1sync_SyncStreamItem.SyncActionSetConfig(jsonString: fields["config"] ?? "")
        } catch {
            return .problem("The config is not a SyncActionSetConfig in proto JSON: \(ConsoleText.reason(error))")
        }
        do {
            _ = try await V1sync_BackrestSyncStateService.Client(wrapping: backend.gateway).setRemoteClientConfig(
                .with {
                    $0.peerKeyid = keyid
                    $0.repos = setConfig.repos
                    $0.plans = setConfig.plans
                    $0.reposToDelete = setConfig.reposToDelete
                    $0.plansToDelete = setConfig.plansToDelete
                }, options: backend.options)
            return .done("config-pushed")
        } catch {
            return .problem("The hub did not deliver the config: \(ConsoleText.reason(error))")
        }
    }
}
