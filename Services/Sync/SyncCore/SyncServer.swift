import Foundation
import GRPCCore
import ServiceLifecycle
import WharfRuntime
import WharfTopology

/// Builds the sync service on a `WharfServiceHost`.
public enum SyncServer: WharfServiceProgram {
    public static let name = "sync"
    public static let defaults = RuntimeConfiguration.Defaults(SystemShape.sync)

    public static func settings(reader: EnvironmentReader) -> SyncSettings { SyncSettings(reader: reader) }
    public static let migrations = [SyncRepository.migrations, BackrestSchema.migrations]

    public static func build(host: WharfServiceHost, settings: SyncSettings) async throws -> WharfServiceParts {
        let repository = SyncRepository(client: host.postgres, logger: host.logger)
        let local = try LocalDirectory(settings: settings, adminToken: host.configuration.adminToken)
        let service = SyncService(repository: repository, jobs: host.jobs, settings: settings, local: local, logger: host.logger)
        let progress = SyncProgressService(repository: repository, local: local, logger: host.logger)
        let mirror = SyncMirror(
            repository: repository, local: local, settings: settings, nodeID: host.configuration.nodeID,
            jobs: host.jobs, logger: host.logger)
        // A hub without a usable key (a read-only mount with no Secret, say) is off; the mirrors still run.
        let backrest: [any RegistrableRPCService]
        var backrestBackground: [any Service] = []
        do {
            let parts = try await backrestParts(host: host, settings: settings.backrest)
            backrest = parts.services
            backrestBackground = parts.background
        } catch let problem as ConfigurationProblem {
            host.logger.error("the backrest hub is off", metadata: ["reason": "\(problem)"])
            backrest = []
        }
        return WharfServiceParts(
            rpcServices: [service, progress] + backrest,
            backgroundServices: [
                local, SyncMetrics(repository: repository, factory: host.metricsFactory, interval: .seconds(10), logger: host.logger),
            ] + backrestBackground,
            jobHandlers: [SyncMirror.jobKind: mirror.run],
            adminMethods: SyncService.administrativeMethods.union(SyncProgressService.administrativeMethods).union(
                BackrestSyncStateService.administrativeMethods
            )
            .union(BackrestHubService.administrativeMethods))
    }

    /// The backrest hub: its identity (the key file, created on first start), the clients seeded from
    /// configuration, its three services, the backrest metrics and the fill of operation kinds.
    static func backrestParts(host: WharfServiceHost, settings: BackrestSettings) async throws -> (
        services: [any RegistrableRPCService], background: [any Service]
    ) {
        let identity = try settings.loadOrCreateIdentity()
        // Without its ed25519 key the hub still serves protocol 1; protocol-3 clients are told why they cannot connect.
        let ed25519: Result<BackrestEd25519Identity, ConfigurationProblem>
        do {
            ed25519 = .success(try settings.loadOrCreateEd25519Identity())
        } catch let problem as ConfigurationProblem {
            host.logger.error("the backrest hub cannot serve protocol 3 (backrest 1.13+)", metadata: ["reason": "\(problem)"])
            ed25519 = .failure(problem)
        }
        let instanceID = settings.instanceID ?? host.configuration.nodeID
        if let problem = BackrestClients.instanceIDProblem(instanceID) {
            throw ConfigurationProblem(
                "the backrest hub's instance id \"\(instanceID)\" (WHARF_BACKREST_INSTANCE_ID, else WHARF_NODE_ID): \(problem)")
        }
        let clients = BackrestClients(client: host.postgres, logger: host.logger)
        for entry in try BackrestClientSeed.parse(settings.seedClients) {
            _ = try await clients.put(instanceID: entry.instanceID, keyid: entry.keyid, permissions: entry.permissions)
        }
        let peerStates = PeerStates(client: host.postgres, events: host.events, logger: host.logger)
        let configPushes = ConfigPushes(client: host.postgres, events: host.events, logger: host.logger)
        let pairingTokens = PairingTokens(client: host.postgres, logger: host.logger)
        let sharedRepos = SharedRepos(client: host.postgres, events: host.events, logger: host.logger)
        let operations = OperationStore(client: host.postgres, logger: host.logger)
        let hub = BackrestSyncHub(
            identity: identity, ed25519: ed25519, instanceID: instanceID, clients: clients, pairingTokens: pairingTokens,
            operations: operations, peerStates: peerStates,
            configPushes: configPushes, sharedRepos: sharedRepos, events: host.events, settings: settings, logger: host.logger)
        host.logger.info(
            "backrest hub identity",
            metadata: [
                "instance_id": "\(instanceID)", "keyid": "\(identity.publicKey.keyid)",
                "ed25519_keyid": "\((try? ed25519.get())?.keyid ?? "-")",
            ])
        return (
            [
                hub,
                BackrestSyncStateService(clients: clients, peerStates: peerStates, configPushes: configPushes, logger: host.logger),
                BackrestHubService(
                    identity: identity, ed25519: ed25519, instanceID: instanceID, clients: clients, pairingTokens: pairingTokens,
                    peerStates: peerStates, sharedRepos: sharedRepos, configPushes: configPushes, operations: operations,
                    events: host.events, logger: host.logger),
            ],
            [
                BackrestMetrics(
                    clients: clients, peerStates: peerStates, client: host.postgres, settings: settings,
                    gauges: GaugeSnapshot(factory: host.metricsFactory), interval: .seconds(10), logger: host.logger),
                OperationKindBackfill(client: host.postgres, logger: host.logger),
            ]
        )
    }
}
