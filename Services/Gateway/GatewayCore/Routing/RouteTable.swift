import WharfRuntime

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

    /// Every Wharf service on its default local port (what `scripts/wharf up` runs).
    public static func defaults(host: String = "127.0.0.1") -> String {
        [
            ("agntcy.dir.store.v1.StoreService", 50051), ("wharf.store.v1.RecordReconciliation", 50051),
            ("wharf.store.v1.RecordTransfer", 50051),
            ("agntcy.dir.store.v1.SyncService", 50052), ("wharf.sync.v1.SyncProgress", 50052),
            ("v1sync.BackrestSyncService", 50052), ("v1sync.BackrestSyncStateService", 50052), ("wharf.sync.v1.BackrestHub", 50052),
            ("routing.v1.RoutingService", 50053), ("tvix.castore.v1.BlobService", 50054),
            ("snix.castore.v1.BlobService", 50054), ("orlysync.negentropy.v1.NegentropyService", 50055),
        ].map { "\($0.0)=\(host):\($0.1)" }.joined(separator: ",")
    }

    /// `service=address[;address…],…` where an address is `host:port` (a fixed address) or
    /// `dns:host:port` (every address the name resolves to, resolved again periodically: a Kubernetes
    /// headless Service).
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
            routes.append(Route(service: parts[0], cluster: .init(name: parts[0], targets: targets)))
        }
        return RouteTable(routes)
    }
}
