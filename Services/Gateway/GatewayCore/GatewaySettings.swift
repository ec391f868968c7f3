import NIOCore
import WharfRuntime

/// The gateway's own settings (README.md lists them); listen address, TLS, metrics and logging come from
/// the shared `RuntimeConfiguration`.
public struct GatewaySettings: Sendable {
    public var routes: RouteTable
    public var balancing: UpstreamCluster.Balancing
    /// How long an address that failed is tried last.
    public var ejectionTime: Duration
    public var connectTimeout: TimeAmount
    public var healthInterval: Duration
    /// Route (or `*` for all) → accepted bearer tokens.
    public var tokens: [String: Set<String>]
    /// Routes whose upstreams receive the client's `authorization` header (stripped for every other route).
    public var passAuthorization: Set<String>
    public var accessLog: Bool

    public init(reader: EnvironmentReader) {
        routes = reader.parsed("WHARF_GATEWAY_ROUTES", default: RouteTable.defaults(),
                               display: { $0.routes.values.map { "\($0.service)=\($0.cluster.targets)" }.sorted().joined(separator: ",") }) {
            text throws(ConfigurationProblem) in try RouteTable.parse(text)
        } ?? RouteTable([])
        balancing = reader.parsed("WHARF_GATEWAY_BALANCING", default: "round-robin", display: \.rawValue) { text throws(ConfigurationProblem) in
            guard let value = UpstreamCluster.Balancing(rawValue: text) else {
                throw ConfigurationProblem("expected round-robin or least-outstanding, got \"\(text)\"")
            }
            return value
        } ?? .roundRobin
        ejectionTime = reader.duration("WHARF_GATEWAY_EJECTION", default: .seconds(10), minimum: .milliseconds(1))
        let connect = reader.duration("WHARF_GATEWAY_CONNECT_TIMEOUT", default: .seconds(2), minimum: .milliseconds(1))
        connectTimeout = .nanoseconds(connect.components.seconds * 1_000_000_000 + connect.components.attoseconds / 1_000_000_000)
        healthInterval = reader.duration("WHARF_GATEWAY_HEALTH_INTERVAL", default: .seconds(2), minimum: .milliseconds(10))
        tokens = reader.parsed("WHARF_GATEWAY_TOKENS", default: "", display: { $0.isEmpty ? "" : "***" }) { text throws(ConfigurationProblem) in
            try Self.parseTokens(text)
        } ?? [:]
        // A token for a route that does not exist protects nothing while looking as if it did.
        let routes = self.routes
        for route in tokens.keys.sorted() where route != "*" && routes.route(forService: Substring(route)) == nil {
            reader.fail("WHARF_GATEWAY_TOKENS", "route \(route) matches no route of WHARF_GATEWAY_ROUTES (\(routes.routes.keys.sorted().joined(separator: ", ")))")
        }
        passAuthorization = reader.parsed("WHARF_GATEWAY_PASS_AUTHORIZATION", default: "", display: { $0.sorted().joined(separator: ",") }) {
            text throws(ConfigurationProblem) in
            let names = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
            if let unknown = names.sorted().first(where: { routes.route(forService: Substring($0)) == nil }) {
                throw ConfigurationProblem("route \(unknown) matches no route of WHARF_GATEWAY_ROUTES")
            }
            return names
        } ?? []
        accessLog = reader.bool("WHARF_GATEWAY_ACCESS_LOG", default: true)
    }

    /// `route=token[|token…],…`; the route `*` applies to routes without an entry of their own.
    static func parseTokens(_ text: String) throws(ConfigurationProblem) -> [String: Set<String>] {
        var tokens: [String: Set<String>] = [:]
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigurationProblem("expected route=token, got an entry without a token")
            }
            tokens[parts[0], default: []].formUnion(parts[1].split(separator: "|").map(String.init))
        }
        return tokens
    }
}

