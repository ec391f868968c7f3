import CoreMetrics
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import NIOPosix
import PostgresNIO
import Prometheus
import ServiceLifecycle
import Synchronization

/// What a service adds to the shared runtime.
public struct WharfServiceParts: Sendable {
    /// gRPC services to serve (health is added by the host).
    public var rpcServices: [any RegistrableRPCService]
    /// Long-running background parts (event listeners, relays), run alongside the gRPC server.
    public var backgroundServices: [any Service]
    /// Handlers for job kinds this service runs from the shared job table.
    public var jobHandlers: [String: JobHandler]
    /// Dependencies beyond PostgreSQL and Redis that health must reflect.
    public var healthDependencies: [HealthDependency]
    /// RPCs that need the admin token (`AdminBoundaryInterceptor`).
    public var adminMethods: Set<MethodDescriptor>

    public init(
        rpcServices: [any RegistrableRPCService],
        backgroundServices: [any Service] = [], jobHandlers: [String: JobHandler] = [:],
        healthDependencies: [HealthDependency] = [], adminMethods: Set<MethodDescriptor> = []
    ) {
        self.rpcServices = rpcServices
        self.backgroundServices = backgroundServices
        self.jobHandlers = jobHandlers
        self.healthDependencies = healthDependencies
        self.adminMethods = adminMethods
    }
}

extension WharfServiceParts {
    /// The fully qualified names of the services `rpcServices` register, as their generated descriptors name
    /// them (per-service health, and what `SystemShapeTests` compares with the system's shape).
    public var serviceNames: [String] {
        var router = RPCRouter<HTTP2ServerTransport.Posix>()
        for service in rpcServices { service.registerMethods(with: &router) }
        return Set(router.methods.map(\.service.fullyQualifiedService)).sorted()
    }
}

/// The object graph every Wharf service runs in: PostgreSQL pool (migrated at start), Redis client and
/// subscriber, event bus, job queue and worker, health monitor, gRPC server and metrics endpoint, all run
/// under one ServiceGroup. SIGTERM/SIGINT (or, run as a `Service` in a group, the group's graceful shutdown)
/// start a graceful shutdown: health turns NOT_SERVING, the gRPC server drains in-flight RPCs, then the rest
/// stops in reverse order and PostgreSQL is closed last.
public final class WharfServiceHost: Service, Sendable {
    public let configuration: RuntimeConfiguration
    public let logger: Logger
    public let postgres: PostgresClient
    public let redis: RedisClient
    public let subscriber: RedisSubscriber
    public let events: EventBus
    public let jobs: JobQueue
    public let registry: PrometheusCollectorRegistry
    public let metricsFactory: PrometheusMetricsFactory
    private let migrations: [MigrationSet]
    private let build: @Sendable (WharfServiceHost) async throws -> WharfServiceParts
    private let grpcHost = OnceValue<GRPCServerHost>()
    private let metricsEndpoint = OnceValue<MetricsEndpoint?>()
    private let healthMonitor = OnceValue<HealthMonitor>()
    private let served = OnceValue<[String]>()
    private let group = Mutex<ServiceGroup?>(nil)
    private let shutdownRequested = Mutex(false)
    private let startedAt = Date()

    public init(
        configuration: RuntimeConfiguration, migrations: [MigrationSet], logger: Logger? = nil,
        registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        build: @escaping @Sendable (WharfServiceHost) async throws -> WharfServiceParts
    ) {
        self.build = build
        var logger = logger ?? Logger(label: "wharf.\(configuration.serviceName)")
        logger.logLevel = configuration.logLevel
        self.configuration = configuration
        self.logger = logger
        self.migrations = [JobMigrations.set] + migrations
        self.registry = registry
        self.metricsFactory = PrometheusMetricsFactory(registry: registry)
        postgres = PostgresClient(configuration: configuration.postgres.clientConfiguration, backgroundLogger: logger)
        redis = RedisClient(configuration: configuration.redis, logger: logger)
        subscriber = RedisSubscriber(configuration: configuration.redis, logger: logger)
        events = EventBus(publisher: redis, subscriber: subscriber, channelPrefix: configuration.redis.channelPrefix, logger: logger)
        jobs = JobQueue(
            client: postgres, redis: redis, defaultMaxAttempts: configuration.jobs.maxAttempts, logger: logger)
    }

    /// The gRPC port once listening (the configured one, or the one picked for port 0).
    public func grpcPort() async throws -> Int {
        try await grpcHost.value.listeningPort()
    }

    /// The metrics port once listening, or nil when metrics are off.
    public func metricsPort() async -> Int? {
        guard let endpoint = await metricsEndpoint.value else { return nil }
        return await endpoint.boundPort()
    }

    public var health: HealthMonitor {
        get async { await healthMonitor.value }
    }

    /// The gRPC services this host serves (health aside), once its parts are built.
    public var servedServiceNames: [String] {
        get async { await served.value }
    }

    /// Starts a graceful shutdown, as SIGTERM does.
    public func shutdownGracefully() async {
        shutdownRequested.withLock { $0 = true }
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }

    /// Runs as a `Service`: until `shutdownGracefully()` or the enclosing group's graceful shutdown.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await run(handleSignals: false)
        } onGracefulShutdown: {
            Task { await self.shutdownGracefully() }
        }
    }

    /// Runs until SIGTERM/SIGINT (when `handleSignals`) or `shutdownGracefully()`; the service's own parts are
    /// built once PostgreSQL is migrated. Throws `StartupError` when dependencies stay unreachable for
    /// `WHARF_STARTUP_TIMEOUT`.
    public func run(handleSignals: Bool) async throws {
        try await withThrowingDiscardingTaskGroup { tasks in
            tasks.addTask { await self.postgres.run() }
            try await migrateWhenReachable()
            let parts = try await build(self)
            try await runServices(parts: parts, handleSignals: handleSignals)
            tasks.cancelAll()
        }
        await redis.shutdown()
    }

    private func migrateWhenReachable() async throws {
        let clock = ContinuousClock()
        let deadline = clock.now + configuration.startupTimeout
        var delay = Duration.milliseconds(200)
        while true {
            do {
                // The pool waits for a connection as long as the server is absent: bound each attempt.
                let remaining = max(deadline - clock.now, .milliseconds(100))
                try await withDeadline(remaining) { [migrations, postgres, logger] in
                    try await MigrationRunner.apply(migrations, on: postgres, logger: logger)
                }
                return
            } catch {
                if clock.now + delay > deadline || shutdownRequested.withLock({ $0 }) {
                    throw StartupError.postgresUnavailable(
                        configuration.postgres.maskedDescription, String(reflecting: error))
                }
                logger.warning(
                    "PostgreSQL not ready; retrying",
                    metadata: [
                        "postgres": "\(configuration.postgres.maskedDescription)", "error": "\(error)",
                    ])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    private func runServices(parts: WharfServiceParts, handleSignals: Bool) async throws {
        let postgres = self.postgres
        let redis = self.redis
        let serviceNames = parts.serviceNames
        served.set(serviceNames)
        let health = HealthMonitor(
            services: serviceNames,
            dependencies: [
                HealthDependency(name: "postgres") { try await postgres.query("SELECT 1") },
                HealthDependency(name: "redis") {
                    let reply = try await redis.send(["PING"])
                    guard reply.string == "PONG" else { throw RedisError.unexpectedReply("PING answered \(reply)") }
                },
            ] + parts.healthDependencies,
            interval: configuration.healthInterval, logger: logger, metrics: metricsFactory)
        healthMonitor.set(health)
        // Every process describes itself (not a routed service: it is left out of `served`).
        let replicaStatus = ReplicaStatusService(
            configuration: configuration, startedAt: startedAt, services: serviceNames, health: health,
            metricsPort: { [weak self] in await self?.metricsPort() })
        let server = GRPCServerHost(
            options: GRPCServerHost.Options(configuration), services: parts.rpcServices + [replicaStatus], health: health,
            metricsFactory: metricsFactory,
            interceptors: [
                AdminBoundaryInterceptor(
                    token: configuration.adminToken, methods: parts.adminMethods.union(ReplicaStatusService.administrativeMethods))
            ],
            logger: logger)
        grpcHost.set(server)
        let metrics = configuration.metricsListen.map {
            MetricsEndpoint(registry: registry, address: $0, health: health, logger: logger, quietTimeout: configuration.httpIdleTimeout)
        }
        metricsEndpoint.set(metrics)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
        func helper(_ service: any Service, _ name: String) {
            services.append(.init(service: service, successTerminationBehavior: .ignore, serviceName: name))
        }
        helper(health, "health")
        helper(subscriber, "redis-subscriber")
        if let metrics { helper(metrics, "metrics") }
        if !parts.jobHandlers.isEmpty {
            let worker = JobWorker(
                queue: jobs, handlers: parts.jobHandlers,
                settings: .init(
                    workerID: "\(configuration.serviceName)@\(configuration.nodeID):\(ProcessInfo.processInfo.processIdentifier)",
                    concurrency: configuration.jobs.concurrency, lease: configuration.jobs.lease,
                    pollInterval: configuration.jobs.pollInterval),
                subscriber: subscriber, logger: logger)
            helper(worker, "jobs")
        }
        for (index, service) in parts.backgroundServices.enumerated() { helper(service, "background-\(index)") }
        // Last, so that graceful shutdown (reverse order) drains the gRPC server first.
        services.append(.init(service: server, serviceName: "grpc"))

        var groupConfiguration = ServiceGroupConfiguration(
            services: services,
            gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [],
            logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = configuration.shutdownGrace
        // No limit: past one, ServiceLifecycle ends the whole process with a fatal error, which took down a test
        // process hosting several services when one host's cancellation was slow. A process that is told to stop
        // and does not is ended by its supervisor (Kubernetes' grace period, `scripts/wharf down`).
        groupConfiguration.maximumCancellationDuration = nil
        let serviceGroup = ServiceGroup(configuration: groupConfiguration)
        group.withLock { $0 = serviceGroup }
        if shutdownRequested.withLock({ $0 }) { await serviceGroup.triggerGracefulShutdown() }
        try await serviceGroup.run()
        logger.info("\(configuration.serviceName) stopped")
    }
}

public enum StartupError: Error, CustomStringConvertible {
    case postgresUnavailable(String, String)

    public var description: String {
        switch self {
        case .postgresUnavailable(let url, let error):
            return "cannot reach PostgreSQL at \(url) within WHARF_STARTUP_TIMEOUT: \(error)"
        }
    }
}
