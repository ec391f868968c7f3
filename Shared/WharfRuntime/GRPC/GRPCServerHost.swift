import CoreMetrics
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOCore
import ServiceLifecycle

/// A gRPC server on HTTP/2 (plaintext, or TLS when configured) with `grpc.health.v1.Health` and per-RPC
/// metrics. On graceful shutdown it reports NOT_SERVING, stops accepting new RPCs and returns once the
/// RPCs in flight have finished.
public final class GRPCServerHost: Service, Sendable {
    public struct Options: Sendable {
        public var listen: HostPort
        public var tls: RuntimeConfiguration.TLSFiles?
        public var maxMessageBytes: Int
        public var maxConcurrentStreams: Int
        public var keepaliveTime: Duration
        public var keepaliveTimeout: Duration
        /// A connection that sends no HTTP/2 preface within this is closed.
        public var prefaceTimeout: Duration = .seconds(10)

        public init(
            listen: HostPort, tls: RuntimeConfiguration.TLSFiles? = nil, maxMessageBytes: Int = 4 << 20,
            maxConcurrentStreams: Int = 256, keepaliveTime: Duration = .seconds(60),
            keepaliveTimeout: Duration = .seconds(20)
        ) {
            self.listen = listen
            self.tls = tls
            self.maxMessageBytes = maxMessageBytes
            self.maxConcurrentStreams = maxConcurrentStreams
            self.keepaliveTime = keepaliveTime
            self.keepaliveTimeout = keepaliveTimeout
        }

        public init(_ configuration: RuntimeConfiguration) {
            self.init(
                listen: configuration.listen, tls: configuration.tls,
                maxMessageBytes: configuration.maxMessageBytes, maxConcurrentStreams: configuration.maxConcurrentStreams,
                keepaliveTime: configuration.keepaliveTime, keepaliveTimeout: configuration.keepaliveTimeout)
            prefaceTimeout = configuration.httpIdleTimeout
        }
    }

    private let server: GRPCServer<HTTP2ServerTransport.Posix>
    private let transport: HTTP2ServerTransport.Posix
    private let health: HealthMonitor
    private let logger: Logger

    public init(
        options: Options, services: [any RegistrableRPCService], health: HealthMonitor,
        metricsFactory: any MetricsFactory, interceptors: [any ServerInterceptor] = [], logger: Logger
    ) {
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let tls = options.tls {
            security = .tls(
                certificateChain: [.file(path: tls.certificateChainPath, format: .pem)],
                privateKey: .file(path: tls.privateKeyPath, format: .pem))
        } else {
            security = .plaintext
        }
        let config = HTTP2ServerTransport.Posix.Config.defaults { config in
            // RequestGuardHandler answers oversized requests with RESOURCE_EXHAUSTED before the transport's
            // own check (which would reset the stream) can see them, and malformed deadlines before GRPCCore
            // traps on them.
            config.rpc.maxRequestPayloadSize = options.maxMessageBytes
            // Large frames and windows: streaming MiB-sized messages (blobs) with 16 KiB frames and small
            // windows spends its time on framing and WINDOW_UPDATE round trips.
            config.http2.maxFrameSize = 1 << 20
            config.http2.targetWindowSize = 16 << 20
            // Calls in flight per client connection are bounded (the transport advertises no limit by default);
            // a client that opens more gets REFUSED_STREAM from the HTTP/2 layer.
            config.http2.maxConcurrentStreams = options.maxConcurrentStreams
            let limit = options.maxMessageBytes
            config.channelDebuggingCallbacks.onAcceptHTTP2Stream = { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        RequestGuardHandler(limit: limit), position: .first)
                }
            }
            // A socket that never sends the HTTP/2 preface (nothing, or a few bytes) is closed.
            let prefaceTimeout = TimeAmount.clamped(options.prefaceTimeout)
            config.channelDebuggingCallbacks.onAcceptTCPConnection = { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(PrefaceDeadlineHandler(timeout: prefaceTimeout), position: .first)
                }
            }
            config.connection.keepalive.time = options.keepaliveTime
            config.connection.keepalive.timeout = options.keepaliveTimeout
            config.connection.keepalive.clientBehavior.allowWithoutCalls = true
            config.connection.keepalive.clientBehavior.minPingIntervalWithoutCalls = .seconds(10)
        }
        // Our own socket, for a large accept backlog; if it cannot be made, the transport binds (and reports
        // the problem when it serves).
        let transport: HTTP2ServerTransport.Posix
        if let descriptor = try? ListeningSocket.make(options.listen) {
            transport = HTTP2ServerTransport.Posix(
                listeningSocketDescriptor: Int(descriptor), transportSecurity: security, config: config)
        } else {
            transport = HTTP2ServerTransport.Posix(address: options.listen.socketAddress, transportSecurity: security, config: config)
        }
        self.transport = transport
        self.server = GRPCServer(
            transport: transport,
            services: services + [HealthService(monitor: health)],
            interceptors: [StatusMessageLimitInterceptor(), RPCMetricsInterceptor(factory: metricsFactory)] + interceptors)
        self.health = health
        self.logger = logger
    }

    /// The port actually bound (useful with port 0); waits until the server listens.
    public func listeningPort() async throws -> Int {
        let address = try await transport.listeningAddress
        if let ipv4 = address.ipv4 { return ipv4.port }
        if let ipv6 = address.ipv6 { return ipv6.port }
        throw RPCError(code: .internalError, message: "server is not listening on a TCP address: \(address)")
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingDiscardingTaskGroup { group in
                group.addTask { try await self.server.serve() }
                group.addTask {
                    if let port = try? await self.listeningPort() {
                        self.logger.info("gRPC listening", metadata: ["port": "\(port)"])
                    }
                }
            }
        } onGracefulShutdown: {
            self.logger.info("draining in-flight RPCs")
            self.health.beginShutdown()
            self.server.beginGracefulShutdown()
        }
    }
}
