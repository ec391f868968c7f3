import ArgumentParser
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import WharfRuntime

/// How a command reaches Wharf: the gateway's address, the gateway's bearer token, a deadline, and how
/// results are printed. Shared by every command that calls a service.
struct GatewayOptions: ParsableArguments {
    @Option(help: "host:port of the gateway (default: WHARF_ADDRESS, else 127.0.0.1:50050)")
    var address: String?

    @Option(help: "the gateway's bearer token for the route (default: WHARF_TOKEN)")
    var token: String?

    @Flag(help: "speak TLS to the gateway, checking its certificate against the system's roots (or --ca-file)")
    var tls = false

    @Option(name: .customLong("ca-file"), help: "PEM file of the CA that signed the gateway's certificate (implies --tls)")
    var caFile: String?

    @Option(help: "seconds a call may take")
    var timeout: Double = 30

    @Option(help: "text or json (one object per result)")
    var output: OutputFormat = .text

    var environment: [String: String] { ProcessInfo.processInfo.environment }

    func target() throws -> HostPort {
        let text = address ?? environment["WHARF_ADDRESS"] ?? "127.0.0.1:50050"
        do {
            return try HostPort(parsing: text)
        } catch {
            throw CommandFailure.configuration("--address: \(error)")
        }
    }

    func security() throws -> HTTP2ClientTransport.Posix.TransportSecurity {
        guard tls || caFile != nil else { return .plaintext }
        guard let caFile else { return .tls }
        guard FileManager.default.isReadableFile(atPath: caFile) else {
            throw CommandFailure.configuration("--ca-file: \(caFile) cannot be read")
        }
        return .tls { $0.trustRoots = .certificates([.file(path: caFile, format: .pem)]) }
    }

    func callOptions() throws -> CallOptions {
        guard timeout.isFinite, timeout > 0, timeout <= 86_400 else {
            throw CommandFailure.configuration("--timeout: expected a number of seconds between 0 and 86400, got \(timeout)")
        }
        var options = CallOptions.defaults
        options.timeout = .milliseconds(Int64(timeout * 1000))
        return options
    }

    /// Runs `body` with a client of the gateway; `admin` adds the admin credential to every call.
    func withClient<Result: Sendable>(
        admin: Bool = false, _ body: (GRPCClient<HTTP2ClientTransport.Posix>, CallOptions) async throws -> Result
    ) async throws -> Result {
        let target = try target()
        let options = try callOptions()
        var interceptors: [any ClientInterceptor] = []
        if let bearer = token ?? environment["WHARF_TOKEN"] { interceptors.append(BearerTokenInterceptor(token: bearer)) }
        if admin { interceptors.append(AdminTokenClientInterceptor(token: try AdminCredential.load(environment: environment))) }
        let transport = try HTTP2ClientTransport.Posix(target: .dns(host: target.host, port: target.port), transportSecurity: try security())
        do {
            return try await withGRPCClient(transport: transport, interceptors: interceptors) { client in
                try await body(client, options)
            }
        } catch let error as RPCError {
            throw CommandFailure.rpc(error)
        }
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Sends the gateway's `authorization: Bearer` token.
struct BearerTokenInterceptor: ClientInterceptor {
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
