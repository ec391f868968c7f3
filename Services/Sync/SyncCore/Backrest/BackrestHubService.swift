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
    ]

    let identity: BackrestIdentity
    let instanceID: String
    let clients: BackrestClients
    let configPushes: ConfigPushes
    let events: EventBus
    let logger: Logger

    public func getIdentity(request: Wharf_Sync_V1_GetIdentityRequest, context: ServerContext) async throws -> Wharf_Sync_V1_HubIdentity {
        .with {
            $0.instanceID = instanceID
            $0.keyid = identity.publicKey.keyid
            $0.publicKeyPem = identity.publicKey.pem
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
        // The client itself refuses set_config without write-config permission (and ends its session), so the
        // hub never sends one it would refuse.
        guard client.acceptsConfigPushes else {
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
        }
    }

    private func storage<T>(_ operation: String, _ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(
            operation, logger: logger, "backrest hub storage failed",
            as: { RPCError(code: .internalError, message: "failed to \($0)") }, body)
    }
}
