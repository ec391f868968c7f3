import GRPCCore
import GRPCInProcessTransport

/// Serves `services` over grpc-swift-2's in-process transport — no socket, no database unless the services
/// bring one — and runs `body` with a client of them; the server stops when `body` returns or throws. For tests
/// of a service's logic over its gRPC API with in-memory backends; services as deployed run with
/// `withServices`.
public func withInProcessServer<T: Sendable>(
    _ services: [any RegistrableRPCService], _ body: (GRPCClient<InProcessTransport.Client>) async throws -> T
) async throws -> T {
    let transport = InProcessTransport()
    let server = GRPCServer(transport: transport.server, services: services)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve() }
        let result: Result<T, any Error>
        do {
            result = .success(try await withGRPCClient(transport: transport.client) { try await body($0) })
        } catch {
            result = .failure(error)
        }
        server.beginGracefulShutdown()
        try await group.waitForAll()
        return try result.get()
    }
}
