import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GatewayCore
import Logging
import Prometheus
import WharfRuntime

func withClient<T: Sendable>(port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport) { try await body($0) }
}

extension GRPCClient where Transport == HTTP2ClientTransport.Posix {
    func echoUnary(_ message: [UInt8], metadata: Metadata = [:], options: CallOptions = .defaults) async throws -> (ClientResponse<[UInt8]>) {
        try await unary(
            request: ClientRequest(message: message, metadata: metadata), descriptor: EchoService.method("Unary"),
            serializer: RawSerializer(), deserializer: RawSerializer(), options: options
        ) { response in
            _ = try response.message  // throws the call's error
            return response
        }
    }
}
