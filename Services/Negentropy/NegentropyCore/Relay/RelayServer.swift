import Foundation
import Hummingbird
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
    private let maximumMessageSize: Int
    private let bound = OnceValue<Int>()

    /// The open connections' count, exported as a limiter's (nil: not exported).
    let connectionsGauge: LimiterGauge?

    public init(address: HostPort, context: RelayContext, maximumMessageSize: Int, connectionsGauge: LimiterGauge? = nil) {
        self.address = address
        self.context = context
        self.maximumMessageSize = maximumMessageSize
        self.connectionsGauge = connectionsGauge
    }

    /// The bound port (useful when configured with port 0); waits until the listener is up.
    public func boundPort() async -> Int { await bound.value }

    public func run() async throws {
        let router = Router()
        let information = informationDocument()
        router.get("/") { request, _ -> Response in
            guard request.headers[.accept]?.contains("application/nostr+json") == true else {
                return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "Wharf Nostr relay: connect with a WebSocket (NIP-01, NIP-77).\n")))
            }
            return Response(status: .ok, headers: [.contentType: "application/nostr+json", .accessControlAllowOrigin: "*"],
                            body: .init(byteBuffer: ByteBuffer(bytes: information)))
        }
        let context = self.context
        let maximumMessageSize = self.maximumMessageSize
        let admission = RelayAdmission(perAddress: context.limits.connectionsPerAddress, total: context.limits.connections, gauge: connectionsGauge)
        let application = Application(
            router: router,
            server: .http1WebSocketUpgrade(configuration: .init(ws: .init(maxFrameSize: maximumMessageSize))) { request, channel, _ in
                guard request.path == "/" || request.path?.isEmpty == true else { return .dontUpgrade }
                // ORLY's connection ids: "<remote address>-<unix nanoseconds>".
                let clientAddress = channel.remoteAddress?.ipAddress ?? "unknown"
                let remote = channel.remoteAddress.map { "\($0.ipAddress ?? "unknown"):\($0.port ?? 0)" } ?? "unknown"
                let id = "\(remote)-\(UInt64(Date().timeIntervalSince1970 * 1e9))"
                return .upgrade([:]) { inbound, outbound, _ in
                    // Over the limits: the client learns why (NOTICE) before the socket closes.
                    if let refusal = admission.admit(clientAddress) {
                        try? await outbound.write(.text(RelayFrame.notice(refusal)))
                        // What the client sent meanwhile is read (and dropped) for up to a second before the
                        // close: a socket closed with unread data sends a reset, and the client can lose the
                        // NOTICE with it.
                        _ = try? await withDeadline(.seconds(1)) { for try await _ in inbound {} }
                        return
                    }
                    defer { admission.release(clientAddress) }
                    await RelayConnection(id: id, context: context, outbound: outbound)
                        .run(inbound, maximumMessageSize: maximumMessageSize)
                }
            },
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [bound] channel in bound.set(channel.localAddress?.port ?? 0) },
            logger: context.logger)
        try await application.run()
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
                "auth_required": false,
                "payment_required": false,
            ] as [String: Any],
        ]
        return Array((try? JSONSerialization.data(withJSONObject: document, options: [.sortedKeys])) ?? Data("{}".utf8))
    }
}
