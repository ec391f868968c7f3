import GRPCCore
import GRPCNIOTransportHTTP2
import GatewayCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@Suite("Gateway trust boundary: tokens checked first, credentials not forwarded, no silent open route")
struct GatewayTrustTests {
    @Test("with tokens configured, unknown services and a protected route's health are UNAUTHENTICATED without a token")
    func routesCannotBeMapped() async throws {
        try await withEchoServer(name: "a", recorder: EchoRecorder()) { upstream, _ in
            try await withGateway(
                routes: "\(EchoService.service)=127.0.0.1:\(upstream)",
                environment: ["WHARF_GATEWAY_TOKENS": "\(EchoService.service)=secret-token-1"]
            ) { port, _ in
                try await withClient(port: port) { client async throws in
                    let unknown = MethodDescriptor(fullyQualifiedService: "no.such.Service", method: "Call")
                    for metadata: Metadata in [[:], ["authorization": "Bearer wrong"]] {
                        let refused = await #expect(throws: RPCError.self) {
                            try await client.unary(
                                request: ClientRequest(message: [0], metadata: metadata), descriptor: unknown,
                                serializer: RawSerializer(), deserializer: RawSerializer(), options: .defaults
                            ) { try $0.message }
                        }
                        #expect(refused?.code == .unauthenticated, "\(String(describing: refused))")
                        let health = await #expect(throws: RPCError.self) {
                            try await Grpc_Health_V1_Health.Client(wrapping: client).check(
                                .with { $0.service = EchoService.service }, metadata: metadata)
                        }
                        #expect(health?.code == .unauthenticated)
                    }
                    // With a token, the same questions get their real answers; the whole gateway's health is open to probes.
                    let token: Metadata = ["authorization": "Bearer secret-token-1"]
                    let unimplemented = await #expect(throws: RPCError.self) {
                        try await client.unary(
                            request: ClientRequest(message: [0], metadata: token), descriptor: unknown,
                            serializer: RawSerializer(), deserializer: RawSerializer(), options: .defaults
                        ) { try $0.message }
                    }
                    #expect(unimplemented?.code == .unimplemented)
                    // (Answered, whatever the status: a probe may time out on a loaded machine.)
                    _ = try await Grpc_Health_V1_Health.Client(wrapping: client).check(.with { $0.service = EchoService.service }, metadata: token)
                    _ = try await healthStatus(client, service: "")
                }
            }
        }
    }

    @Test("the client's authorization header is stripped before the upstream, unless the route is listed in WHARF_GATEWAY_PASS_AUTHORIZATION")
    func authorizationNotForwarded() async throws {
        try await withEchoServer(name: "a", recorder: EchoRecorder()) { upstream, _ in
            let routes = "\(EchoService.service)=127.0.0.1:\(upstream)"
            let tokens = ["WHARF_GATEWAY_TOKENS": "\(EchoService.service)=secret-token-1"]
            for (extra, expected) in [
                ([String: String](), "(none)"), (["WHARF_GATEWAY_PASS_AUTHORIZATION": EchoService.service], "Bearer secret-token-1"),
            ] {
                try await withGateway(routes: routes, environment: tokens.merging(extra) { $1 }) { port, _ in
                    try await withClient(port: port) { client async throws in
                        let response = try await client.echoUnary([1], metadata: ["authorization": "Bearer secret-token-1"])
                        #expect(response.metadata[stringValues: "x-authorization-seen"].first(where: { _ in true }) == expected)
                    }
                }
            }
        }
    }

    @Test("a token or pass-through entry for a route that does not exist refuses the configuration (exit 78 in the executable)")
    func unmatchedTokenRoute() throws {
        for environment in [
            ["WHARF_GATEWAY_TOKENS": "agntcy.dir.store.v1.StoreServic=token-xyz"],
            ["WHARF_GATEWAY_PASS_AUTHORIZATION": "no.such.Service"],
        ] {
            let reader = EnvironmentReader(environment: environment.merging(["WHARF_GATEWAY_ROUTES": RouteTable.defaults()]) { $1 })
            _ = GatewaySettings(reader: reader)
            let error = #expect(throws: ConfigurationError.self) { try reader.validate() }
            #expect("\(String(describing: error))".contains("matches no route"), "\(String(describing: error))")
        }
        // `*` and existing routes are fine.
        let reader = EnvironmentReader(environment: [
            "WHARF_GATEWAY_ROUTES": RouteTable.defaults(),
            "WHARF_GATEWAY_TOKENS": "*=token-a,agntcy.dir.store.v1.StoreService=token-b",
        ])
        _ = GatewaySettings(reader: reader)
        try reader.validate()
    }

    @Test("a token holding commas (inline) or commas and = (one entry per line) is accepted at the gateway; a longer or shorter one is not")
    func tokensWithCommas() async throws {
        try await withEchoServer(name: "a", recorder: EchoRecorder()) { upstream, _ in
            let routes = "\(EchoService.service)=127.0.0.1:\(upstream)"
            for (configured, token) in [
                ("\(EchoService.service)=tok,en-with,commas|other-token", "tok,en-with,commas"),
                ("\(EchoService.service)=a,b=c,d==\n*=unused-token", "a,b=c,d=="),
            ] {
                try await withGateway(routes: routes, environment: ["WHARF_GATEWAY_TOKENS": configured]) { port, _ in
                    try await withClient(port: port) { client async throws in
                        let accepted = try await client.echoUnary([1], metadata: ["authorization": "Bearer \(token)"])
                        #expect(try accepted.message == [1])
                        for wrong in [token + "x", String(token.dropLast()), token + String(repeating: "x", count: 256)] {
                            let refused = await #expect(throws: RPCError.self) {
                                try await client.echoUnary([1], metadata: ["authorization": "Bearer \(wrong)"])
                            }
                            #expect(refused?.code == .unauthenticated, "\(wrong.prefix(40)): \(String(describing: refused))")
                        }
                    }
                }
            }
        }
    }
}
