import Foundation
import WharfRuntime

/// A peer relay's address as Wharf accepts it: checked before any client library parses it. The WebSocket
/// client's URI parser (swift-websocket 1.6) reads past the end of its buffer on some non-ASCII input and traps,
/// and a sync job that traps its worker would be claimed again after every restart; so only printable-ASCII
/// `ws://` / `wss://` URLs with a host reach it.
public enum PeerURL {
    public static let maximumLength = 2048

    /// The URL to dial for `text` (ORLY's rule: without a ws/wss scheme it is `wss://`), or why it cannot be.
    public static func validated(_ text: String) -> Result<String, PeerURLError> {
        guard !text.isEmpty else { return .failure(PeerURLError("peer_url is empty")) }
        guard text.utf8.count <= maximumLength else {
            return .failure(PeerURLError("peer_url of \(text.utf8.count) bytes is longer than \(maximumLength)"))
        }
        guard text.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            return .failure(PeerURLError("peer_url \(shown(text)) must be printable ASCII without spaces (use punycode and percent-encoding)"))
        }
        let url = PeerSync.webSocketURL(text)
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "ws" || scheme == "wss"
        else {
            return .failure(PeerURLError("peer_url \(shown(text)) is not a relay address (ws://host:port or wss://host)"))
        }
        guard let host = components.host, !host.isEmpty else {
            return .failure(PeerURLError("peer_url \(shown(text)) has no host"))
        }
        if let port = components.port, !(1...65535).contains(port) {
            return .failure(PeerURLError("peer_url \(shown(text)) has port \(port), outside 1...65535"))
        }
        guard components.user == nil, components.password == nil else {
            return .failure(PeerURLError("peer_url \(shown(text)) must not carry credentials"))
        }
        return .success(url)
    }

    /// Why `url` (validated) may not be dialled under `allowList` (`dialling`), or recorded as a peer.
    public static func refusal(_ url: String, by allowList: OutboundAllowList, dialling: Bool) async -> String? {
        guard let host = URLComponents(string: PeerSync.webSocketURL(url))?.host else { return "peer_url \(shown(url)) has no host" }
        return await allowList.refusal(host: host, dialling: dialling).map { "peer_url \(shown(url)) refused: \($0)" }
    }

    /// The URL to dial for `url` (validated) under `allowList`, or why it may not be dialled. A `ws://` peer
    /// is dialled at the address the allow list checked (the name is not resolved again, so a name that
    /// answers a public address to the check and an internal one to the dial cannot get through); a `wss://`
    /// peer keeps its name, which TLS needs for the server name and certificate, and a host the name was
    /// re-pointed at cannot complete that handshake.
    public static func dialTarget(_ url: String, by allowList: OutboundAllowList) async -> Result<String, PeerURLError> {
        let full = PeerSync.webSocketURL(url)
        guard var components = URLComponents(string: full), let host = components.host else {
            return .failure(PeerURLError("peer_url \(shown(url)) has no host"))
        }
        switch await allowList.checkedAddresses(host: host) {
        case .failure(let refusal):
            return .failure(PeerURLError("peer_url \(shown(url)) refused: \(refusal)"))
        case .success(let addresses):
            guard components.scheme?.lowercased() == "ws", let address = addresses.first else { return .success(full) }
            components.percentEncodedHost = address.bytes.count == 4 ? "\(address)" : "[\(address)]"
            return .success(components.string ?? full)
        }
    }

    private static func shown(_ text: String) -> String {
        text.count > 80 ? "\"\(text.prefix(80))…\"" : "\"\(text)\""
    }
}

public struct PeerURLError: Error, CustomStringConvertible, Sendable, Equatable {
    public var description: String
    init(_ description: String) { self.description = description }
}
