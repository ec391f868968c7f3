import GRPCCore
import WharfProto

/// The Mirrors page's forms: create and delete a sync, revoke a node's registry credentials.
struct MirrorForms {
    let backend: ConsoleBackend

    func create(_ fields: FormFields) async -> FormOutcome {
        let remote = (fields["remote"] ?? "").trimmingCharacters(in: .whitespaces)
        guard !remote.isEmpty else { return .problem("Give the remote directory's address (host:port).") }
        let cids = (fields["cids"] ?? "").split(whereSeparator: { $0 == "\n" || $0 == "\r" || $0 == "," || $0 == " " }).map(String.init)
        do {
            _ = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: backend.gateway).createSync(
                .with {
                    $0.remoteDirectoryURL = remote
                    $0.cids = cids
                }, options: backend.options)
            return .done("sync-created")
        } catch {
            return .problem("The sync service refused the sync: \(ConsoleText.reason(error))")
        }
    }

    func delete(_ fields: FormFields) async -> FormOutcome {
        let id = fields["id"] ?? ""
        guard !id.isEmpty else { return .problem("No sync named.") }
        do {
            _ = try await Agntcy_Dir_Store_V1_SyncService.Client(wrapping: backend.gateway).deleteSync(
                .with { $0.syncID = id }, options: backend.options)
            return .done("sync-deleted")
        } catch {
            return .problem("The sync was not deleted: \(ConsoleText.reason(error))")
        }
    }

    func revokeCredentials(_ fields: FormFields) async -> FormOutcome {
        let node = fields["node"] ?? ""
        guard !node.isEmpty else { return .problem("No node named.") }
        do {
            _ = try await Wharf_Store_V1_RegistryCredentials.Client(wrapping: backend.gateway).revoke(
                .with { $0.nodeID = node }, options: backend.options)
            return .done("credentials-revoked")
        } catch {
            return .problem("The credentials were not revoked: \(ConsoleText.reason(error))")
        }
    }
}
