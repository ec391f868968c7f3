import Foundation
import NegentropyProtocol
import ServiceLifecycle
import WharfRuntime
import WharfTopology

/// Builds the store service on a `WharfServiceHost`.
public enum StoreServer: WharfServiceProgram {
    public static let name = "store"
    public static let defaults = RuntimeConfiguration.Defaults(SystemShape.store)

    public static func settings(reader: EnvironmentReader) -> StoreSettings { StoreSettings(reader: reader) }
    public static let migrations = [
        MigrationSet(
            schema: "store",
            migrations: RecordRepository.migrations.migrations
                + [
                    RegistryCredentialStore.migration, RecordChangeFeed.migration, RecordRepository.manifestDigestMigration,
                    RecordCatalogQueries.pushedAtIndexMigration,
                ])
    ]
    static let pruneChangesJob = "store.prune-changes"

    public static func build(host: WharfServiceHost, settings: StoreSettings) async throws -> WharfServiceParts {
        let repository = RecordRepository(client: host.postgres, logger: host.logger)
        let credentials = RegistryCredentialStore(client: host.postgres, logger: host.logger)
        let changes = RecordChangeFeed(client: host.postgres, logger: host.logger)
        let service = StoreService(
            repository: repository, events: host.events,
            receiveLimit: host.configuration.maxMessageBytes, logger: host.logger)
        let transfer = RecordTransferService(repository: repository, events: host.events, logger: host.logger)
        let credentialService = RegistryCredentialsService(store: credentials, settings: settings, logger: host.logger)
        let recordSet = RecordSetSnapshot(
            client: host.postgres, logger: host.logger, buckets: Negentropy<SortedItems>.fewestBytesBuckets,
            frameSizeLimit: RecordReconciliationService.frameSizeLimit)
        let reconciliation = RecordReconciliationService(
            repository: repository, changes: changes, recordSet: recordSet,
            events: host.events, adminToken: host.configuration.adminToken,
            idleTimeout: host.configuration.streamIdleTimeout, watchDuration: settings.watchDuration,
            reconciliations: SlotLimiter(
                name: "store_reconciliations", limit: RecordReconciliationService.maximumReconciliations,
                reservedForCredentialed: RecordReconciliationService.reconciliationsKeptForThisNode,
                metrics: host.metricsFactory),
            watchers: SlotLimiter(
                name: "store_watchers", limit: RecordReconciliationService.maximumWatchers,
                reservedForCredentialed: RecordReconciliationService.watchersKeptForThisNode,
                metrics: host.metricsFactory),
            logger: host.logger)
        var background: [any Service] = [ManifestDigestBackfill(records: repository, logger: host.logger)]
        if let listen = settings.registryListen {
            background.append(
                OCIRegistry(
                    address: listen, records: repository, credentials: credentials, logger: host.logger,
                    quietTimeout: host.configuration.httpIdleTimeout))
        }

        // Pruning the change feed: one run per hour across replicas (keyed by time slot).
        let jobs = host.jobs
        @Sendable func schedulePrune() async throws {
            let slot = Int64(Date().timeIntervalSince1970 / 3600) + 1
            try await jobs.enqueue(
                kind: pruneChangesJob, payload: [String: String](), runAt: Date(timeIntervalSince1970: Double(slot) * 3600),
                uniqueKey: "\(pruneChangesJob)@\(slot)")
        }
        try await schedulePrune()
        let logger = host.logger
        let prune: JobHandler = { _ in
            try await schedulePrune()
            let pruned = try await changes.prune(olderThan: settings.changeRetention)
            if pruned > 0 { logger.info("pruned the record change feed", metadata: ["count": "\(pruned)"]) }
        }
        return WharfServiceParts(
            rpcServices: [
                service, credentialService, reconciliation, transfer,
                RecordCatalogService(queries: RecordCatalogQueries(client: host.postgres, logger: host.logger), logger: host.logger),
            ],
            backgroundServices: background,
            jobHandlers: [pruneChangesJob: prune],
            adminMethods: RegistryCredentialsService.administrativeMethods)
    }
}
