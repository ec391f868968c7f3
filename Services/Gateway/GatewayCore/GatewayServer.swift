import CoreMetrics
import Logging
import NIOCore
import NIOHTTP2
import NIOPosix
import NIOSSL
import ServiceLifecycle
import WharfRuntime

/// The gateway's listener: HTTP/2 with prior knowledge (h2c), or TLS with ALPN h2 when a certificate is
/// configured; every stream goes to an `InboundStreamHandler`. Graceful shutdown stops accepting and turns
/// health NOT_SERVING; calls in flight finish on their connections.
public final class GatewayServer: Service, Sendable {
    private let runtime: RuntimeConfiguration
    private let settings: GatewaySettings
    private let logger: Logger
    private let bound = OnceValue<Int>()
    let group: MultiThreadedEventLoopGroup
    let gateway: Gateway

    public init(runtime: RuntimeConfiguration, settings: GatewaySettings, metricsFactory: any MetricsFactory, logger: Logger) {
        self.runtime = runtime
        self.settings = settings
        self.logger = logger
        group = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        gateway = Gateway(settings: settings, maximumMessageBytes: runtime.maxMessageBytes,
                          metrics: RouteMetrics(factory: metricsFactory), group: group, logger: logger)
    }

    /// The bound port (useful when configured with port 0); waits until the listener is up.
    public func boundPort() async -> Int { await bound.value }

    /// Probes upstreams and re-resolves DNS names, for the service group.
    public var prober: some Service {
        UpstreamProber(gateway: gateway, interval: settings.healthInterval, timeout: .seconds(1))
    }

    /// Probes every upstream now (tests; the prober runs on its own interval).
    public func probeNow() async {
        await UpstreamProber(gateway: gateway, interval: settings.healthInterval, timeout: .seconds(1)).probeAll()
    }

    public func run() async throws {
        let tls = try runtime.tls.map { files -> NIOSSLContext in
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateChainPath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKeyPath, format: .pem)))
            configuration.applicationProtocols = ["h2"]
            return try NIOSSLContext(configuration: configuration)
        }
        let gateway = self.gateway
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: GatewayHTTP2.connection, streamConfiguration: GatewayHTTP2.stream
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(InboundStreamHandler(gateway: gateway))
                        }
                    }
                }
            }
        let server = try await bootstrap.bind(host: runtime.listen.host, port: runtime.listen.port).get()
        bound.set(server.localAddress?.port ?? runtime.listen.port)
        logger.info("gateway listening", metadata: ["address": "\(server.localAddress.map { "\($0)" } ?? "?")",
                                                    "tls": "\(tls != nil)", "routes": "\(settings.routes.routes.count)"])
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await server.closeFuture.get()
            } onCancel: {
                server.close(promise: nil)
            }
        } onGracefulShutdown: {
            gateway.health.beginShutdown()
            server.close(promise: nil)
        }
        try await group.shutdownGracefully()
    }
}
