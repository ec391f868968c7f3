import CoreMetrics
import Logging
import ServiceLifecycle
import Synchronization
import WharfProto

public typealias ServingStatus = Grpc_Health_V1_HealthCheckResponse.ServingStatus

/// Something a service needs in order to serve, checked by a probe (e.g. `SELECT 1`, `PING`).
public struct HealthDependency: Sendable {
    public var name: String
    public var probe: @Sendable () async throws -> Void

    public init(name: String, probe: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.probe = probe
    }
}

/// Decides whether the server is SERVING: every dependency's probe passed on its latest run and the server
/// is not shutting down. Probes run every `interval`; `grpc.health.v1.Health` reads the result, and Watch
/// streams every change.
public final class HealthMonitor: Service, Sendable {
    private struct State {
        var failing: [String: String] = [:]
        var probed = false
        var shuttingDown = false
        var watchers: [Int: (service: String, continuation: AsyncStream<ServingStatus>.Continuation)] = [:]
        var nextWatcher = 0

        var overall: ServingStatus {
            (probed && failing.isEmpty && !shuttingDown) ? .serving : .notServing
        }
    }

    /// Fully qualified names of the services this server offers ("" is the server as a whole).
    public let services: Set<String>
    private let dependencies: [HealthDependency]
    /// Where `wharf_dependency_up{dependency=…}` (1 when its latest probe passed) is recorded.
    private let metrics: (any MetricsFactory)?
    private let interval: Duration
    private let probeTimeout: Duration
    private let logger: Logger
    private let state = Mutex(State())

    public init(
        services: [String], dependencies: [HealthDependency], interval: Duration = .seconds(2),
        probeTimeout: Duration = .seconds(2), logger: Logger = Logger(label: "wharf.health"),
        metrics: (any MetricsFactory)? = nil
    ) {
        self.metrics = metrics
        self.services = Set(services + [""])
        self.dependencies = dependencies
        self.interval = interval
        self.probeTimeout = probeTimeout
        self.logger = logger
    }

    /// The liveness name: SERVING whenever the process answers, whatever its dependencies (Kubernetes'
    /// liveness probe asks for it, so a PostgreSQL or Redis outage makes pods unready, never restarts them).
    public static let livenessService = "wharf.liveness"

    /// The status of `service`, or nil when this server does not offer it.
    public func status(of service: String) -> ServingStatus? {
        if service == Self.livenessService { return .serving }
        guard services.contains(service) else { return nil }
        return state.withLock { $0.overall }
    }

    /// The dependencies probed, in the order given.
    public var dependencyNames: [String] { dependencies.map(\.name) }

    /// Why the server is not serving (dependency name → error), empty when serving.
    public var failures: [String: String] { state.withLock { $0.failing } }

    /// The current status, then every change, until the server shuts down or the consumer stops.
    public func updates(of service: String) -> AsyncStream<ServingStatus> {
        let (stream, continuation) = AsyncStream.makeStream(of: ServingStatus.self, bufferingPolicy: .bufferingNewest(16))
        if service == Self.livenessService {
            continuation.yield(.serving)
            continuation.finish()
            return stream
        }
        let known = services.contains(service)
        let id: Int? = state.withLock { state in
            continuation.yield(known ? state.overall : .serviceUnknown)
            if state.shuttingDown {
                continuation.finish()
                return nil
            }
            let id = state.nextWatcher
            state.nextWatcher += 1
            state.watchers[id] = (service, continuation)
            return id
        }
        if let id {
            continuation.onTermination = { [weak self] _ in
                _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) }
            }
        }
        return stream
    }

    /// Runs every probe once and publishes the result.
    public func checkNow() async {
        var failing: [String: String] = [:]
        await withTaskGroup(of: (String, String?).self) { group in
            for dependency in dependencies {
                group.addTask { [probeTimeout] in
                    do {
                        try await withDeadline(probeTimeout) { try await dependency.probe() }
                        return (dependency.name, nil)
                    } catch {
                        return (dependency.name, String(describing: error))
                    }
                }
            }
            for await (name, error) in group {
                if let error { failing[name] = error }
            }
        }
        update { state in
            state.failing = failing
            state.probed = true
        }
        if let metrics {
            for dependency in dependencies {
                Gauge(label: "wharf_dependency_up", dimensions: [("dependency", dependency.name)], factory: metrics)
                    .record(failing[dependency.name] == nil ? 1 : 0)
            }
        }
    }

    /// Reports NOT_SERVING from now on (graceful shutdown: load balancers stop sending new calls) and ends
    /// Watch streams so that they do not hold the server's drain open.
    public func beginShutdown() {
        update { $0.shuttingDown = true }
        let watchers = state.withLock { state in
            defer { state.watchers = [:] }
            return state.watchers.values.map(\.continuation)
        }
        for continuation in watchers { continuation.finish() }
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval) { await self.checkNow() }
    }

    private func update(_ change: (inout State) -> Void) {
        let (before, after, failingBefore, failing, watchers) = state.withLock { state in
            let before = state.overall
            let failingBefore = state.failing
            change(&state)
            return (before, state.overall, failingBefore, state.failing, Array(state.watchers.values))
        }
        // A service that starts NOT_SERVING and stays so says why (the first failing probe, and each change of
        // what fails), not only when the status flips.
        if before == after, after != .serving, failing != failingBefore, !failing.isEmpty {
            logger.warning("health: still NOT_SERVING", metadata: ["failing": "\(failing)"])
        }
        guard before != after else { return }
        if after == .serving {
            logger.info("health: SERVING")
        } else {
            logger.warning("health: NOT_SERVING", metadata: ["failing": "\(failing)"])
        }
        for watcher in watchers where services.contains(watcher.service) {
            watcher.continuation.yield(after)
        }
    }
}
