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

extension InProcessService {
    /// `program` with what any service needs to start in a test: blob files and the hub key in the run's folder,
    /// loopback peers allowed, routing reading the run's store.
    static func startable(_ program: any WharfServiceProgram.Type) -> InProcessService {
        func make<Program: WharfServiceProgram>(_ program: Program.Type) -> InProcessService {
            InProcessService(program) { services in
                var environment = [
                    "WHARF_BLOB_DIR": services.folder + "/blobs", "WHARF_BACKREST_KEY_FILE": services.folder + "/hub.pem",
                    "WHARF_NEGENTROPY_ALLOWED_PEERS": TestCredentials.loopbackAndPublic, "WHARF_NEGENTROPY_PEER_TIMEOUT": "500ms",
                ]
                if Program.name == RoutingServer.name { environment["WHARF_ROUTING_STORE"] = services.address(StoreServer.name) }
                return environment
            }
        }
        return make(program)
    }
}

@Suite("Wharf's services through the gateway")
struct WharfServicesThroughGatewayTests {
    @Test("store (bidi), blob (client and server streams, unary), routing and negentropy answer through one gateway address")
    func services() async throws {
        let programs: [any WharfServiceProgram.Type] = [StoreServer.self, BlobServer.self, RoutingServer.self, NegentropyServer.self]
        let services = programs.map(InProcessService.startable)
        try await withServices(services) { services in
            let (store, blob) = (services.port("store"), services.port("blob"))
            let (routing, negentropy) = (services.port("routing"), services.port("negentropy"))
            let routes = [
                "agntcy.dir.store.v1.StoreService=127.0.0.1:\(store)", "tvix.castore.v1.BlobService=127.0.0.1:\(blob)",
                "routing.v1.RoutingService=127.0.0.1:\(routing)", "orlysync.negentropy.v1.NegentropyService=127.0.0.1:\(negentropy)",
            ].joined(separator: ",")
            try await withGateway(routes: routes) { port, _ in
                try await withClient(port: port) { client in
                    // A probe that timed out on a loaded machine leaves a route NOT_SERVING until the next one passes.
                    #expect(try await eventually(timeout: .seconds(30)) { try await healthStatus(client, service: "") == .serving })

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
