import WharfRuntime
import WharfTopology

/// Where requests go: the fully qualified gRPC service name (the first part of `:path`) → an upstream cluster.
public struct RouteTable: Sendable {
    public struct Route: Sendable, Equatable {
        public var service: String
        public var cluster: UpstreamCluster.Definition
    }

    public private(set) var routes: [String: Route]

    public init(_ routes: [Route]) {
        self.routes = Dictionary(routes.map { ($0.service, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// The service part of a gRPC path (`/pkg.Service/Method` → `pkg.Service`); nil for other paths.
    public static func service(ofPath path: Substring) -> Substring? {
        guard path.first == "/" else { return nil }
        let rest = path.dropFirst()
        guard let slash = rest.firstIndex(of: "/"), slash != rest.startIndex else { return nil }
        return rest[..<slash]
    }

    public func route(forService service: Substring) -> Route? { routes[String(service)] }

    /// Every Wharf service on its default local port (what `scripts/wharf up` runs), from the system's shape.
    public static func defaults(host: String = "127.0.0.1") -> String {
        SystemShape.gatewayRoutes(host: host)
    }

    /// `service=address[;address…],…` where an address is `host:port` (a fixed address) or
    /// `dns:host:port` (every address the name resolves to, resolved again periodically: a Kubernetes
    /// headless Service). A component's name in place of a service (`store=store:50051`; service names always
    /// hold a dot, component names never do) routes every service that component serves (`wharfctl topology`),
    /// so that deployment files need not list them.
    public static func parse(_ text: String) throws(ConfigurationProblem) -> RouteTable {
        var routes: [Route] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[0].contains("/") else {
                throw ConfigurationProblem("expected service=host:port, got \"\(entry)\"")
            }
            var targets: [UpstreamCluster.Target] = []
            for address in parts[1].split(separator: ";").map({ $0.trimmingCharacters(in: .whitespaces) }) where !address.isEmpty {
                if address.hasPrefix("dns:") {
                    targets.append(.dns(try HostPort(parsing: String(address.dropFirst(4)))))
                } else {
                    targets.append(.fixed(try HostPort(parsing: address)))
                }
            }
            guard !targets.isEmpty else { throw ConfigurationProblem("no address for \(parts[0])") }
            for service in try services(named: parts[0]) {
                routes.append(Route(service: service, cluster: .init(name: service, targets: targets)))
            }
        }
        return RouteTable(routes)
    }

    /// The services a route's key names: itself, or every service of the component it names.
    private static func services(named key: String) throws(ConfigurationProblem) -> [String] {
        guard !key.contains(".") else { return [key] }
        let routed = SystemShape.routed
        guard let shape = routed.first(where: { $0.name == key }) else {
            throw ConfigurationProblem(
                "\"\(key)\" is neither a gRPC service (package.Service) nor a component (\(routed.map(\.name).joined(separator: ", ")))")
        }
        return shape.serviceNames
    }
}
