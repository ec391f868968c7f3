import Foundation
import GRPCCore
import WharfProto

/// `wharf.runtime.v1.ReplicaStatus`: what this process is and how it is doing, answered by every service
/// process for itself (the console asks each replica the gateway names). Administrative: it shows the
/// process's configuration and why its dependencies fail.
struct ReplicaStatusService: Wharf_Runtime_V1_ReplicaStatus.SimpleServiceProtocol {
    static let administrativeMethods: Set<MethodDescriptor> = [Wharf_Runtime_V1_ReplicaStatus.Method.Describe.descriptor]

    let configuration: RuntimeConfiguration
    let startedAt: Date
    let services: [String]
    let health: HealthMonitor
    let metricsPort: @Sendable () async -> Int?

    func describe(request: Wharf_Runtime_V1_DescribeReplicaRequest, context: ServerContext) async throws
        -> Wharf_Runtime_V1_ReplicaDescription
    {
        let failing = health.failures
        let port = await metricsPort() ?? 0
        return .with { description in
            description.component = configuration.serviceName
            description.nodeID = configuration.nodeID
            description.hostname = ProcessInfo.processInfo.hostName
            description.startedAtUnixMs = Int64(startedAt.timeIntervalSince1970 * 1000)
            description.metricsPort = UInt32(clamping: port)
            description.serving = health.status(of: "") == .serving
            description.dependencies = health.dependencyNames.map { name in
                .with {
                    $0.name = name
                    $0.reachable = failing[name] == nil
                    $0.error = failing[name] ?? ""
                }
            }
            description.services = services
            description.settings = configuration.effectiveSettings.map { setting in
                .with {
                    $0.name = setting.name
                    $0.value = setting.value
                }
            }
        }
    }
}
