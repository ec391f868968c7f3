import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle

/// The Prometheus scrape endpoint: `GET /metrics` on its own HTTP port (and `GET /healthz`, answering
/// from the health monitor, for plain-HTTP checks).
public final class MetricsEndpoint: Service, Sendable {
    public let registry: PrometheusCollectorRegistry
    private let address: HostPort
    private let isServing: @Sendable () -> Bool
    private let logger: Logger
    private let bound = OnceValue<Int>()
    /// How long a connection may be sent nothing before it is closed.
    private let quietTimeout: Duration

    public convenience init(
        registry: PrometheusCollectorRegistry, address: HostPort, health: HealthMonitor?, logger: Logger,
        quietTimeout: Duration = .seconds(10)
    ) {
        self.init(
            registry: registry, address: address, isServing: { health?.status(of: "") == .serving }, logger: logger,
            quietTimeout: quietTimeout)
    }

    /// `isServing` answers `/healthz` (for processes whose health is not a `HealthMonitor`, like the gateway).
    public init(
        registry: PrometheusCollectorRegistry, address: HostPort, isServing: @escaping @Sendable () -> Bool, logger: Logger,
        quietTimeout: Duration = .seconds(10)
    ) {
        self.quietTimeout = quietTimeout
        self.registry = registry
        self.address = address
        self.isServing = isServing
        self.logger = logger
    }

    /// The bound port (useful when configured with port 0); waits until the listener is up.
    public func boundPort() async -> Int {
        await bound.value
    }

    public func run() async throws {
        let router = Router()
        router.get("metrics") { [registry] _, _ -> Response in
            var buffer = ByteBuffer()
            buffer.writeBytes(registry.emitToBuffer())
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: buffer))
        }
        router.get("healthz") { [isServing] _, _ -> Response in
            let serving = isServing()
            return Response(
                status: serving ? .ok : .serviceUnavailable,
                body: .init(byteBuffer: ByteBuffer(string: serving ? "SERVING\n" : "NOT_SERVING\n")))
        }
        // A scraper is sent its answer at once; a connection that is sent nothing for 10 s (half a request,
        // or idle between scrapes) is closed, and 256 at most are open.
        let connections = HTTPConnectionGuard(perAddress: 256, total: 256, quietTimeout: quietTimeout)
        let application = Application(
            router: router,
            server: HTTPServerBuilder { responder in connections.guarding(HTTP1Channel(responder: responder)) },
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: nil),
            onServerRunning: { [bound] channel in
                bound.set(channel.localAddress?.port ?? 0)
            },
            logger: logger)
        try await application.run()
    }
}
