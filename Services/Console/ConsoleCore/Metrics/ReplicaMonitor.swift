import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import Synchronization
import WharfProto
import WharfRuntime

/// What the console knows of one process, from its latest reading.
public struct ReplicaView: Sendable {
    /// host:port of its gRPC listener (as the gateway's routes name it); the gateway's own address for it.
    public var address: String
    /// The gRPC services the gateway routes to it.
    public var routedServices: [String]
    /// The gateway saw it serving.
    public var routedServing: Bool
    public var description: Wharf_Runtime_V1_ReplicaDescription?
    /// Why it could not be described or scraped, when it could not.
    public var problem: String?
    /// Readings of its metrics, oldest first, over the kept window.
    public var readings: [TrafficReading]

    public var component: String { description?.component ?? "" }

    /// Rates over the last `seconds` (the earliest reading at least that old, else the oldest).
    public func rates(over seconds: TimeInterval) -> TrafficRates? {
        guard let latest = readings.last else { return nil }
        let earlier = readings.last { latest.at.timeIntervalSince($0.at) >= seconds } ?? readings.first
        guard let earlier, earlier.at < latest.at else { return nil }
        return TrafficRates(from: earlier, to: latest)
    }

    /// Requests per second between consecutive readings (a sparkline's points), oldest first.
    public var requestRateSeries: [Double] {
        zip(readings, readings.dropFirst()).map { TrafficRates(from: $0, to: $1)?.requestsPerSecond ?? 0 }
    }
}

/// Reads, every interval, which replicas the gateway routes to (ListRoutes), what each says of itself
/// (ReplicaStatus.Describe, on its own address) and its metrics (GET /metrics on the port it names), keeping a
/// window of readings per replica for the System page's rates, error ratios and p99s.
public final class ReplicaMonitor: Service, Sendable {
    let backend: ConsoleBackend
    let fetcher: MetricsFetcher
    let interval: Duration
    /// Readings kept per replica (the window is `kept` intervals long).
    let kept: Int
    /// host:port of the gateway's own metrics endpoint.
    let gatewayMetrics: HostPort?
    let logger: Logger
    private let state = Mutex<[String: ReplicaView]>([:])
    private let routeState = Mutex<(routes: [Wharf_Gateway_V1_RouteStatus], problem: String?, at: Date?)>(([], nil, nil))
    private let gatewayReadings = Mutex<[TrafficReading]>([])

    public init(
        backend: ConsoleBackend, interval: Duration, window: Duration = .seconds(600), gatewayMetrics: HostPort?, logger: Logger
    ) {
        self.backend = backend
        self.fetcher = MetricsFetcher()
        self.interval = interval
        let intervalSeconds = max(0.2, Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18)
        self.kept = max(2, min(2_000, Int(Double(window.components.seconds) / intervalSeconds) + 1))
        self.gatewayMetrics = gatewayMetrics
        self.logger = logger
    }

    public func run() async throws {
        await repeatUntilShutdown(every: interval) { [self] in await refresh() }
    }

    /// The replicas, in route order then address.
    public var replicas: [ReplicaView] {
        state.withLock { Array($0.values) }.sorted { ($0.component, $0.address) < ($1.component, $1.address) }
    }

    public var routes: (routes: [Wharf_Gateway_V1_RouteStatus], problem: String?, at: Date?) { routeState.withLock { $0 } }

    /// The gateway's own readings (its metrics endpoint).
    public var gateway: ReplicaView {
        ReplicaView(
            address: backend.settings.gateway.description, routedServices: [], routedServing: true, description: nil,
            problem: nil, readings: gatewayReadings.withLock { $0 })
    }

    /// One round: routes, then every replica at once.
    public func refresh() async {
        let listed: [Wharf_Gateway_V1_RouteStatus]
        do {
            listed = try await Wharf_Gateway_V1_GatewayStatus.Client(wrapping: backend.gateway).listRoutes(
                .init(), options: backend.options
            ).routes
            routeState.withLock { $0 = (listed, nil, Date()) }
        } catch {
            routeState.withLock { $0.problem = "the gateway's routes cannot be read: \(ConsoleText.reason(error))" }
            return
        }
        var routed: [String: (services: [String], serving: Bool)] = [:]
        for route in listed {
            for replica in route.replicas {
                var entry = routed[replica.address] ?? ([], false)
                entry.services.append(route.service)
                entry.serving = entry.serving || replica.serving
                routed[replica.address] = entry
            }
        }
        await withTaskGroup(of: Void.self) { group in
            for (address, route) in routed {
                group.addTask { [self] in await read(address: address, services: route.services, serving: route.serving) }
            }
            group.addTask { [self] in await readGateway() }
        }
        state.withLock { views in views = views.filter { routed[$0.key] != nil } }
    }

    private func read(address: String, services: [String], serving: Bool) async {
        var view = state.withLock { $0[address] } ?? ReplicaView(address: address, routedServices: [], routedServing: serving, readings: [])
        view.routedServices = services.sorted()
        view.routedServing = serving
        view.problem = nil
        do {
            let description = try await backend.onReplica(address) { client in
                try await Wharf_Runtime_V1_ReplicaStatus.Client(wrapping: client).describe(.init(), options: backend.options)
            }
            view.description = description
            if description.metricsPort > 0, let host = try? HostPort(parsing: address).host {
                let text = try await fetcher.get(host: host, port: Int(description.metricsPort))
                view.readings = Array((view.readings + [TrafficReading(at: Date(), samples: PrometheusText.parse(text))]).suffix(kept))
            }
        } catch {
            view.problem = ConsoleText.reason(error)
        }
        let finished = view
        state.withLock { $0[address] = finished }
    }

    private func readGateway() async {
        guard let gatewayMetrics else { return }
        do {
            let text = try await fetcher.get(host: gatewayMetrics.host, port: gatewayMetrics.port)
            let reading = TrafficReading(at: Date(), samples: PrometheusText.parse(text))
            gatewayReadings.withLock { $0 = Array(($0 + [reading]).suffix(kept)) }
        } catch {
            logger.debug("gateway metrics not read", metadata: ["error": "\(error)"])
        }
    }
}
