import GRPCCore
import Logging
import ServiceLifecycle
import WharfProto
import WharfRuntime

/// `/v1sync.BackrestSyncStateService/GetPeerSyncStatesStream`: the state of every authorized client that has
/// one, then (with `subscribe`) every change as a full PeerState, on any replica (Redis carries the keyid,
/// PostgreSQL the state). Backrest serves it behind its UI login: here it needs the admin token.
public struct BackrestSyncStateService: V1sync_BackrestSyncStateService.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [
        V1sync_BackrestSyncStateService.Method.GetPeerSyncStatesStream.descriptor,
        V1sync_BackrestSyncStateService.Method.SetRemoteClientConfig.descriptor,
    ]
    /// How long SetRemoteClientConfig waits for the client's session (on any replica) to take the config.
    static let deliveryWait: Duration = .seconds(5)

    let clients: BackrestClients
    let peerStates: PeerStates
    let configPushes: ConfigPushes
    let logger: Logger

    /// Backrest 1.13+'s config push: forwarded as `set_config` to the connected client, whichever replica holds
    /// its session; NOT_FOUND when it is not connected (as backrest). Nothing waits for a later connection here
    /// (`wharf.sync.v1.BackrestHub/PushConfig` does that).
    public func setRemoteClientConfig(
        request: Wharf_Backrest_Protocol3_SetRemoteClientConfigRequest, context: ServerContext
    ) async throws -> Wharf_Backrest_Protocol3_SetRemoteClientConfigResponse {
        guard !request.peerKeyid.isEmpty, request.peerKeyid.utf8.count <= 256 else {
            throw RPCError(code: .invalidArgument, message: "peer_keyid is required (at most 256 bytes)")
        }
        let keyid = request.peerKeyid
        guard let client = try await storage({ try await clients.find(keyid: keyid) }) else {
            throw RPCError(code: .notFound, message: "peer \"\(keyid)\" is not connected (no authorized client has this keyid)")
        }
        // A 1.11–1.12 client ends its session on a set_config it may not apply: never sent one.
        guard client.protocolVersion == 3 || client.acceptsConfigPushes else {
            throw RPCError(code: .failedPrecondition, message: "client \(client.instanceID) does not hold PERMISSION_READ_WRITE_CONFIG")
        }
        guard try await storage({ try await peerStates.find(keyid: keyid) })?.state == .connected else {
            throw RPCError(code: .notFound, message: "peer \"\(keyid)\" is not connected")
        }
        let setConfig = V1sync_SyncStreamItem.SyncActionSetConfig.with {
            $0.repos = request.repos
            $0.plans = request.plans
            $0.reposToDelete = request.reposToDelete
            $0.plansToDelete = request.plansToDelete
        }
        try await storage { try await configPushes.queue(setConfig, for: keyid) }
        let clock = ContinuousClock()
        let deadline = clock.now + Self.deliveryWait
        while clock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
            if !(try await storage({ try await configPushes.isPending(for: keyid) })) { return .init() }
        }
        // Not taken: withdrawn rather than left for a later session, which this call did not ask for.
        try await storage { _ = try await configPushes.take(for: keyid) }
        throw RPCError(code: .unavailable, message: "peer \"\(keyid)\" did not take the config within \(Self.deliveryWait); it may have disconnected")
    }

    private func storage<T>(_ body: () async throws -> T) async throws -> T {
        try await withLoggedFailure(
            "set remote client config", logger: logger, "backrest hub storage failed",
            as: { RPCError(code: .internalError, message: "failed to \($0)") }, body)
    }

    public func getPeerSyncStatesStream(
        request: V1sync_SyncStateStreamRequest, response: RPCWriter<V1sync_PeerState>,
        context: ServerContext
    ) async throws {
        // Subscribed before the current states are read, so no change falls between the two.
        let changes = request.subscribe ? peerStates.changes() : nil
        let keyids = try await clients.all().map(\.keyid)
        for state in try await peerStates.states(of: keyids) { try await response.write(state) }
        guard let changes else { return }
        let peerStates = peerStates
        do {
            // A replica shutting down ends its watchers' streams rather than holding its shutdown for the grace
            // period: they reconnect to another replica and get the current states again.
            try await cancelWhenGracefulShutdown {
                for await keyid in changes {
                    guard let state = try await peerStates.find(keyid: keyid) else { continue }
                    try await response.write(state)
                }
            }
        } catch is CancellationError where Task.isShuttingDownGracefully {
            throw RPCError(code: .unavailable, message: "this hub replica is shutting down; subscribe again")
        }
    }
}
