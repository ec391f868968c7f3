import GRPCCore
import WharfRuntime

/// Who a routing peer is, proven by a secret this node shares with it (`WHARF_ROUTING_PEER_SECRETS`): every
/// call one node makes to another carries the caller's own peer id and the secret of that pair, and an
/// announcement is accepted only for the id its secret proves. Secrets travel as metadata: use TLS between
/// nodes that do not share a trusted network.
public struct PeerCredentials: Sendable {
    public static let idKey = "wharf-peer-id"
    public static let secretKey = "wharf-peer-secret"

    /// This node's id, sent with its calls.
    let ownID: String
    /// Peer id → the secret shared with it.
    let secrets: [String: SharedSecret]

    public init(ownID: String, secrets: [String: SharedSecret]) {
        self.ownID = ownID
        self.secrets = secrets
    }

    /// The metadata of a call to `peer` (empty when no secret is shared with it).
    func metadata(to peer: String) -> Metadata {
        guard let secret = secrets[peer] else { return [:] }
        var metadata = Metadata()
        metadata.addString(ownID, forKey: Self.idKey)
        metadata.addString(secret.text, forKey: Self.secretKey)
        return metadata
    }

    /// The peer `metadata` proves the caller is, or why it proves none (UNAUTHENTICATED).
    func provenPeer(_ metadata: Metadata) -> Result<String, RPCError> {
        let ids = Array(metadata[stringValues: Self.idKey])
        let presented = Array(metadata[stringValues: Self.secretKey])
        guard let id = ids.first, let secret = presented.first, ids.count == 1, presented.count == 1 else {
            return .failure(
                RPCError(
                    code: .unauthenticated,
                    message: "peer calls need the metadata \(Self.idKey) and \(Self.secretKey) (WHARF_ROUTING_PEER_SECRETS)"))
        }
        // The same answer for an unknown id and a wrong secret: the answer must not tell which ids are configured.
        guard let expected = secrets[id], expected.matches(secret) else {
            return .failure(RPCError(code: .unauthenticated, message: "the peer credential sent for \(id.prefix(100)) is not valid on this node"))
        }
        return .success(id)
    }

    /// `id=secret,id=secret` for the configured `peers`: every peer needs one, and only they may have one.
    static func parse(_ text: String, peers: [RoutingPeer]) throws(ConfigurationProblem) -> [String: SharedSecret] {
        var secrets: [String: SharedSecret] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ConfigurationProblem("expected id=secret, got an entry without \"=\"") }
            guard peers.contains(where: { $0.id == parts[0] }) else {
                throw ConfigurationProblem("peer \(parts[0]) has a secret but is not in WHARF_ROUTING_PEERS")
            }
            guard let secret = SharedSecret(parts[1]) else {
                throw ConfigurationProblem("the secret of peer \(parts[0]) must be \(SharedSecret.requirement)")
            }
            secrets[parts[0]] = secret
        }
        if let missing = peers.first(where: { secrets[$0.id] == nil }) {
            throw ConfigurationProblem("peer \(missing.id) of WHARF_ROUTING_PEERS has no secret: each peer needs one (id=secret)")
        }
        return secrets
    }
}
