import Foundation
import WharfRuntime

/// Builds the sync service on a `WharfServiceHost`.
public enum SyncServer {
    public static let defaults = RuntimeConfiguration.Defaults(grpcPort: 50052, metricsPort: 9102)
    public static let migrations = [SyncRepository.migrations]

    public static func parts(host: WharfServiceHost, settings: SyncSettings) async throws -> WharfServiceParts {
        let repository = SyncRepository(client: host.postgres, logger: host.logger)
        let local = try LocalDirectory(settings: settings, adminToken: host.configuration.adminToken)
        let service = SyncService(repository: repository, jobs: host.jobs, settings: settings, local: local, logger: host.logger)
        let progress = SyncProgressService(repository: repository, local: local, logger: host.logger)
        let mirror = SyncMirror(repository: repository, local: local, settings: settings, nodeID: host.configuration.nodeID,
                                jobs: host.jobs, logger: host.logger)
        return WharfServiceParts(
            rpcServices: [service, progress],
            serviceNames: ["agntcy.dir.store.v1.SyncService", "wharf.sync.v1.SyncProgress"],
            backgroundServices: [local, SyncMetrics(repository: repository, factory: host.metricsFactory, interval: .seconds(10), logger: host.logger)],
            jobHandlers: [SyncMirror.jobKind: mirror.run],
            adminMethods: SyncProgressService.administrativeMethods)
    }
}
