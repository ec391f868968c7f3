import GRPCCore
import Logging
import ServiceLifecycle
import WharfProto
import WharfRuntime

/// `/v1sync.BackrestSyncStateService/GetPeerSyncStatesStream`: the state of every authorized client that has
/// one, then (with `subscribe`) every change as a full PeerState, on any replica (Redis carries the keyid,
/// PostgreSQL the state). Backrest serves it behind its UI login: here it needs the admin token.
public struct BackrestSyncStateService: V1sync_BackrestSyncStateService.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [V1sync_BackrestSyncStateService.Method.GetPeerSyncStatesStream.descriptor]

    let clients: BackrestClients
    let peerStates: PeerStates
    let logger: Logger

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
