import Synchronization
import WharfProto

/// The gateway's own `grpc.health.v1.Health` answers: a route is SERVING while one of its addresses passed
/// its last probe; the gateway as a whole ("") while every route is.
final class GatewayHealth: Sendable {
    typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

    private let routes: [String]
    /// Route → addresses that passed their last probe.
    private let serving = Mutex<[String: Int]>([:])
    private let shuttingDown = Mutex(false)

    init(clusters: [UpstreamCluster]) {
        routes = clusters.map(\.name)
    }

    func update(route: String, servingAddresses: Int) {
        serving.withLock { $0[route] = servingAddresses }
    }

    func beginShutdown() { shuttingDown.withLock { $0 = true } }

    /// nil for a name that is neither "" nor a route (Check answers NOT_FOUND then).
    func status(of service: String) -> Status? {
        if shuttingDown.withLock({ $0 }) { return service.isEmpty || routes.contains(service) ? .notServing : nil }
        let serving = self.serving.withLock { $0 }
        if service.isEmpty {
            return routes.allSatisfy { (serving[$0] ?? 0) > 0 } ? .serving : .notServing
        }
        guard routes.contains(service) else { return nil }
        return (serving[service] ?? 0) > 0 ? .serving : .notServing
    }

    /// Routes without a serving address (for logs and the health failure message).
    var failingRoutes: [String] {
        let serving = self.serving.withLock { $0 }
        return routes.filter { (serving[$0] ?? 0) == 0 }.sorted()
    }
}
