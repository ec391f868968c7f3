import Foundation
import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// `wharf.sync.v1.BackrestHub`: the hub's identity (open: it is what clients are configured with) and the
/// operator's controls over authorized clients and config pushes (admin token).
public struct BackrestHubService: Wharf_Sync_V1_BackrestHub.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [
        Wharf_Sync_V1_BackrestHub.Method.AddClient.descriptor, Wharf_Sync_V1_BackrestHub.Method.RemoveClient.descriptor,
        Wharf_Sync_V1_BackrestHub.Method.ListClients.descriptor, Wharf_Sync_V1_BackrestHub.Method.PushConfig.descriptor,
        Wharf_Sync_V1_BackrestHub.Method.CreatePairingToken.descriptor, Wharf_Sync_V1_BackrestHub.Method.ListPairingTokens.descriptor,
        Wharf_Sync_V1_BackrestHub.Method.RevokePairingToken.descriptor, Wharf_Sync_V1_BackrestHub.Method.ListRefusedPeers.descriptor,
        Wharf_Sync_V1_BackrestHub.Method.PutSharedRepo.descriptor, Wharf_Sync_V1_BackrestHub.Method.RemoveSharedRepo.descriptor,
        Wharf_Sync_V1_BackrestHub.Method.ListSharedRepos.descriptor, Wharf_Sync_V1_BackrestHub.Method.ListOperations.descriptor,
    ]

    let identity: BackrestIdentity
    let ed25519: Result<BackrestEd25519Identity, ConfigurationProblem>
    let instanceID: String
    let clients: BackrestClients
    let pairingTokens: PairingTokens
    let peerStates: PeerStates
    let sharedRepos: SharedRepos
    let configPushes: ConfigPushes
    let operations: OperationStore
    let events: EventBus
    let logger: Logger

    public func getIdentity(request: Wharf_Sync_V1_GetIdentityRequest, context: ServerContext) async throws -> Wharf_Sync_V1_HubIdentity {
        .with {
            $0.instanceID = instanceID
            $0.keyid = identity.publicKey.keyid
            $0.publicKeyPem = identity.publicKey.pem
            if case .success(let ed25519) = ed25519 {
                $0.ed25519Keyid = ed25519.keyid
                $0.ed25519PublicKey = ed25519.publicKeyText
            }
        }
    }

    public func createPairingToken(
        request: Wharf_Sync_V1_CreatePairingTokenRequest, context: ServerContext
    ) async throws -> Wharf_Sync_V1_CreatePairingTokenResponse {
        guard case .success(let ed25519) = ed25519 else {
            throw RPCError(code: .failedPrecondition, message: "the hub has no ed25519 identity, so no client can pair with it (see its log)")
        }
        let maximumSeconds = PairingTokens.maximumLifetime.components.seconds
        guard (1...maximumSeconds).contains(request.ttlSeconds) else {
            throw RPCError(code: .invalidArgument, message: "ttl_seconds must be 1 to \(maximumSeconds) (365 days)")
        }
        guard request.maxUses >= 0 else { throw RPCError(code: .invalidArgument, message: "max_uses must be 0 (unlimited) or more") }
        guard request.label.utf8.count <= 256, PostgresText.canStore(request.label) else {
            throw RPCError(code: .invalidArgument, message: "label must be at most 256 bytes without NUL")
        }
        if let problem = BackrestClients.permissionsProblem(request.permissions) { throw RPCError(code: .invalidArgument, message: problem) }
        let (token, secret) = try await storage("create pairing token") {
            try await pairingTokens.create(
                label: request.label, lifetime: .seconds(request.ttlSeconds), maxUses: request.maxUses, permissions: request.permissions)
        }
        logger.notice("backrest pairing token created", metadata: ["token": "\(token.id)", "max_uses": "\(token.maxUses)"])
        return .with {
            $0.token = PairingTokens.text(hubKeyID: ed25519.keyid, secret: secret, hubInstanceID: instanceID)
            $0.pairingToken = Self.proto(token)
        }
    }

    public func listPairingTokens(
        request: Wharf_Sync_V1_ListPairingTokensRequest, context: ServerContext
    ) async throws -> Wharf_Sync_V1_ListPairingTokensResponse {
        let tokens = try await storage("list pairing tokens") { try await pairingTokens.active() }
        return .with { $0.tokens = tokens.map(Self.proto) }
    }

    public func revokePairingToken(
        request: Wharf_Sync_V1_RevokePairingTokenRequest, context: ServerContext
    ) async throws -> Wharf_Sync_V1_RevokePairingTokenResponse {
        guard !request.id.isEmpty, request.id.utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "id is required (at most 256 bytes)")
        }
        let revoked = try await storage("revoke pairing token") { try await pairingTokens.revoke(id: request.id) }
        guard revoked else { throw RPCError(code: .notFound, message: "no pairing token \(request.id) can still pair a client") }
        logger.notice("backrest pairing token revoked", metadata: ["token": "\(request.id)"])
        return .with { $0.revoked = true }
    }

    public func listRefusedPeers(
        request: Wharf_Sync_V1_ListRefusedPeersRequest, context: ServerContext
    ) async throws -> Wharf_Sync_V1_ListRefusedPeersResponse {
        let peers = try await storage("list refused peers") { try await peerStates.strangers() }
        return .with { $0.peers = peers }
    }

    public func putSharedRepo(request: Wharf_Sync_V1_PutSharedRepoRequest, context: ServerContext) async throws -> Wharf_Sync_V1_PutSharedRepoResponse
    {
        if let problem = SharedRepos.problem(request.repo) { throw RPCError(code: .invalidArgument, message: problem) }
        let stored: Bool = try await storage("share repo") {
            do {
                try await sharedRepos.put(request.repo)
                return true
            } catch is SharedRepos.TooMany {
                return false
            }
        }
        guard stored else { throw RPCError(code: .resourceExhausted, message: "the hub shares at most \(SharedRepos.maximumCount) repos") }
        logger.notice("backrest repo shared", metadata: ["repo": "\(request.repo.id)"])
        return .with { $0.repo = request.repo }
    }

    public func removeSharedRepo(
        request: Wharf_Sync_V1_RemoveSharedRepoRequest, context: ServerContext
    ) async throws -> Wharf_Sync_V1_RemoveSharedRepoResponse {
        guard !request.id.isEmpty, request.id.utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "id is required (at most 256 bytes)")
        }
        let removed = try await storage("stop sharing repo") { try await sharedRepos.remove(id: request.id) }
        guard removed else { throw RPCError(code: .notFound, message: "the hub shares no repo \(request.id)") }
        return .with { $0.removed = true }
    }

    public func listSharedRepos(request: Wharf_Sync_V1_ListSharedReposRequest, context: ServerContext) async throws
        -> Wharf_Sync_V1_ListSharedReposResponse
    {
        let repos = try await storage("list shared repos") { try await sharedRepos.all() }
        return .with { $0.repos = repos }
    }

    /// Operations listed at most per call.
    static let maximumListedOperations = 1_000

    public func listOperations(request: Wharf_Sync_V1_ListOperationsRequest, context: ServerContext) async throws
        -> Wharf_Sync_V1_ListOperationsResponse
    {
        guard request.limit <= Self.maximumListedOperations else {
            throw RPCError(code: .invalidArgument, message: "limit \(request.limit) is above \(Self.maximumListedOperations)")
        }
        if !request.kind.isEmpty, !OperationKind.all.contains(request.kind) {
            throw RPCError(
                code: .invalidArgument, message: "kind must be one of \(OperationKind.all.joined(separator: ", ")) or empty")
        }
        for (field, text) in [("keyid", request.keyid), ("plan_id", request.planID)]
        where text.utf8.count > 1024 || !PostgresText.canStore(text) {
            throw RPCError(code: .invalidArgument, message: "\(field) is longer than 1024 bytes or contains NUL")
        }
        let status: V1_OperationStatus?
        switch request.status {
        case .statusUnknown: status = nil
        case .UNRECOGNIZED(let value): throw RPCError(code: .invalidArgument, message: "status \(value) is no OperationStatus")
        default: status = request.status
        }
        let found = try await storage("list operations") {
            try await operations.recent(
                peerKeyID: request.keyid, planID: request.planID, kind: request.kind, status: status,
                limit: request.limit == 0 ? 100 : Int(request.limit))
        }
        return .with { response in
            response.operations = found.map { entry in
                .with {
                    $0.keyid = entry.keyid
                    $0.operation = entry.operation
                }
            }
        }
    }

    static func proto(_ token: PairingTokens.Token) -> Wharf_Sync_V1_PairingToken {
        .with {
            $0.id = token.id
            $0.label = token.label
            $0.createdAt = RFC3339.format(token.createdAt)
            $0.expiresAt = RFC3339.format(token.expiresAt)
            $0.maxUses = token.maxUses
            $0.uses = token.uses
            $0.permissions = token.permissions
        }
    }

    public func addClient(request: Wharf_Sync_V1_AddClientRequest, context: ServerContext) async throws -> Wharf_Sync_V1_BackrestClient {
        if let problem = BackrestClients.problem(instanceID: request.instanceID, keyid: request.keyid, permissions: request.permissions) {
            throw RPCError(code: .invalidArgument, message: problem)
        }
        let client = try await storage("add client") {
            try await clients.put(instanceID: request.instanceID, keyid: request.keyid, permissions: request.permissions)
        }
        logger.notice("backrest client authorized", metadata: ["keyid": "\(client.keyid)", "instance": "\(client.instanceID)"])
        await events.publishIgnoringFailure(BackrestClientChanged(keyid: client.keyid))
        return Self.proto(client)
    }

    public func removeClient(request: Wharf_Sync_V1_RemoveClientRequest, context: ServerContext) async throws -> Wharf_Sync_V1_RemoveClientResponse {
        guard !request.keyid.isEmpty, request.keyid.utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "keyid is required (at most 256 bytes)")
        }
        let removed = try await storage("remove client") { try await clients.remove(keyid: request.keyid) }
        if removed {
            logger.notice("backrest client removed", metadata: ["keyid": "\(request.keyid)"])
            await events.publishIgnoringFailure(BackrestClientChanged(keyid: request.keyid))
        }
        return .with { $0.removed = removed }
    }

    public func listClients(request: Wharf_Sync_V1_ListClientsRequest, context: ServerContext) async throws -> Wharf_Sync_V1_ListClientsResponse {
        let all = try await storage("list clients") { try await clients.all() }
        return .with { $0.clients = all.map(Self.proto) }
    }

    public func pushConfig(request: Wharf_Sync_V1_PushConfigRequest, context: ServerContext) async throws -> Wharf_Sync_V1_PushConfigResponse {
        guard !request.keyid.isEmpty, request.keyid.utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "keyid is required (at most 256 bytes)")
        }
        guard let client = try await storage("push config", { try await clients.find(keyid: request.keyid) }) else {
            throw RPCError(code: .notFound, message: "no authorized backrest client has keyid \(request.keyid)")
        }
        // A 1.11–1.12 client refuses set_config without write-config permission (and ends its session), so the
        // hub never sends one it would refuse. A 1.13+ client checks its own grants to the hub (not visible here).
        guard client.protocolVersion == 3 || client.acceptsConfigPushes else {
            throw RPCError(code: .failedPrecondition, message: "client \(client.instanceID) does not hold PERMISSION_READ_WRITE_CONFIG")
        }
        try await storage("push config") { try await configPushes.queue(request.setConfig, for: client.keyid) }
        // A connected session (on any replica) takes it within moments; otherwise it waits for the next connection.
        for _ in 0..<20 {
            try await Task.sleep(for: .milliseconds(100))
            if !(try await storage("push config", { try await configPushes.isPending(for: client.keyid) })) { return .with { $0.delivered = true } }
        }
        return .with { $0.delivered = false }
    }

    static func proto(_ client: BackrestClients.Client) -> Wharf_Sync_V1_BackrestClient {
        .with {
            $0.instanceID = client.instanceID
            $0.keyid = client.keyid
            $0.permissions = client.permissions
            $0.addedAt = RFC3339.format(client.addedAt)
            $0.pairedWithToken = client.pairedWithToken ?? ""
        }
    }

    private func storage<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(
            operation, logger: logger, "backrest hub storage failed",
            as: { RPCError(code: .internalError, message: "failed to \($0)") }, body)
    }
}
