import Foundation
import Hummingbird
import HummingbirdCore
import HummingbirdWebSocket
import Logging
import NIOCore
import ServiceLifecycle
import WharfRuntime

/// The Nostr relay endpoint: WebSocket upgrades on `/` (NIP-01 and NIP-77), and the NIP-11 relay information
/// document for plain `GET /` with `Accept: application/nostr+json`.
public final class RelayServer: Service, Sendable {
    private let address: HostPort
    private let context: RelayContext
    /// EVENTs under way on all connections (tests and metrics read it).
    public var intake: RelayIntake { context.intake }
    private let maximumMessageSize: Int
    private let bound = OnceValue<Int>()

    /// Counts connections from their accept and closes those that never become WebSockets.
    let connections: HTTPConnectionGuard

    public init(
        address: HostPort, context: RelayContext, maximumMessageSize: Int, handshakeTimeout: Duration = .seconds(10),
        trustedProxies: Set<String> = [], connectionsGauge: LimiterGauge? = nil
    ) {
        self.address = address
        self.context = context
        self.maximumMessageSize = maximumMessageSize
        connections = HTTPConnectionGuard(
            perAddress: context.limits.connectionsPerAddress, total: context.limits.connections,
            quietTimeout: handshakeTimeout, trustedProxies: trustedProxies, gauge: connectionsGauge)
    }

    /// The bound port (useful when configured with port 0); waits until the listener is up.
    public func boundPort() async -> Int { await bound.value }

    public func run() async throws {
        let router = Router()
        let information = informationDocument()
        router.get("/") { request, _ -> Response in
            guard request.headers[.accept]?.contains("application/nostr+json") == true else {
                return Response(
                    status: .ok, body: .init(byteBuffer: ByteBuffer(string: "Wharf Nostr relay: connect with a WebSocket (NIP-01, NIP-77).\n")))
            }
            return Response(
                status: .ok, headers: [.contentType: "application/nostr+json", .accessControlAllowOrigin: "*"],
                body: .init(byteBuffer: ByteBuffer(bytes: information)))
        }
        let context = self.context
        let maximumMessageSize = self.maximumMessageSize
        let connections = self.connections
        let configuration = HTTP1WebSocketUpgradeChannel.Configuration(ws: .init(maxFrameSize: maximumMessageSize))
        let server = HTTPServerBuilder { responder in
            connections.guarding(
                HTTP1WebSocketUpgradeChannel(responder: responder, configuration: configuration) { request, channel, _ in
                    guard request.path == "/" || request.path?.isEmpty == true else { return .dontUpgrade }
                    let ticket = connections.ticket(of: channel)
                    ticket?.markUpgraded()
                    // Behind a trusted proxy the client is the forwarded address, and its share is counted there.
                    let forwardedRefusal = ticket.flatMap {
                        connections.admitForwarded($0, forwardedFor: request.headerFields.last { $0.name.canonicalName == "x-forwarded-for" }?.value)
                    }
                    // ORLY's connection ids: "<remote address>-<unix nanoseconds>".
                    let remote = channel.remoteAddress.map { "\($0.ipAddress ?? "unknown"):\($0.port ?? 0)" } ?? "unknown"
                    let id = "\(remote)-\(UInt64(Date().timeIntervalSince1970 * 1e9))"
                    return .upgrade([:]) { inbound, outbound, _ in
                        // Over the limits (counted since the connection was accepted): the client learns why (NOTICE)
                        // before the socket closes.
                        if let refusal = ticket?.refusal ?? forwardedRefusal
                            ?? (ticket == nil ? "blocked: the relay is shutting this connection" : nil)
                        {
                            try? await outbound.write(.text(RelayFrame.notice(refusal)))
                            // What the client sent meanwhile is read (and dropped) for up to a second before the
                            // close: a socket closed with unread data sends a reset, and the client can lose the
                            // NOTICE with it.
                            _ = try? await withDeadline(.seconds(1)) { for try await _ in inbound {} }
                            return
                        }
                        let output = RelayOutput(outbound: outbound, slowReaderTimeout: context.limits.slowReaderTimeout) {
                            channel.close(promise: nil)
                        }
                        await RelayConnection(id: id, context: context, output: output).run(inbound, maximumMessageSize: maximumMessageSize)
                    }
                })
        }
        let application = Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [bound] channel in bound.set(channel.localAddress?.port ?? 0) },
            logger: Self.serverLogger(context.logger))
        try await application.run()
    }

    /// Hummingbird's own per-connection errors are the clients' doing (a socket closed during its request is
    /// logged as an error "handling upgrade result"): only critical ones are logged; the relay logs its own.
    static func serverLogger(_ logger: Logger) -> Logger {
        var logger = logger
        logger.logLevel = max(logger.logLevel, .critical)
        return logger
    }

    private func informationDocument() -> [UInt8] {
        let document: [String: Any] = [
            "name": "Wharf negentropy relay",
            "description": "Nostr events in PostgreSQL, reconciled with negentropy (NIP-77).",
            "software": "wharf",
            "supported_nips": [1, 11, 77],
            "limitation": [
                "max_message_length": maximumMessageSize,
                "max_subscriptions": context.limits.subscriptionsPerConnection,
                "max_filters": context.limits.filtersPerRequest,
                "max_limit": context.limits.maximumFilterLimit,
                // NIP-11's names for the event bounds (EventRules).
                "max_event_tags": context.limits.eventRules.maximumTags,
                "created_at_upper_limit": context.limits.eventRules.maximumFuture.components.seconds,
                "auth_required": false,
                "payment_required": false,
            ] as [String: Any],
        ]
        return Array((try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
