import WharfRuntime

/// Builds the store service on a `WharfServiceHost`.
public enum StoreServer {
    public static let defaults = RuntimeConfiguration.Defaults(grpcPort: 50051, metricsPort: 9101)
    public static let migrations = [RecordRepository.migrations]

    public static func parts(host: WharfServiceHost) -> WharfServiceParts {
        let repository = RecordRepository(client: host.postgres, logger: host.logger)
        let service = StoreService(repository: repository, events: host.events,
                                   receiveLimit: host.configuration.maxMessageBytes, logger: host.logger)
        return WharfServiceParts(rpcServices: [service], serviceNames: ["agntcy.dir.store.v1.StoreService"])
    }
}
