import GRPCCore
import WharfProto

extension NegentropyService {
    /// RPCs behind the admin token: they change what the node syncs with (peers, start/stop), make it dial
    /// an address (SyncWithPeer, TriggerSync), or see and end other clients' sessions (ListSessions,
    /// CloseSession). Clients of the relay reach their own sessions through their WebSocket connection.
    public static let administrativeMethods: Set<MethodDescriptor> = {
        typealias Method = Orlysync_Negentropy_V1_NegentropyService.Method
        return [
            Method.Start.descriptor, Method.Stop.descriptor, Method.SyncWithPeer.descriptor,
            Method.AddPeer.descriptor, Method.RemovePeer.descriptor, Method.TriggerSync.descriptor,
            Method.ListSessions.descriptor, Method.CloseSession.descriptor,
        ]
    }()
}
