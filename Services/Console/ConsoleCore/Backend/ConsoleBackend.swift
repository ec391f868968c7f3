import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import ServiceLifecycle
import WharfProto
import WharfRuntime

/// How the console reaches the system: one long-lived gRPC client to the gateway (every routed call) and
/// short calls straight to a replica (what each process says of itself: `ReplicaStatus`, a negentropy
/// replica's own activity). Every call carries the console's admin token and, when configured, the gateway's
/// bearer token; the services check them, not the console.
public final class ConsoleBackend: Service, Sendable {
    public let gateway: GRPCClient<HTTP2ClientTransport.Posix>
    let settings: ConsoleSettings
    let interceptors: [any ClientInterceptor]
    let security: HTTP2ClientTransport.Posix.TransportSecurity

    public init(settings: ConsoleSettings, adminToken: SharedSecret?) throws {
        self.settings = settings
        var interceptors: [any ClientInterceptor] = []
        if let adminToken { interceptors.append(AdminTokenClientInterceptor(token: adminToken)) }
        if let token = settings.gatewayToken { interceptors.append(GatewayBearerInterceptor(token: token)) }
        self.interceptors = interceptors
        if let ca = settings.gatewayCAFile {
            security = .tls { $0.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
        } else {
            security = .plaintext
        }
        gateway = GRPCClient(
            transport: try HTTP2ClientTransport.Posix(
                target: .dns(host: settings.gateway.host, port: settings.gateway.port), transportSecurity: security),
            interceptors: interceptors)
    }

    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await gateway.runConnections()
        } onGracefulShutdown: {
            self.gateway.beginGracefulShutdown()
        }
    }

    /// Options of every call: the configured timeout.
    public var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = settings.callTimeout
        return options
    }

    /// A call straight to one replica (`host:port` as the gateway's ListRoutes names it), over plaintext h2c
    /// as the gateway reaches it.
    public func onReplica<Result: Sendable>(
        _ address: String, _ body: (GRPCClient<HTTP2ClientTransport.Posix>) async throws -> Result
    ) async throws -> Result {
        let target = try HostPort(parsing: address)
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: target.host, port: target.port), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport, interceptors: interceptors) { client in
            try await body(client)
        }
    }
}

/// The gateway's bearer token on every call (`authorization: Bearer …`).
struct GatewayBearerInterceptor: ClientInterceptor {
    let token: String

    func intercept<Input: Sendable, Output: Sendable>(
        request: StreamingClientRequest<Input>, context: ClientContext,
        next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
    ) async throws -> StreamingClientResponse<Output> {
        var request = request
        request.metadata.replaceOrAddString("Bearer \(token)", forKey: "authorization")
        return try await next(request, context)
    }
}
