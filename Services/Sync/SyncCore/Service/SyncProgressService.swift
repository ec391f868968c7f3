import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// `wharf.sync.v1.SyncProgress`: what a sync's mirror has done (wharfctl sync status), and the operator's
/// revocation of the registry credentials handed to a node (administrative).
struct SyncProgressService: Wharf_Sync_V1_SyncProgress.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [Wharf_Sync_V1_SyncProgress.Method.RevokeRegistryCredentials.descriptor]

    let repository: SyncRepository
    let local: LocalDirectory
    let logger: Logger

    func getSyncProgress(request: Wharf_Sync_V1_GetSyncProgressRequest, context: ServerContext) async throws -> Wharf_Sync_V1_SyncProgressResponse {
        guard let id = UUID(uuidString: request.syncID),
            let row = try await storage({ try await repository.find(id) }),
            let progress = try await storage({ try await repository.progress(of: id) })
        else {
            throw SyncError.notFound(request.syncID)
        }
        return .with {
            $0.syncID = id.uuidString.lowercased()
            $0.status = row.status.protoName
            $0.remoteDirectoryURL = MaskedURL.withoutUserinfo(row.remoteDirectoryURL)
            $0.method = progress.method
            $0.discovered = UInt64(clamping: progress.discovered)
            $0.copied = UInt64(clamping: progress.copied)
            $0.alreadyPresent = UInt64(clamping: progress.alreadyPresent)
            $0.rejected = UInt64(clamping: progress.rejected)
            $0.bytes = UInt64(clamping: progress.bytes)
            $0.lastError = progress.lastError
            $0.consecutiveFailures = UInt32(clamping: progress.consecutiveFailures)
            $0.lagSeconds = progress.inStepAt.map { max(0, Int64(Date().timeIntervalSince($0))) } ?? -1
            $0.lastRoundTime = progress.lastRoundAt.map(RFC3339.format) ?? ""
        }
    }

    func revokeRegistryCredentials(request: Wharf_Sync_V1_RevokeRegistryCredentialsRequest, context: ServerContext)
        async throws -> Wharf_Sync_V1_RevokeRegistryCredentialsResponse
    {
        guard !request.nodeID.isEmpty else { throw RPCError(code: .invalidArgument, message: "node_id is required") }
        guard request.nodeID.utf8.count <= 256, PostgresText.canStore(request.nodeID) else {
            throw RPCError(code: .invalidArgument, message: "node_id is longer than 256 bytes or contains NUL")
        }
        let revoked: UInt32
        do {
            revoked = try await local.revokeCredentials(nodeID: request.nodeID)
        } catch let error as RPCError {
            // A new error: the store's carries its response metadata, which is not this call's to send.
            logger.warning("the local store did not revoke registry credentials", metadata: ["error": "\(error)"])
            throw RPCError(
                code: error.code == .invalidArgument ? .invalidArgument : .unavailable,
                message: "registry credentials could not be revoked: \(error.message.prefix(200))")
        }
        logger.notice("registry credentials revoked by an operator", metadata: ["node": "\(request.nodeID)", "count": "\(revoked)"])
        return .with { $0.revoked = revoked }
    }

    private func storage<T>(_ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure("get sync progress", logger: logger, "sync storage failed", as: SyncError.storage, body)
    }
}
