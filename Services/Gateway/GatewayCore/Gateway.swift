import Logging
import NIOCore
import NIOHPACK
import NIOPosix
import WharfRuntime

/// What every stream handler of the gateway shares: routes, clusters, per-event-loop connection pools,
/// metrics and health.
final class Gateway: Sendable {
    let routes: RouteTable
    let logger: Logger
    let metrics: RouteMetrics
    let accessLog: Bool
    /// Largest Connect unary request the bridge buffers (the services' own limit).
    let maximumMessageBytes: Int
    let health: GatewayHealth
    /// The node's admin token: `wharf.gateway.v1.GatewayStatus` names internal addresses and needs it.
    let adminToken: SharedSecret?
    private let clusters: [String: UpstreamCluster]
    private let pools: [ObjectIdentifier: UpstreamConnections]
    /// Route → accepted bearer tokens (routes without an entry need none).
    private let tokens: [String: [[UInt8]]]
    private let passAuthorization: Set<String>

    init(
        settings: GatewaySettings, maximumMessageBytes: Int, adminToken: SharedSecret?, metrics: RouteMetrics,
        group: MultiThreadedEventLoopGroup, logger: Logger
    ) {
        self.metrics = metrics
        self.adminToken = adminToken
        routes = settings.routes
        self.maximumMessageBytes = maximumMessageBytes
        self.logger = logger
        accessLog = settings.accessLog
        tokens = settings.tokens
        passAuthorization = settings.passAuthorization
        let clusters = Dictionary(
            uniqueKeysWithValues: settings.routes.routes.values.map { route in
                (route.service, UpstreamCluster(route.cluster, balancing: settings.balancing, ejection: settings.ejectionTime))
            })
        self.clusters = clusters
        health = GatewayHealth(clusters: Array(clusters.values))
        var pools: [ObjectIdentifier: UpstreamConnections] = [:]
        for loop in group.makeIterator() {
            pools[ObjectIdentifier(loop)] = UpstreamConnections(eventLoop: loop, connectTimeout: settings.connectTimeout)
        }
        self.pools = pools
    }

    var allClusters: [UpstreamCluster] { Array(clusters.values) }

    /// Every route with its replicas' states, by service name (`wharf.gateway.v1.GatewayStatus/ListRoutes`).
    func routeStatuses() -> [(service: String, serving: Bool, replicas: [UpstreamCluster.ReplicaState])] {
        clusters.sorted { $0.key < $1.key }.map { service, cluster in
            (service, health.status(of: service) == .serving, cluster.replicaStates())
        }
    }

    func cluster(named route: String) -> UpstreamCluster? { clusters[route] }

    /// The pool of the calling event loop (stream handlers run on their connection's loop).
    func connections(on loop: any EventLoop) -> UpstreamConnections {
        guard let pool = pools[ObjectIdentifier(loop)] else {
            preconditionFailure("the gateway's streams run on its own event loops")
        }
        return pool
    }

    /// nil when a request carrying `authorization` may use `route`; otherwise why not. A service the
    /// gateway has no route for (`route` nil) is answered as a protected route would be when any tokens are
    /// configured: without a valid token nobody can tell which routes exist.
    func authorize(_ authorization: String?, route: String?) -> String? {
        let accepted: [[UInt8]]
        if let route {
            guard let tokens = tokens[route] ?? tokens["*"] else { return nil }
            accepted = tokens
        } else {
            guard !tokens.isEmpty else { return nil }
            accepted = tokens.values.flatMap { $0 }
        }
        let what = route ?? "this service"
        guard let value = authorization, value.hasPrefix("Bearer ") else { return "missing bearer token for \(what)" }
        return ConstantTime.matchesAny(value.utf8.dropFirst("Bearer ".utf8.count), of: accepted) ? nil : "invalid bearer token for \(what)"
    }

    /// Whether the client's `authorization` header goes on to the upstreams of `route` (it is the gateway's
    /// credential otherwise, and a backend must not see it).
    func forwardsAuthorization(_ route: String) -> Bool {
        passAuthorization.contains(route)
    }
}
