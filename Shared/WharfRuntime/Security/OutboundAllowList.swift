import Foundation
import NIOCore
import NIOPosix

/// Which hosts a service may dial when a caller names the address (negentropy peers, sync remotes): a
/// defence against server-side request forgery. Patterns, comma-separated:
/// - `relay.example.org` (that host), `*.example.org` (its subdomains), `*` (any host with public addresses);
/// - `127.0.0.1`, `[::1]`, `10.0.0.0/8`, `fd00::/8` (addresses and networks).
///
/// Loopback, private, link-local and other internal addresses are refused unless a pattern names them: the
/// host itself (`localhost`), its address, or a network containing it (`*` never does). An empty list allows
/// every host whose addresses are all public. A host is resolved when it is checked, and every address it
/// resolves to must be allowed, so a public name pointing at 127.0.0.1 is refused as 127.0.0.1 is.
public struct OutboundAllowList: Sendable, CustomStringConvertible {
    enum Pattern: Sendable, Hashable {
        case anyPublic
        case host(String)
        case subdomains(of: String)
        case network(IPAddressBytes, prefixLength: Int)
    }

    /// The variable it was read from, named in refusals.
    public let variable: String
    let patterns: [Pattern]
    public let description: String

    public init(parsing text: String, variable: String) throws(ConfigurationProblem) {
        self.variable = variable
        var patterns: [Pattern] = []
        for entry in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces).lowercased() }) where !entry.isEmpty {
            patterns.append(try Self.pattern(entry))
        }
        self.patterns = patterns
        description = patterns.isEmpty ? "(public hosts)" : text
    }

    private static func pattern(_ entry: String) throws(ConfigurationProblem) -> Pattern {
        if entry == "*" { return .anyPublic }
        if let slash = entry.firstIndex(of: "/") {
            guard let network = IPAddressBytes(literal: String(entry[..<slash])), let length = Int(entry[entry.index(after: slash)...]),
                (0...(network.bytes.count * 8)).contains(length)
            else {
                throw ConfigurationProblem("\"\(entry)\" is not a network (expected 10.0.0.0/8 or fd00::/8)")
            }
            return .network(network, prefixLength: length)
        }
        if let address = IPAddressBytes(literal: entry) { return .network(address, prefixLength: address.bytes.count * 8) }
        let name = entry.hasPrefix("*.") ? String(entry.dropFirst(2)) : entry
        guard !name.isEmpty, name.utf8.allSatisfy({ ($0 >= 0x61 && $0 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2D || $0 == 0x2E }) else {
            throw ConfigurationProblem("\"\(entry)\" is not a host pattern (expected host.name, *.domain, *, an address or a network)")
        }
        return entry.hasPrefix("*.") ? .subdomains(of: name) : .host(name)
    }

    /// Why `host` may not be dialled (naming the rule), or nil when it may. Resolves the host on NIO's
    /// blocking pool. A host that does not resolve is refused when about to be dialled (`dialling`), and
    /// judged by its name alone when it is only being recorded (a peer added before its DNS exists).
    public func refusal(host: String, dialling: Bool = true) async -> String? {
        let addresses = (try? await NIOSingletons.posixBlockingThreadPool.runIfActive { IPAddressBytes.resolve(host) }) ?? []
        return refusal(host: host, addresses: addresses, dialling: dialling)
    }

    /// The addresses of `host` that were checked, to be dialled as they are (never the name again: a name that
    /// answers a public address to the check and an internal one to the dial would get through), or why
    /// `host` may not be dialled. TLS keeps the name (SNI, certificate) and HTTP its `Host`.
    public func checkedAddresses(host: String) async -> Result<[IPAddressBytes], OutboundRefusal> {
        let addresses = (try? await NIOSingletons.posixBlockingThreadPool.runIfActive { IPAddressBytes.resolve(host) }) ?? []
        if let refusal = refusal(host: host, addresses: addresses, dialling: true) { return .failure(OutboundRefusal(description: refusal)) }
        return .success(addresses)
    }

    /// The rule applied to `host` resolved to `addresses`.
    public func refusal(host: String, addresses: [IPAddressBytes], dialling: Bool = true) -> String? {
        let name = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard !addresses.isEmpty else {
            if dialling { return "host \(host) does not resolve to any address" }
            return Self.nameAllowed(name, patterns) ? nil : "host \(host) is not allowed by \(variable)=\(description)"
        }
        let named = Self.named(name, patterns)
        for address in addresses {
            let inListedNetwork = patterns.contains { pattern in
                if case .network(let network, let length) = pattern { return address.isIn(network, prefixLength: length) }
                return false
            }
            if named || inListedNetwork { continue }
            if let kind = address.internalKind {
                return "host \(host) resolves to \(address), a \(kind) address, which \(variable) does not list"
            }
            if !(patterns.isEmpty || patterns.contains(.anyPublic)) {
                return "host \(host) is not allowed by \(variable)=\(description)"
            }
        }
        return nil
    }
}

/// Why an address may not be dialled (naming the rule).
public struct OutboundRefusal: Error, Sendable, CustomStringConvertible {
    public let description: String
}

extension OutboundAllowList {
    /// Whether a pattern names `name` itself (`host.name` or `*.domain`).
    fileprivate static func named(_ name: String, _ patterns: [Pattern]) -> Bool {
        patterns.contains { pattern in
            switch pattern {
            case .host(let listed): return listed == name
            case .subdomains(let domain): return name.hasSuffix("." + domain)
            default: return false
            }
        }
    }

    /// Whether an unresolved `name` could be allowed: named, or any public host allowed.
    fileprivate static func nameAllowed(_ name: String, _ patterns: [Pattern]) -> Bool {
        patterns.isEmpty || patterns.contains(.anyPublic) || named(name, patterns)
    }
}

extension EnvironmentReader {
    /// An `OutboundAllowList` from `name` (empty: public hosts only).
    public func allowList(_ name: String, default defaultValue: String = "") -> OutboundAllowList {
        parsed(name, default: defaultValue, display: \.description) { text throws(ConfigurationProblem) in
            try OutboundAllowList(parsing: text, variable: name)
        } ?? OutboundAllowList(empty: name)
    }
}

extension OutboundAllowList {
    /// The empty list (public hosts only), read from `variable`.
    public init(empty variable: String) {
        self.variable = variable
        patterns = []
        description = "(public hosts)"
    }
}
