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
    /// Route (or `*` for all) → accepted bearer tokens (their bytes, compared with `ConstantTime`).
    public var tokens: [String: [[UInt8]]]
    /// Routes whose upstreams receive the client's `authorization` header (stripped for every other route).
    public var passAuthorization: Set<String>
    public var accessLog: Bool

    public init(reader: EnvironmentReader) {
        routes =
            reader.parsed(
                "WHARF_GATEWAY_ROUTES", default: RouteTable.defaults(),
                display: { $0.routes.values.map { "\($0.service)=\($0.cluster.targets)" }.sorted().joined(separator: ",") }
            ) {
                text throws(ConfigurationProblem) in try RouteTable.parse(text)
            } ?? RouteTable([])
        balancing =
            reader.parsed("WHARF_GATEWAY_BALANCING", default: "round-robin", display: \.rawValue) { text throws(ConfigurationProblem) in
                guard let value = UpstreamCluster.Balancing(rawValue: text) else {
                    throw ConfigurationProblem("expected round-robin or least-outstanding, got \"\(text)\"")
                }
                return value
            } ?? .roundRobin
        ejectionTime = reader.duration("WHARF_GATEWAY_EJECTION", default: .seconds(10), minimum: .milliseconds(1))
        let connect = reader.duration("WHARF_GATEWAY_CONNECT_TIMEOUT", default: .seconds(2), minimum: .milliseconds(1))
        connectTimeout = .nanoseconds(connect.components.seconds * 1_000_000_000 + connect.components.attoseconds / 1_000_000_000)
        healthInterval = reader.duration("WHARF_GATEWAY_HEALTH_INTERVAL", default: .seconds(2), minimum: .milliseconds(10))
        tokens =
            reader.parsed("WHARF_GATEWAY_TOKENS", default: "", display: { $0.isEmpty ? "" : "***" }) { text throws(ConfigurationProblem) in
                try Self.parseTokens(text)
            } ?? [:]
        // A token for a route that does not exist protects nothing while looking as if it did.
        let routes = self.routes
        for route in tokens.keys.sorted() where route != "*" && routes.route(forService: Substring(route)) == nil {
            reader.fail(
                "WHARF_GATEWAY_TOKENS",
                "route \(route) matches no route of WHARF_GATEWAY_ROUTES (\(routes.routes.keys.sorted().joined(separator: ", ")))")
        }
        passAuthorization =
            reader.parsed("WHARF_GATEWAY_PASS_AUTHORIZATION", default: "", display: { $0.sorted().joined(separator: ",") }) {
                text throws(ConfigurationProblem) in
                let names = Set(text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
                if let unknown = names.sorted().first(where: { routes.route(forService: Substring($0)) == nil }) {
                    throw ConfigurationProblem("route \(unknown) matches no route of WHARF_GATEWAY_ROUTES")
                }
                return names
            } ?? []
        accessLog = reader.bool("WHARF_GATEWAY_ACCESS_LOG", default: true)
    }

    /// `route=token[|token…],…`; the route `*` applies to routes without an entry of their own. A token may
    /// hold commas: a comma-separated piece without `=` continues the token before it; when the text holds
    /// line breaks, entries are separated by line breaks only (a token may then hold `,` and `=` freely).
    static func parseTokens(_ text: String) throws(ConfigurationProblem) -> [String: [[UInt8]]] {
        let lines = text.contains(where: \.isNewline)
        var entries: [String] = []
        if lines {
            entries = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        } else {
            for piece in text.split(separator: ",", omittingEmptySubsequences: false) {
                if !piece.contains("="), let last = entries.popLast() { entries.append(last + "," + piece) } else { entries.append(String(piece)) }
            }
            entries = entries.map { $0.trimmingCharacters(in: .whitespaces) }
        }
        var tokens: [String: [[UInt8]]] = [:]
        for entry in entries where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw ConfigurationProblem("expected route=token, got an entry without a token")
            }
            let pieces = parts[1].split(separator: "|", omittingEmptySubsequences: true).map { Array($0.utf8) }
            guard !pieces.isEmpty, pieces.allSatisfy({ $0.allSatisfy { $0 > 0x20 && $0 < 0x7F } }) else {
                throw ConfigurationProblem("a token of route \(parts[0]) is empty or holds a space, a control or a non-ASCII character")
            }
            tokens[parts[0], default: []].append(contentsOf: pieces)
        }
        return tokens
    }
}
