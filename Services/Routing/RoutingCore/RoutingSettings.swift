import Foundation
import WharfProto
import WharfRuntime

/// A routing service this node asks during Search and legacy List (`WHARF_ROUTING_PEERS`).
public struct RoutingPeer: Sendable, Hashable {
    public var id: String
    public var address: HostPort
}

/// The routing service's own settings.
public struct RoutingSettings: Sendable {
    public static let maximumHops = 20

    /// The store service records are read from.
    public var store: HostPort
    /// This node's identity in answers (`Peer.id`, `Peer.addrs`).
    public var peerID: String
    public var advertisedAddress: String
    public var peers: [RoutingPeer]
    /// The secret shared with each peer (`WHARF_ROUTING_PEER_SECRETS`), proving who calls whom.
    public var credentials: PeerCredentials
    /// How long a peer may take to answer a forwarded Search or List before it is skipped.
    public var peerTimeout: Duration
    /// How many hops a client's Search travels (1 = this node's peers, not theirs).
    public var searchHops: Int
    public var republishInterval: Duration
    /// Announcements from peers older than this are forgotten (upstream: 72 h).
    public var remoteTTL: Duration
    /// How often forgotten announcements are removed.
    public var expireInterval: Duration
    /// How often published records are checked against the store's table, for deletions whose
    /// `record.deleted` hint never arrived (also done at once when the Redis subscription comes back).
    public var reconcileInterval: Duration
    /// Keep every published record's match keys in this replica's memory and search there (PostgreSQL's
    /// GIN index answers while it loads, or when off).
    public var residentIndex: Bool
    public var limits: RoutingLimits

    public init(reader: EnvironmentReader) {
        store =
            reader.parsed("WHARF_ROUTING_STORE", default: "127.0.0.1:50051") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            } ?? HostPort(host: "127.0.0.1", port: 50051)
        peerID = reader.string("WHARF_ROUTING_PEER_ID", default: ProcessInfo.processInfo.hostName)
        advertisedAddress = reader.string("WHARF_ROUTING_ADVERTISE", default: "\(ProcessInfo.processInfo.hostName):50053")
        peers =
            reader.parsed("WHARF_ROUTING_PEERS", default: "", display: { $0.map { "\($0.id)=\($0.address)" }.joined(separator: ",") }) {
                text throws(ConfigurationProblem) in try Self.parsePeers(text)
            } ?? []
        let configuredPeers = peers
        let secretsText =
            reader.optionalString("WHARF_ROUTING_PEER_SECRETS", secret: true)
            ?? reader.optionalString("WHARF_ROUTING_PEER_SECRETS_FILE").flatMap { path -> String? in
                guard let data = FileManager.default.contents(atPath: path) else {
                    reader.fail("WHARF_ROUTING_PEER_SECRETS_FILE", "cannot read file \"\(path)\"")
                    return nil
                }
                return String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: ",")
            }
        var secrets: [String: SharedSecret] = [:]
        do {
            secrets = try PeerCredentials.parse(secretsText ?? "", peers: configuredPeers)
        } catch {
            reader.fail("WHARF_ROUTING_PEER_SECRETS", error.message)
        }
        credentials = PeerCredentials(ownID: peerID, secrets: secrets)
        peerTimeout = reader.duration("WHARF_ROUTING_PEER_TIMEOUT", default: .seconds(2), minimum: .milliseconds(10))
        searchHops = reader.int("WHARF_ROUTING_SEARCH_HOPS", default: 1, range: 0...Self.maximumHops)
        republishInterval = reader.duration("WHARF_ROUTING_REPUBLISH_INTERVAL", default: .seconds(36 * 3600), minimum: .seconds(1))
        remoteTTL = reader.duration("WHARF_ROUTING_REMOTE_TTL", default: .seconds(72 * 3600), minimum: .seconds(1))
        expireInterval = reader.duration("WHARF_ROUTING_EXPIRE_INTERVAL", default: .seconds(3600), minimum: .seconds(1))
        reconcileInterval = reader.duration("WHARF_ROUTING_RECONCILE_INTERVAL", default: .seconds(300), minimum: .seconds(1))
        residentIndex = reader.bool("WHARF_ROUTING_RESIDENT_INDEX", default: true)
        limits = RoutingLimits(reader: reader)
    }

    /// This node as answers name it.
    var selfPeer: Routing_V1_Peer {
        .with {
            $0.id = peerID
            $0.addrs = [advertisedAddress]
        }
    }

    /// `id=host:port,id=host:port` (an entry without `id=` uses its address as id).
    static func parsePeers(_ text: String) throws(ConfigurationProblem) -> [RoutingPeer] {
        var peers: [RoutingPeer] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            let address = try HostPort(parsing: parts.count == 2 ? parts[1] : parts[0])
            let id = parts.count == 2 ? parts[0] : address.description
            guard !id.isEmpty else { throw ConfigurationProblem("empty peer id in \"\(entry)\"") }
            peers.append(RoutingPeer(id: id, address: address))
        }
        return peers
    }
}
