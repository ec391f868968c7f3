import GRPCNIOTransportCore

/// A `host:port` listen or connect address (`[::1]:50051` for IPv6).
public struct HostPort: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(parsing text: String) throws(ConfigurationProblem) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ConfigurationProblem("expected [ipv6]:port, got \"\(text)\"") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ConfigurationProblem("expected host:port, got \"\(text)\"")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else { throw ConfigurationProblem("missing host in \"\(text)\"") }
        guard !host.contains(where: { $0 == "[" || $0 == "]" || $0.isWhitespace || $0 == "/" }) else {
            throw ConfigurationProblem("malformed host \"\(host)\" in \"\(text)\" (IPv6 addresses are written [addr]:port)")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ConfigurationProblem("port must be 0-65535, got \"\(portText)\" in \"\(text)\"")
        }
        self.init(host: String(host), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension HostPort {
    /// The address to bind: IPv6 when the host contains a colon, IPv4 otherwise (`localhost` is 127.0.0.1).
    public var socketAddress: GRPCNIOTransportCore.SocketAddress {
        if host.contains(":") { return .ipv6(host: host, port: port) }
        return .ipv4(host: host == "localhost" ? "127.0.0.1" : host, port: port)
    }
}
