import GRPCCore
import GRPCNIOTransportHTTP2
import WharfRuntime

/// Runs `body` with a gRPC client connected over plaintext HTTP/2 to 127.0.0.1:`port`; `admin` sends the test
/// admin token with every call.
public func withTestClient<Result: Sendable>(
    port: Int, admin: Bool = false, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport, interceptors: admin ? TestCredentials.adminInterceptors : []) { client in
        try await body(client)
    }
}
