import GRPCCore
import WharfProto

/// `grpc.health.v1.Health` backed by a `HealthMonitor`. Check on a service this server does not offer
/// answers NOT_FOUND; Watch answers SERVICE_UNKNOWN and keeps watching, as the health protocol says.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
    public let monitor: HealthMonitor

    public init(monitor: HealthMonitor) {
        self.monitor = monitor
    }

    public func check(
        request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
    ) async throws -> Grpc_Health_V1_HealthCheckResponse {
        guard let status = monitor.status(of: request.service) else {
            throw RPCError(code: .notFound, message: "unknown service \"\(request.service)\"")
        }
        return .with { $0.status = status }
    }

    public func watch(
        request: Grpc_Health_V1_HealthCheckRequest,
        response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
        context: ServerContext
    ) async throws {
        for await status in monitor.updates(of: request.service) {
            try await response.write(.with { $0.status = status })
        }
    }
}
