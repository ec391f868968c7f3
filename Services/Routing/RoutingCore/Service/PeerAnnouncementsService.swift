import GRPCCore
import Logging
import WharfProto
import WharfRuntime

/// `wharf.routing.v1.PeerAnnouncements`: stores what configured peers announce. The caller proves which peer
/// it is with the secret this node shares with it (UNAUTHENTICATED otherwise) and may announce only for that
/// peer (PERMISSION_DENIED for another id); a request carries at most `maximumEntries` records
/// (RESOURCE_EXHAUSTED), and every CID must be non-empty (INVALID_ARGUMENT).
public struct PeerAnnouncementsService: Wharf_Routing_V1_PeerAnnouncements.ServiceProtocol {
    static let maximumEntries = 10_000

    let index: LabelIndex
    let credentials: PeerCredentials
    let logger: Logger

    public func announce(request: ServerRequest<Wharf_Routing_V1_AnnounceRequest>, context: ServerContext) async throws -> ServerResponse<
        Wharf_Routing_V1_AnnounceResponse
    > {
        let proven = try credentials.provenPeer(request.metadata).get()
        return ServerResponse(message: try await announce(request.message, from: proven))
    }

    func announce(_ request: Wharf_Routing_V1_AnnounceRequest, from proven: String) async throws -> Wharf_Routing_V1_AnnounceResponse {
        let peer = request.peer.id
        guard !peer.isEmpty else { throw RPCError(code: .invalidArgument, message: "announcement without a peer id") }
        guard peer == proven else {
            throw RPCError(code: .permissionDenied, message: "the credential sent proves peer \(proven); it may not announce for \(peer.prefix(100))")
        }
        let entries = request.provided.count + request.withdrawnCids.count
        guard entries <= Self.maximumEntries else {
            throw RPCError(code: .resourceExhausted, message: "announcement of \(entries) records; at most \(Self.maximumEntries) per request")
        }
        guard !request.provided.contains(where: { $0.recordCid.isEmpty }), !request.withdrawnCids.contains(where: \.isEmpty) else {
            throw RPCError(code: .invalidArgument, message: "announcement with an empty record_cid")
        }
        if let long = (request.provided.map(\.recordCid) + request.withdrawnCids).first(where: { $0.utf8.count > RoutingLimits.maximumQueryBytes }) {
            throw RPCError(
                code: .invalidArgument,
                message: "announcement with a record_cid of \(long.utf8.count) bytes; at most \(RoutingLimits.maximumQueryBytes)")
        }
        guard PostgresText.canStoreAll(request.provided.map(\.recordCid) + request.withdrawnCids + request.peer.addrs + [peer]) else {
            throw RPCError(code: .invalidArgument, message: "announcement with a NUL character (U+0000) in a CID, an address or the peer id")
        }
        for entry in request.provided {
            if let problem = RoutingLimits.labelProblem(entry.labels) {
                throw RPCError(code: .invalidArgument, message: "announced record \(entry.recordCid.prefix(100)) has \(problem)")
            }
        }
        guard request.peer.addrs.count <= RoutingLimits.maximumPeerAddresses,
            !request.peer.addrs.contains(where: { $0.utf8.count > RoutingLimits.maximumQueryBytes })
        else {
            throw RPCError(
                code: .invalidArgument,
                message:
                    "announcing peer has more than \(RoutingLimits.maximumPeerAddresses) addresses or one longer than \(RoutingLimits.maximumQueryBytes) bytes"
            )
        }
        do {
            let applied = try await index.applyAnnouncement(
                peerID: peer, addrs: request.peer.addrs,
                provided: request.provided.map { ($0.recordCid, $0.labels) }, withdrawn: request.withdrawnCids)
            return .with { $0.applied = UInt32(applied) }
        } catch {
            logger.error("storing an announcement failed", metadata: ["peer": "\(peer)", "error": "\(String(reflecting: error))"])
            throw RPCError(code: .internalError, message: "failed to store the announcement")
        }
    }
}
