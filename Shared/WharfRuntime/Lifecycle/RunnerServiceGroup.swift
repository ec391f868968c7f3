import Logging
import ServiceLifecycle
import Synchronization

/// The service group of a process that runs no `WharfServiceHost` (the gateway, the console): helpers that may
/// end without ending the process (metrics endpoint, probers, monitors), then the main service, last so that a
/// graceful shutdown (SIGTERM/SIGINT when `handleSignals`, or `shutdownGracefully()`) stops it first.
public final class RunnerServiceGroup: Sendable {
    private let group = Mutex<ServiceGroup?>(nil)

    public init() {}

    public func run(
        helpers: [(service: any Service, name: String)], main: (service: any Service, name: String), handleSignals: Bool,
        shutdownGrace: Duration, logger: Logger
    ) async throws {
        var services = helpers.map {
            ServiceGroupConfiguration.ServiceConfiguration(service: $0.service, successTerminationBehavior: .ignore, serviceName: $0.name)
        }
        services.append(.init(service: main.service, serviceName: main.name))
        var configuration = ServiceGroupConfiguration(
            services: services, gracefulShutdownSignals: handleSignals ? [.sigterm, .sigint] : [], logger: logger)
        configuration.maximumGracefulShutdownDuration = shutdownGrace
        configuration.maximumCancellationDuration = .seconds(5)
        let serviceGroup = ServiceGroup(configuration: configuration)
        group.withLock { $0 = serviceGroup }
        try await serviceGroup.run()
    }

    public func shutdownGracefully() async {
        await group.withLock { $0 }?.triggerGracefulShutdown()
    }
}
