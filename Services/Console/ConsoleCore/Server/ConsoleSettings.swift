import Foundation
import NIOCore
import WharfRuntime

/// The console's own settings (README.md lists them); its listen address (`WHARF_LISTEN`), metrics port, log
/// level and admin token come from the shared `RuntimeConfiguration`.
public struct ConsoleSettings: Sendable {
    /// The gateway the console reads the system through.
    public var gateway: HostPort
    /// PEM CA file when the gateway serves TLS (nil: plaintext h2c).
    public var gatewayCAFile: String?
    /// The gateway's bearer token, when its routes require one (`WHARF_GATEWAY_TOKENS`).
    public var gatewayToken: String?
    /// Signs in read-only (nil: only the admin token signs in).
    public var viewerToken: SharedSecret?
    /// Session cookies carry `Secure` (set when the console is reached over HTTPS, through a TLS proxy).
    public var secureCookies: Bool
    /// The origin browsers load the console from (`https://console.example.org`), when a proxy in front of it
    /// changes the Host header; a form's `Origin` must be this one. nil: the request's own Host.
    public var publicOrigin: String?
    public var sessionLifetime: Duration
    /// How often every replica's metrics and status are read.
    public var scrapeInterval: Duration
    /// How long a call to a service may take before the page shows it as unavailable.
    public var callTimeout: Duration

    public init(reader: EnvironmentReader) {
        gateway =
            reader.parsed("WHARF_CONSOLE_GATEWAY", default: "127.0.0.1:50050") { text throws(ConfigurationProblem) in
                try HostPort(parsing: text)
            } ?? HostPort(host: "127.0.0.1", port: 50050)
        gatewayCAFile = reader.raw("WHARF_CONSOLE_GATEWAY_CA_FILE").flatMap { $0.isEmpty ? nil : $0 }
        gatewayToken = reader.raw("WHARF_CONSOLE_GATEWAY_TOKEN").flatMap { $0.isEmpty ? nil : $0 }
        viewerToken = reader.secret("WHARF_CONSOLE_VIEWER_TOKEN")
        secureCookies = reader.bool("WHARF_CONSOLE_SECURE_COOKIES", default: false)
        publicOrigin =
            reader.parsed("WHARF_CONSOLE_ORIGIN", default: "") { text throws(ConfigurationProblem) -> String? in
                guard !text.isEmpty else { return nil }
                guard let components = URLComponents(string: text), ["http", "https"].contains(components.scheme ?? ""),
                    components.host?.isEmpty == false, components.path.isEmpty || components.path == "/", components.query == nil
                else { throw ConfigurationProblem("expected scheme://host[:port] (http or https), got \"\(text.prefix(200))\"") }
                return text.hasSuffix("/") ? String(text.dropLast()) : text
            } ?? nil
        sessionLifetime = reader.duration("WHARF_CONSOLE_SESSION_LIFETIME", default: .seconds(12 * 3600), minimum: .seconds(60))
        scrapeInterval = reader.duration("WHARF_CONSOLE_SCRAPE_INTERVAL", default: .seconds(5), minimum: .milliseconds(200))
        callTimeout = reader.duration("WHARF_CONSOLE_CALL_TIMEOUT", default: .seconds(5), minimum: .milliseconds(100))
    }
}
