import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import WharfProto
import WharfRuntime

/// The configured peer routing services, asked in parallel with a deadline each. A peer that fails or
/// times out is skipped (and logged): its absence degrades an answer, it never fails it. Forwarded
/// requests carry the remaining hop budget and the peers already on the path in metadata, so requests
/// neither loop nor travel further than asked.
public final class PeerNetwork: Service, Sendable {
    static let hopsKey = "wharf-routing-hops-left"
    static let pathKey = "wharf-routing-path"

    struct Connection: Sendable {
        var peer: RoutingPeer
        var client: GRPCClient<HTTP2ClientTransport.Posix>
    }

    let connections: [Connection]
    let credentials: PeerCredentials
    let timeout: Duration
    let logger: Logger

    public init(peers: [RoutingPeer], credentials: PeerCredentials, timeout: Duration, logger: Logger) throws {
        connections = try peers.map { peer in
            let transport = try HTTP2ClientTransport.Posix(
                target: .dns(host: peer.address.host, port: peer.address.port), transportSecurity: .plaintext,
                config: .defaults {
                    $0.connection.maxIdleTime = nil
                    // A peer that was down is retried soon: requests wait for it (up to the deadline).
                    $0.backoff = .init(initial: .milliseconds(100), max: .seconds(5), multiplier: 1.6, jitter: 0.2)
                })
            return Connection(peer: peer, client: GRPCClient(transport: transport))
        }
        self.credentials = credentials
        self.timeout = timeout
        self.logger = logger
    }

    public func run() async throws {
        guard !connections.isEmpty else { return }
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                for connection in connections { group.addTask { try await connection.client.runConnections() } }
            }
        } onGracefulShutdown: {
            for connection in self.connections { connection.client.beginGracefulShutdown() }
        }
    }

    /// Hop budget and path of an incoming request (a client's request has neither).
    struct Forwarding: Sendable {
        var hops: Int
        var path: [String]

        init(hops: Int, path: [String]) {
            self.hops = hops
            self.path = path
        }

        /// The budget is the server's (`budget`): a forwarded request may lower it, never raise it.
        init(metadata: Metadata, budget: Int) {
            let hopsText = metadata[stringValues: PeerNetwork.hopsKey].first(where: { _ in true })
            hops = hopsText.flatMap { Int($0) }.map { max(0, min($0, budget)) } ?? budget
            path =
                metadata[stringValues: PeerNetwork.pathKey].first(where: { _ in true })?
                .split(separator: ",").map(String.init) ?? []
        }

        func metadata(adding node: String, credentials: Metadata) -> Metadata {
            var metadata = credentials
            metadata.addString("\(hops - 1)", forKey: PeerNetwork.hopsKey)
            metadata.addString((path + [node]).joined(separator: ","), forKey: PeerNetwork.pathKey)
            return metadata
        }
    }

    /// Asks every peer not already on the path (when hops remain) and collects what each answered in time.
    func ask<Answer: Sendable>(
        _ forwarding: Forwarding, from node: String,
        _ call: @escaping @Sendable (GRPCClient<HTTP2ClientTransport.Posix>, Metadata, CallOptions) async throws -> [Answer]
    ) async -> [Answer] {
        guard forwarding.hops > 0 else { return [] }
        // Wait for a connecting peer rather than failing at once; the deadline bounds the wait.
        let options = {
            var options = CallOptions.defaults; options.timeout = timeout; options.waitForReady = true; return options
        }()
        let targets = connections.filter { !forwarding.path.contains($0.peer.id) && $0.peer.id != node }
        return await withTaskGroup(of: [Answer].self) { group in
            for connection in targets {
                group.addTask { [logger, timeout, credentials] in
                    do {
                        let metadata = forwarding.metadata(adding: node, credentials: credentials.metadata(to: connection.peer.id))
                        return try await withDeadline(timeout) { try await call(connection.client, metadata, options) }
                    } catch {
                        logger.warning("routing peer skipped", metadata: ["peer": "\(connection.peer.id)", "error": "\(error)"])
                        return []
                    }
                }
            }
            return await group.reduce(into: []) { $0 += $1 }
        }
    }

    /// Sends `request` to every peer (each under the deadline); returns the ids of those that did not take it.
    func announce(_ request: Wharf_Routing_V1_AnnounceRequest) async -> [String] {
        let options = {
            var options = CallOptions.defaults; options.timeout = timeout * 5; options.waitForReady = true; return options
        }()
        return await withTaskGroup(of: String?.self) { group in
            for connection in connections {
                group.addTask { [logger, credentials] in
                    do {
                        _ = try await Wharf_Routing_V1_PeerAnnouncements.Client(wrapping: connection.client).announce(
                            request, metadata: credentials.metadata(to: connection.peer.id), options: options)
                        return nil
                    } catch {
                        logger.warning("routing peer did not take an announcement", metadata: ["peer": "\(connection.peer.id)", "error": "\(error)"])
                        return connection.peer.id
                    }
                }
            }
            return await group.reduce(into: []) { if let failed = $1 { $0.append(failed) } }
        }
    }
}
