import Foundation

/// `CreateSyncRequest.remote_directory_url`, checked as upstream v0.3.0 checks it (spec agntcy-dir.md §5):
/// not empty; without `://` a `host:port`; with a scheme, `http` or `https` and a host name. It is also the
/// remote's gRPC target, so the scheme (which only says whether to use TLS) is dropped for dialling.
public struct RemoteDirectoryURL: Sendable, Equatable {
    /// Longer URLs are refused before any parsing (upstream has no limit; a URL is a few dozen bytes).
    public static let maximumBytes = 2048

    public let text: String
    public let host: String
    public let port: Int
    public let usesTLS: Bool

    public init(validating text: String) throws(RemoteDirectoryURLError) {
        guard !text.isEmpty else { throw RemoteDirectoryURLError("remote directory URL is required") }
        guard text.utf8.count <= Self.maximumBytes else {
            throw RemoteDirectoryURLError("URL is longer than \(Self.maximumBytes) bytes")
        }
        guard !text.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F }) else {
            throw RemoteDirectoryURLError("URL contains spaces or control characters")
        }
        self.text = text
        if let separator = text.range(of: "://") {
            let scheme = text[..<separator.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else {
                throw RemoteDirectoryURLError("unsupported scheme \"\(scheme.prefix(32))\", expected http or https")
            }
            guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
                throw RemoteDirectoryURLError("URL has no host")
            }
            usesTLS = scheme == "https"
            self.host = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            guard let port = components.port ?? (usesTLS ? 443 : 80) as Int?, (1...65535).contains(port) else {
                throw RemoteDirectoryURLError("port out of range 1-65535")
            }
            self.port = port
        } else {
            // host:port, the form upstream's own examples use; the last colon separates the port.
            guard let colon = text.lastIndex(of: ":") else {
                throw RemoteDirectoryURLError("expected host:port or an http(s) URL")
            }
            var host = String(text[..<colon])
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            guard !host.isEmpty else { throw RemoteDirectoryURLError("URL has no host") }
            guard let port = Int(text[text.index(after: colon)...]), (1...65535).contains(port) else {
                throw RemoteDirectoryURLError("port must be a number between 1 and 65535")
            }
            self.host = host
            self.port = port
            usesTLS = false
        }
    }
}

public struct RemoteDirectoryURLError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
