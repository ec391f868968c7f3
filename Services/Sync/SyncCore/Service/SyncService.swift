import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// `agntcy.dir.store.v1.SyncService` (spec agntcy-dir.md §5 and "Wharf decisions — Sync"): syncs are rows
/// in PostgreSQL, and the mirroring is a job any replica's worker runs (`SyncMirror`).
public struct SyncService: Agntcy_Dir_Store_V1_SyncService.SimpleServiceProtocol {
    let repository: SyncRepository
    let jobs: JobQueue
    let settings: SyncSettings
    let local: LocalDirectory
    let logger: Logger
    /// RequestRegistryCredentials is anonymous (any Directory may ask to mirror this one): each caller address
    /// may ask 10 times at once and 30 times a minute; the store bounds the live credentials in all.
    let credentialRequests = KeyedRateLimiter(burst: 10, perMinute: 30)

    /// CreateSync makes this node dial an address the caller names, and DeleteSync stops an operator's
    /// mirror: both need the admin token (the agntcy SDK sends it through each call's metadata).
    static let administrativeMethods: Set<MethodDescriptor> = [
        Agntcy_Dir_Store_V1_SyncService.Method.CreateSync.descriptor, Agntcy_Dir_Store_V1_SyncService.Method.DeleteSync.descriptor,
    ]

    /// CIDs one CreateSync may name (upstream has no limit; they become a tag regex there).
    public static let maximumCIDs = 10_000

    public func createSync(request: Agntcy_Dir_Store_V1_CreateSyncRequest, context: ServerContext) async throws
        -> Agntcy_Dir_Store_V1_CreateSyncResponse
    {
        let remote: RemoteDirectoryURL
        do {
            remote = try RemoteDirectoryURL(validating: request.remoteDirectoryURL)
        } catch {
            throw SyncError.invalidURL(error)
        }
        guard PostgresText.canStore(remote.text) else {
            throw SyncError.invalidURL(RemoteDirectoryURLError("URL contains a NUL character"))
        }
        guard request.cids.count <= Self.maximumCIDs else {
            throw RPCError(code: .invalidArgument, message: "at most \(Self.maximumCIDs) cids in one sync, got \(request.cids.count)")
        }
        if let bad = request.cids.first(where: { $0.isEmpty || $0.utf8.count > 256 || !PostgresText.canStore($0) }) {
            throw RPCError(code: .invalidArgument, message: "cid \"\(bad.prefix(64))\" is empty, longer than 256 bytes or contains NUL")
        }
        // The worker will dial this address: refuse internal ones unless the operator listed them.
        if let refusal = await settings.allowedRemotes.refusal(host: remote.host, dialling: false) {
            throw SyncError.refusedRemote(refusal)
        }
        let created = try await storage("create sync") {
            try await repository.create(remote: remote.text, cids: request.cids, maximumActive: settings.maximumActiveSyncs)
        }
        guard let id = created else {
            throw RPCError(
                code: .resourceExhausted,
                message: "\(settings.maximumActiveSyncs) syncs are already active (WHARF_SYNC_MAX_ACTIVE); delete one first")
        }
        try await storage("enqueue sync") { try await SyncMirror.enqueue(id, jobs: jobs) }
        logger.info(
            "sync created", metadata: ["sync_id": "\(id)", "remote": "\(MaskedURL.withoutUserinfo(remote.text))", "cids": "\(request.cids.count)"])
        return .with { $0.syncID = id.uuidString.lowercased() }
    }

    public func listSyncs(
        request: Agntcy_Dir_Store_V1_ListSyncsRequest, response: RPCWriter<Agntcy_Dir_Store_V1_ListSyncsItem>,
        context: ServerContext
    ) async throws {
        var offset = Int(request.offset)
        var remaining = request.limit == 0 ? Int.max : Int(request.limit)
        while remaining > 0 {
            let page = try await storage("list syncs") { try await repository.page(offset: offset, limit: min(remaining, 500)) }
            for row in page {
                try await response.write(
                    .with {
                        $0.syncID = row.id.uuidString.lowercased()
                        $0.status = row.status
                        $0.remoteDirectoryURL = MaskedURL.withoutUserinfo(row.remoteDirectoryURL)
                    })
            }
            if page.count < min(remaining, 500) { break }
            offset += page.count
            remaining -= page.count
        }
    }

    public func getSync(request: Agntcy_Dir_Store_V1_GetSyncRequest, context: ServerContext) async throws
        -> Agntcy_Dir_Store_V1_GetSyncResponse
    {
        let row = try await existing(request.syncID)
        return .with {
            $0.syncID = row.id.uuidString.lowercased()
            $0.status = row.status
            $0.remoteDirectoryURL = MaskedURL.withoutUserinfo(row.remoteDirectoryURL)
            $0.createdTime = RFC3339.format(row.createdAt)
            $0.lastUpdateTime = RFC3339.format(row.updatedAt)
        }
    }

    public func deleteSync(request: Agntcy_Dir_Store_V1_DeleteSyncRequest, context: ServerContext) async throws
        -> Agntcy_Dir_Store_V1_DeleteSyncResponse
    {
        let row = try await existing(request.syncID)
        guard row.status != .deleted else { throw SyncError.alreadyDeleted }
        let moved = try await storage("delete sync") {
            try await repository.transition(row.id, to: .deletePending, from: [.pending, .inProgress, .failed, .unspecified])
        }
        if moved {
            // A running round notices within seconds; this job finishes the deletion if none is running.
            try await storage("enqueue sync deletion") { try await SyncMirror.enqueueDeletion(row.id, jobs: jobs) }
        } else if try await storage("get sync", { try await repository.find(row.id) })?.status == .deleted {
            throw SyncError.alreadyDeleted
        }
        return .init()
    }

    public func requestRegistryCredentials(request: Agntcy_Dir_Store_V1_RequestRegistryCredentialsRequest, context: ServerContext)
        async throws -> Agntcy_Dir_Store_V1_RequestRegistryCredentialsResponse
    {
        guard !request.requestingNodeID.isEmpty else {
            return .with {
                $0.success = false
                $0.errorMessage = "requesting node ID is required"
            }
        }
        guard request.requestingNodeID.utf8.count <= 256, PostgresText.canStore(request.requestingNodeID) else {
            throw RPCError(code: .invalidArgument, message: "requesting_node_id is longer than 256 bytes or contains NUL")
        }
        guard credentialRequests.take(KeyedRateLimiter.callerKey(remotePeer: context.remotePeer)) else {
            throw RPCError(
                code: .resourceExhausted,
                message: "too many registry credential requests from this address: "
                    + "at most \(credentialRequests.burst) at once and \(credentialRequests.perMinute) a minute")
        }
        let issued: Wharf_Store_V1_IssuedCredentials
        do {
            issued = try await local.issueCredentials(nodeID: request.requestingNodeID, ttl: settings.credentialTTL)
        } catch let error as RPCError {
            logger.warning("the local store did not issue registry credentials", metadata: ["error": "\(error)"])
            if error.code == .resourceExhausted { throw RPCError(code: .resourceExhausted, message: error.message) }
            throw RPCError(code: .unavailable, message: "registry credentials could not be issued: \(error.message)")
        }
        logger.info("registry credentials handed out", metadata: ["node": "\(request.requestingNodeID)", "username": "\(issued.username)"])
        return .with {
            $0.success = true
            $0.remoteRegistryURL = issued.registryAddress
            $0.basicAuth = .with {
                $0.username = issued.username
                $0.password = issued.password
            }
        }
    }

    private func existing(_ text: String) async throws -> SyncRepository.Row {
        guard let id = UUID(uuidString: text),
            let row = try await storage("get sync", { try await repository.find(id) })
        else {
            throw SyncError.notFound(text)
        }
        return row
    }

    /// Runs a database call; an unexpected failure is logged with context and becomes UNAVAILABLE.
    private func storage<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(operation, logger: logger, "sync storage failed", as: SyncError.storage, body)
    }
}

/// Timestamps as RFC 3339 in UTC (`2026-12-02T22:10:05Z`), as Go's `time.RFC3339` prints them.
enum RFC3339 {
    static func format(_ date: Date) -> String {
        date.formatted(.iso8601)
    }
}
