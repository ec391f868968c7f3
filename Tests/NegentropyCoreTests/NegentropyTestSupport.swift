import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import HummingbirdWSClient
import Logging
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

typealias NegentropyClient = Orlysync_Negentropy_V1_NegentropyService.Client<HTTP2ClientTransport.Posix>

/// A running negentropy service: its gRPC and relay ports.
struct NegentropyNode {
    var grpcPort: Int
    var relayPort: Int
    var host: WharfServiceHost
    var sessions: NegentropySessions?
    var relay: RelayServer
    var relayURL: String { "ws://127.0.0.1:\(relayPort)" }
}

/// Runs a negentropy service on a fresh database (or `database`, to run replicas of one deployment).
func withNegentropyServer(
    database: String? = nil, environment extra: [String: String] = [:],
    _ body: (NegentropyNode) async throws -> Void
) async throws {
    let postgres = try await TestPostgres.shared()
    let redis = try await TestRedis.shared()
    let name: String
    if let database { name = database } else { name = try await postgres.createDatabase() }
    var environment = [
        "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_POSTGRES_URL": postgres.url(database: name), "WHARF_REDIS_URL": redis.url, "WHARF_REDIS_CHANNEL_PREFIX": TestRedis.channelPrefix(name),
        "WHARF_RELAY_LISTEN": "127.0.0.1:0",
        "WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText,
        "WHARF_NEGENTROPY_ALLOWED_PEERS": TestCredentials.loopbackAndPublic,
    ]
    environment.merge(extra) { $1 }
    let (runtime, settings, _) = try WharfServiceMain.loadConfiguration(
        service: "negentropy", defaults: NegentropyServer.defaults, environment: environment
    ) { NegentropySettings(reader: $0) }
    let host = WharfServiceHost(configuration: runtime, migrations: NegentropyServer.migrations)
    let relay = OnceValue<RelayServer>()
    let sessions = OnceValue<NegentropySessions>()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await host.run(handleSignals: false) { host in
                let built = try await NegentropyServer.build(host: host, settings: settings)
                relay.set(built.relay)
                sessions.set(built.sessions)
                return built.parts
            }
        }
        let relayPort = await relay.value.boundPort()
        try await body(
            NegentropyNode(
                grpcPort: try await host.grpcPort(), relayPort: relayPort, host: host,
                sessions: await sessions.value, relay: await relay.value))
        await host.shutdownGracefully()
        try await group.waitForAll()
    }
}

/// A client of the negentropy service on `port`; `admin` (the default) sends the admin token.
func withNegentropyClient<T: Sendable>(port: Int, admin: Bool = true, _ body: (NegentropyClient) async throws -> T) async throws -> T {
    try await withTestClient(port: port, admin: admin) { client in try await body(NegentropyClient(wrapping: client)) }
}

extension NostrEvent {
    var jsonObject: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] ?? [:]
    }
}

enum TestKeys {
    static let alice = NostrSigner(secretKey: [UInt8](repeating: 0, count: 31) + [3])!
    static let bob = NostrSigner(secretKey: [UInt8](repeating: 0, count: 31) + [7])!
}
