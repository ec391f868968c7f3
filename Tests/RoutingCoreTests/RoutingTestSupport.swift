import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RoutingCore
import StoreCore
import SwiftProtobuf
import WharfProto
import WharfRuntime
import WharfTestSupport

/// A service host running in this test process, stopped by `stop()`.
final class RunningService: Sendable {
    let host: WharfServiceHost
    let port: Int
    private let task: Task<Void, any Error>

    init(host: WharfServiceHost, port: Int, task: Task<Void, any Error>) {
        self.host = host
        self.port = port
        self.task = task
    }

    func stop() async {
        await host.shutdownGracefully()
        _ = await task.result
    }
}

func serviceEnvironment(database: String, listen: String = "127.0.0.1:0") async throws -> [String: String] {
    let postgres = try await TestPostgres.shared()
    let redis = try await TestRedis.shared()
    return [
        "WHARF_LISTEN": listen, "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_POSTGRES_URL": postgres.url(database: database), "WHARF_REDIS_URL": redis.url,
        "WHARF_REDIS_CHANNEL_PREFIX": TestRedis.channelPrefix(database),
    ]
}

func startStore(database: String) async throws -> RunningService {
    var environment = try await serviceEnvironment(database: database)
    environment["WHARF_STORE_OCI_LISTEN"] = "off"
    let (runtime, settings, _) = try WharfServiceMain.loadConfiguration(
        service: "store", defaults: StoreServer.defaults, environment: environment
    ) { StoreSettings(reader: $0) }
    let host = WharfServiceHost(configuration: runtime, migrations: StoreServer.migrations)
    let task = Task { try await host.run(handleSignals: false) { host in try await StoreServer.parts(host: host, settings: settings) } }
    return RunningService(host: host, port: try await host.grpcPort(), task: task)
}

func startRouting(database: String, storePort: Int, port: Int = 0, extra: [String: String] = [:]) async throws -> RunningService {
    var environment = try await serviceEnvironment(database: database, listen: "127.0.0.1:\(port)")
    environment["WHARF_ROUTING_STORE"] = "127.0.0.1:\(storePort)"
    environment.merge(extra) { $1 }
    let (runtime, settings, _) = try WharfServiceMain.loadConfiguration(
        service: "routing", defaults: RoutingServer.defaults, environment: environment
    ) { RoutingSettings(reader: $0) }
    let host = WharfServiceHost(configuration: runtime, migrations: RoutingServer.migrations)
    let task = Task { try await host.run(handleSignals: false) { host in try await RoutingServer.parts(host: host, settings: settings) } }
    return RunningService(host: host, port: try await host.grpcPort(), task: task)
}

extension Routing_V1_RoutingService.Client where Transport == HTTP2ClientTransport.Posix {
    func listCIDs(_ queries: [Routing_V1_RecordQuery], limit: UInt32? = nil) async throws -> [String] {
        try await list(
            .with {
                $0.queries = queries; if let limit { $0.limit = limit }
            }
        ) { response in
            try await response.messages.reduce(into: [String]()) { $0.append($1.recordCid) }
        }
    }

    func searchAll(_ queries: [Routing_V1_RecordQuery], minScore: UInt32? = nil, limit: UInt32? = nil) async throws -> [Routing_V1_SearchResponse] {
        try await search(
            .with {
                $0.queries = queries
                if let minScore { $0.minMatchScore = minScore }
                if let limit { $0.limit = limit }
            }
        ) { response in try await response.messages.reduce(into: [Routing_V1_SearchResponse]()) { $0.append($1) } }
    }
}

func skill(_ value: String) -> Routing_V1_RecordQuery {
    .with {
        $0.type = .skill; $0.value = value
    }
}
func locator(_ value: String) -> Routing_V1_RecordQuery {
    .with {
        $0.type = .locator; $0.value = value
    }
}

/// The metadata by which a routing node proves to a peer that it is `id`.
func peerMetadata(id: String, secret: String) -> Metadata {
    [PeerCredentials.idKey: .string(id), PeerCredentials.secretKey: .string(secret)]
}
