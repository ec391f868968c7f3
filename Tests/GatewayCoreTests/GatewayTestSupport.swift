import Foundation
import GatewayCore
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Prometheus
import WharfRuntime

/// Runs a gateway in process with `routes` (WHARF_GATEWAY_ROUTES syntax).
func withGateway<T: Sendable>(routes: String, environment extra: [String: String] = [:],
                              _ body: (Int, GatewayRunner) async throws -> T) async throws -> T {
    var environment = [
        "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_GATEWAY_ROUTES": routes, "WHARF_GATEWAY_HEALTH_INTERVAL": "200ms", "WHARF_GATEWAY_ACCESS_LOG": "off",
    ]
    environment.merge(extra) { $1 }
    let reader = EnvironmentReader(environment: environment)
    let runtime = RuntimeConfiguration(serviceName: "gateway", defaults: GatewayRunner.defaults, reader: reader)
    let settings = GatewaySettings(reader: reader)
    try reader.validate()
    var logger = Logger(label: "test.gateway")
    logger.logLevel = .warning
    let runner = GatewayRunner(runtime: runtime, settings: settings, registry: PrometheusCollectorRegistry(), logger: logger)
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await runner.run(handleSignals: false) }
        let port = await runner.server.boundPort()
        await runner.server.probeNow()
        let result = try await body(port, runner)
        await runner.shutdownGracefully()
        try await group.waitForAll()
        return result
    }
}

func withClient<T: Sendable>(port: Int, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> T) async throws -> T {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport) { try await body($0) }
}

extension GRPCClient where Transport == HTTP2ClientTransport.Posix {
    func echoUnary(_ message: [UInt8], metadata: Metadata = [:], options: CallOptions = .defaults) async throws -> (ClientResponse<[UInt8]>) {
        try await unary(request: ClientRequest(message: message, metadata: metadata), descriptor: EchoService.method("Unary"),
                        serializer: RawSerializer(), deserializer: RawSerializer(), options: options) { response in
            _ = try response.message  // throws the call's error
            return response
        }
    }
}
