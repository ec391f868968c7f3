import Foundation
import Logging
import ServiceLifecycle
import WharfRuntime
import WharfTopology

/// Builds the negentropy service on a `WharfServiceHost`: the gRPC NegentropyService, the relay endpoint,
/// cross-replica live events, peer sync jobs and the idle-session sweep.
public enum NegentropyServer: WharfServiceProgram {
    public static let name = "negentropy"
    public static let defaults = RuntimeConfiguration.Defaults(SystemShape.negentropy)

    public static func settings(reader: EnvironmentReader) -> NegentropySettings { NegentropySettings(reader: reader) }
    public static let migrations = [EventStore.migrations]

    /// Parts plus the relay, whose bound port tests read.
    public struct Built: BuiltWharfService {
        public var parts: WharfServiceParts
        public var relay: RelayServer
        /// The sessions this replica serves (tests read their counts).
        public var sessions: NegentropySessions
        public var indexes: ResidentIndexes?
    }

    public static func build(host: WharfServiceHost, settings: NegentropySettings) async throws -> Built {
        let logger = host.logger
        let store = EventStore(client: host.postgres, logger: logger, queryTimeout: settings.relayQueryTimeout)
        let registry = SessionRegistry(redis: host.redis, timeout: settings.sessionTimeout, prefix: host.configuration.redis.channelPrefix)
        let indexes = settings.residentIndexes.map {
            ResidentIndexes(settings: $0, client: host.postgres, commits: store.commits, logger: logger, metrics: host.metricsFactory)
        }
        let sessions = NegentropySessions(
            registry: registry, store: store, indexes: indexes, limits: settings.sessionLimits, logger: logger,
            gauge: LimiterGauge(name: "negentropy_sessions", limit: settings.sessionLimits.maximumSessions, metrics: host.metricsFactory),
            log: ReconciliationLog(metrics: host.metricsFactory), metrics: host.metricsFactory)
        let live = LiveEvents()
        let replicaID = UUID().uuidString
        let postgres = host.configuration.postgres
        let deployment = "\(postgres.host):\(postgres.port)/\(postgres.database)"
        let peers = PeerRepository(client: host.postgres, logger: logger)
        let sync = PeerSync(store: store, indexes: indexes, live: live, settings: settings.peerSync, logger: logger)
        let coordinator = SyncCoordinator(
            peers: peers, jobs: host.jobs, sync: sync, filter: settings.syncFilter,
            interval: settings.syncInterval, logger: logger)
        // Configured peers join the persisted ones; as ORLY, the loop starts by itself only when there are some.
        for url in settings.peers { try await peers.add(url) }
        if !settings.peers.isEmpty { try await coordinator.start() }

        let relay = RelayServer(
            address: settings.relayAddress,
            context: RelayContext(
                store: store, sessions: sessions, live: live, bus: host.events, deployment: deployment, replicaID: replicaID,
                limits: settings.relayLimits, logger: logger, intake: RelayIntake(metrics: host.metricsFactory)),
            maximumMessageSize: settings.relayMaximumMessageSize,
            handshakeTimeout: host.configuration.httpIdleTimeout,
            trustedProxies: settings.relayTrustedProxies,
            connectionsGauge: LimiterGauge(name: "relay_connections", limit: settings.relayLimits.connections, metrics: host.metricsFactory))
        let service = NegentropyService(
            sessions: sessions, coordinator: coordinator, allowedPeers: settings.peerSync.allowedPeers,
            frontEndToken: settings.frontEndToken, adminToken: host.configuration.adminToken,
            filterBounds: settings.relayLimits.filterBounds, logger: logger)
        let background = BackgroundTask(name: "negentropy live events and idle sessions") {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await live.relay(from: host.events, deployment: deployment, replicaID: replicaID) }
                if let indexes { group.addTask { await indexes.run() } }
                group.addTask {
                    while !Task.isCancelled {
                        // Idle sessions give their places back within their timeout (at most every 30 s).
                        try? await Task.sleep(for: min(settings.sessionTimeout, .seconds(30)))
                        sessions.dropIdle()
                    }
                }
            }
        }
        let parts = WharfServiceParts(
            rpcServices: [service, RelayActivityService(log: sessions.log)],
            backgroundServices: [relay, background],
            jobHandlers: coordinator.jobHandlers,
            adminMethods: NegentropyService.administrativeMethods.union(RelayActivityService.administrativeMethods))
        return Built(parts: parts, relay: relay, sessions: sessions, indexes: indexes)
    }
}

/// A long-running task as a ServiceLifecycle service (cancelled on shutdown).
struct BackgroundTask: Service {
    var name: String
    var body: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}
