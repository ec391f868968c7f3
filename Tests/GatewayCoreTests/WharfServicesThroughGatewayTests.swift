import BlobCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import NegentropyCore
import RoutingCore
import StoreCore
import SwiftProtobuf
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

/// Runs a Wharf service in process on `database` (all services share one, as deployed) and gives its port.
func withWharfService<Settings: Sendable>(
    _ name: String, defaults: RuntimeConfiguration.Defaults, migrations: [MigrationSet], database: String,
    environment extra: [String: String] = [:], settings: (EnvironmentReader) -> Settings,
    build: @escaping @Sendable (WharfServiceHost, Settings) async throws -> WharfServiceParts,
    _ body: (Int) async throws -> Void
) async throws {
    try await withWharfServiceHost(
        name, defaults: defaults, migrations: migrations, database: database, environment: extra,
        settings: settings, build: build
    ) { _, port in try await body(port) }
}

/// `withWharfService`, giving the host as well.
func withWharfServiceHost<Settings: Sendable>(
    _ name: String, defaults: RuntimeConfiguration.Defaults, migrations: [MigrationSet], database: String,
    environment extra: [String: String] = [:], settings: (EnvironmentReader) -> Settings,
    build: @escaping @Sendable (WharfServiceHost, Settings) async throws -> WharfServiceParts,
    _ body: (WharfServiceHost, Int) async throws -> Void
) async throws {
    let postgres = try await TestPostgres.shared()
    let redis = try await TestRedis.shared()
    var environment = [
        "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_POSTGRES_URL": postgres.url(database: database), "WHARF_REDIS_URL": redis.url,
        "WHARF_REDIS_CHANNEL_PREFIX": TestRedis.channelPrefix(database), "WHARF_RELAY_LISTEN": "127.0.0.1:0",
    ]
    environment.merge(extra) { $1 }
    let (runtime, own, _) = try WharfServiceMain.loadConfiguration(service: name, defaults: defaults, environment: environment, settings: settings)
    let host = WharfServiceHost(configuration: runtime, migrations: migrations)
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await host.run(handleSignals: false) { try await build($0, own) } }
        try await body(host, try await host.grpcPort())
        await host.shutdownGracefully()
        try await group.waitForAll()
    }
}

@Suite("Wharf's services through the gateway")
struct WharfServicesThroughGatewayTests {
    @Test("store (bidi), blob (client and server streams, unary), routing and negentropy answer through one gateway address")
    func services() async throws {
        let database = try await TestPostgres.shared().createDatabase()
        try await withWharfService(
            "store", defaults: StoreServer.defaults, migrations: StoreServer.migrations, database: database,
            environment: ["WHARF_STORE_OCI_LISTEN": "off"],
            settings: { StoreSettings(reader: $0) }, build: { try await StoreServer.parts(host: $0, settings: $1) }
        ) { store in
            try await withWharfService(
                "blob", defaults: BlobServer.defaults, migrations: BlobServer.migrations, database: database,
                settings: { BlobSettings(reader: $0) }, build: { try await BlobServer.parts(host: $0, settings: $1) }
            ) { blob in
                try await withWharfService(
                    "routing", defaults: RoutingServer.defaults, migrations: RoutingServer.migrations, database: database,
                    environment: ["WHARF_ROUTING_STORE": "127.0.0.1:\(store)"],
                    settings: { RoutingSettings(reader: $0) }, build: { try await RoutingServer.parts(host: $0, settings: $1) }
                ) { routing in
                    try await withWharfService(
                        "negentropy", defaults: NegentropyServer.defaults, migrations: NegentropyServer.migrations, database: database,
                        environment: [
                            "WHARF_NEGENTROPY_PEER_TIMEOUT": "500ms", "WHARF_ADMIN_TOKEN": TestCredentials.adminTokenText,
                            "WHARF_NEGENTROPY_ALLOWED_PEERS": TestCredentials.loopbackAndPublic,
                        ],
                        settings: { NegentropySettings(reader: $0) },
                        build: { try await NegentropyServer.build(host: $0, settings: $1).parts }
                    ) { negentropy in
                        let routes = [
                            "agntcy.dir.store.v1.StoreService=127.0.0.1:\(store)", "tvix.castore.v1.BlobService=127.0.0.1:\(blob)",
                            "routing.v1.RoutingService=127.0.0.1:\(routing)", "orlysync.negentropy.v1.NegentropyService=127.0.0.1:\(negentropy)",
                        ].joined(separator: ",")
                        try await withGateway(routes: routes) { port, _ in
                            try await withClient(port: port) { client in
                                // A probe that timed out on a loaded machine leaves a route NOT_SERVING until the next one passes.
                                #expect(try await eventually(timeout: .seconds(10)) { try await healthStatus(client, service: "") == .serving })

                                // Store: Push and Pull are bidirectional streams.
                                let vectors =
                                    try JSONSerialization.jsonObject(
                                        with: Data(contentsOf: ProjectPaths.fixture("testdata/agntcy_dir_cid_vectors.json"))) as? [String: Any]
                                let vector = try #require((vectors?["record_vectors"] as? [[String: Any]])?.first)
                                let recordJSON = try JSONSerialization.data(withJSONObject: try #require(vector["record"]))
                                let record = Agntcy_Dir_Core_V1_Record.with {
                                    $0.data = (try? Google_Protobuf_Struct(jsonUTF8Data: recordJSON)) ?? .init()
                                }
                                let storeClient = Agntcy_Dir_Store_V1_StoreService.Client(wrapping: client)
                                let cids = try await storeClient.push(request: StreamingClientRequest { try await $0.write(record) }) { response in
                                    try await response.messages.reduce(into: [String]()) { $0.append($1.cid) }
                                }
                                #expect(cids == [vector["cid"] as? String ?? "?"])
                                let pulled = try await storeClient.pull(
                                    request: StreamingClientRequest { try await $0.write(.with { $0.cid = cids[0] }) }
                                ) { response in
                                    try await response.messages.reduce(into: [Agntcy_Dir_Core_V1_Record]()) { $0.append($1) }
                                }
                                #expect(pulled.count == 1 && pulled.first?.data == record.data)

                                // Routing: Publish (unary, which reads the store itself), List (server stream).
                                let routingClient = Routing_V1_RoutingService.Client(wrapping: client)
                                _ = try await routingClient.publish(.with { $0.recordCid = cids[0] })
                                let listed = try await routingClient.list(.init()) { response in
                                    try await response.messages.reduce(into: [String]()) { $0.append($1.recordCid) }
                                }
                                #expect(listed == cids)

                                // Blob: Put (client stream), Stat (unary), Read (server stream).
                                let blobClient = Tvix_Castore_V1_BlobService.Client(wrapping: client)
                                let data = Data((0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) })
                                let put = try await blobClient.put(
                                    request: StreamingClientRequest { writer in
                                        for start in stride(from: 0, to: data.count, by: 1 << 20) {
                                            try await writer.write(.with { $0.data = data[start..<min(start + (1 << 20), data.count)] })
                                        }
                                    })
                                #expect(put.digest.count == 32)
                                _ = try await blobClient.stat(.with { $0.digest = put.digest })
                                let read = try await blobClient.read(.with { $0.digest = put.digest }) { response in
                                    try await response.messages.reduce(into: Data()) { $0 += $1.data }
                                }
                                #expect(read == data)

                                // Negentropy: unary, and a server stream that ends with the sync's error.
                                let negentropyClient = Orlysync_Negentropy_V1_NegentropyService.Client(wrapping: client)
                                #expect(try await negentropyClient.ready(.init()).ready)
                                // An administrative RPC: the gateway passes the admin token through to the service.
                                var admin = Metadata()
                                admin.addString(TestCredentials.adminTokenText, forKey: AdminBoundaryInterceptor.metadataKey)
                                let progress = try await negentropyClient.syncWithPeer(.with { $0.peerURL = "ws://127.0.0.1:1" }, metadata: admin) {
                                    response in
                                    try await response.messages.reduce(into: [Orlysync_Negentropy_V1_SyncProgress]()) { $0.append($1) }
                                }
                                #expect(progress.first?.round == 0 && progress.last?.error.isEmpty == false)

                                // A status from a service passes through unchanged.
                                let missing = await #expect(throws: RPCError.self) {
                                    try await blobClient.stat(.with { $0.digest = Data(repeating: 1, count: 32) })
                                }
                                #expect(missing?.code == .notFound)
                            }
                        }
                    }
                }
            }
        }
    }
}
