import CoreMetrics
import Logging
import NIOCore
import NIOExtras
import NIOHTTP2
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization
import WharfRuntime

/// The gateway's listener: HTTP/2 with prior knowledge (h2c), or TLS with ALPN h2 when a certificate is
/// configured; every stream goes to an `InboundStreamHandler`. Graceful shutdown turns health NOT_SERVING,
/// stops accepting connections and sends every client GOAWAY (then, once the client has seen it, a second
/// GOAWAY naming the last stream taken); calls in flight finish, and each connection closes when its last
/// call has, or when `WHARF_SHUTDOWN_GRACE` has passed.
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
        gateway = Gateway(
            settings: settings, maximumMessageBytes: runtime.maxMessageBytes, adminToken: runtime.adminToken,
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

    /// How long a client connection with no open stream stays open (then GOAWAY; gRPC clients reconnect).
    static let maximumIdleTime = TimeAmount.minutes(5)

    public func run() async throws {
        // Everything the listener owns is released before the event loops stop (the quiescing helper completes
        // a promise on them when it goes).
        try await serve()
        try await group.shutdownGracefully()
    }

    private func serve() async throws {
        let tls = try runtime.tls.map { files -> NIOSSLContext in
            var configuration = TLSConfiguration.makeServerConfiguration(
                certificateChain: try NIOSSLCertificate.fromPEMFile(files.certificateChainPath).map { .certificate($0) },
                privateKey: .privateKey(try NIOSSLPrivateKey(file: files.privateKeyPath, format: .pem)))
            configuration.applicationProtocols = ["h2"]
            // TLS 1.0 and 1.1 are deprecated (RFC 8996); gRPC clients speak 1.2 or 1.3.
            configuration.minimumTLSVersion = .tlsv12
            return try NIOSSLContext(configuration: configuration)
        }
        let gateway = self.gateway
        let quiescing = ServerQuiescingHelper(group: group)
        // At most a day (a larger WHARF_SHUTDOWN_GRACE would overflow NIO's nanoseconds).
        let components = runtime.shutdownGrace.components
        let prefaceTimeout = TimeAmount.clamped(runtime.httpIdleTimeout)
        let grace = TimeAmount.milliseconds(min(components.seconds, 86_400) * 1000 + components.attoseconds / 1_000_000_000_000_000)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(quiescing.makeServerChannelHandler(channel: channel))
                }
            }
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls { try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: tls)) }
                    // A client that has not sent the HTTP/2 preface (after TLS, if any) within the idle timeout is closed.
                    try channel.pipeline.syncOperations.addHandler(PrefaceDeadlineHandler(timeout: prefaceTimeout))
                    try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
                    // Drains the connection on shutdown (the quiescing helper's event): GOAWAY, then close once
                    // its streams are done or the grace has passed.
                    let lifecycle = NIOHTTP2ServerConnectionManagementHandler(
                        eventLoop: channel.eventLoop,
                        configuration: .init(maxIdleTime: Self.maximumIdleTime, maxAge: nil, maxGraceTime: grace, keepalive: nil))
                    _ = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .server, connectionConfiguration: GatewayHTTP2.connection, streamConfiguration: GatewayHTTP2.stream,
                        streamDelegate: lifecycle.http2StreamDelegate
                    ) { stream in
                        stream.eventLoop.makeCompletedFuture {
                            try stream.pipeline.syncOperations.addHandler(InboundStreamHandler(gateway: gateway))
                        }
                    }
                    try channel.pipeline.syncOperations.addHandler(lifecycle)
                }
            }
        let server = try await bootstrap.bind(host: runtime.listen.host, port: runtime.listen.port).get()
        bound.set(server.localAddress?.port ?? runtime.listen.port)
        logger.info(
            "gateway listening",
            metadata: [
                "address": "\(server.localAddress.map { "\($0)" } ?? "?")",
                "tls": "\(tls != nil)", "routes": "\(settings.routes.routes.count)",
            ])
        // Completed once: when every connection has drained, or at once when the task is cancelled.
        let drained = group.next().makePromise(of: Void.self)
        let drainEnded = Mutex(false)
        @Sendable func endDrain() {
            if drainEnded.withLock({ ended in
                defer { ended = true }; return !ended
            }) {
                drained.succeed()
            }
        }
        try await withGracefulShutdownHandler {
            try await withTaskCancellationHandler {
                try await server.closeFuture.get()
                // Stopped gracefully: wait for the connections to drain (each closes by itself within the grace).
                if Task.isShuttingDownGracefully { try await drained.futureResult.get() }
            } onCancel: {
                server.close(promise: nil)
                endDrain()
            }
        } onGracefulShutdown: { [logger, runtime, group] in
            gateway.health.beginShutdown()
            logger.info("draining client connections", metadata: ["grace": "\(runtime.shutdownGrace)"])
            let quiesced = group.next().makePromise(of: Void.self)
            quiesced.futureResult.whenComplete { _ in endDrain() }
            quiescing.initiateShutdown(promise: quiesced)
        }
    }
}
