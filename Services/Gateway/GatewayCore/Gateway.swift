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
    private let clusters: [String: UpstreamCluster]
    private let pools: [ObjectIdentifier: UpstreamConnections]
    /// Route → accepted bearer tokens (routes without an entry need none).
    private let tokens: [String: Set<String>]

    init(settings: GatewaySettings, maximumMessageBytes: Int, metrics: RouteMetrics, group: MultiThreadedEventLoopGroup, logger: Logger) {
        self.metrics = metrics
        routes = settings.routes
        self.maximumMessageBytes = maximumMessageBytes
        self.logger = logger
        accessLog = settings.accessLog
        tokens = settings.tokens
        let clusters = Dictionary(uniqueKeysWithValues: settings.routes.routes.values.map { route in
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

    func cluster(named route: String) -> UpstreamCluster? { clusters[route] }

    /// The pool of the calling event loop (stream handlers run on their connection's loop).
    func connections(on loop: any EventLoop) -> UpstreamConnections {
        guard let pool = pools[ObjectIdentifier(loop)] else {
            preconditionFailure("the gateway's streams run on its own event loops")
        }
        return pool
    }

    /// nil when the request may use `route`; otherwise why not.
    func authorize(_ headers: HPACKHeaders, route: String) -> String? {
        guard let accepted = tokens[route] ?? tokens["*"] else { return nil }
        guard let value = headers.first(name: "authorization"), value.hasPrefix("Bearer ") else {
            return "missing bearer token for \(route)"
        }
        return accepted.contains(String(value.dropFirst("Bearer ".count))) ? nil : "invalid bearer token for \(route)"
    }
}
