import Foundation
import GRPCCore
import SwiftProtobuf
import Testing
import WharfProto

/// The generated services, as the rest of Wharf uses them.
let generatedServices: [(ServiceDescriptor, [MethodDescriptor])] = [
    (Agntcy_Dir_Store_V1_StoreService.descriptor, Agntcy_Dir_Store_V1_StoreService.Method.descriptors),
    (Agntcy_Dir_Store_V1_SyncService.descriptor, Agntcy_Dir_Store_V1_SyncService.Method.descriptors),
    (Routing_V1_RoutingService.descriptor, Routing_V1_RoutingService.Method.descriptors),
    (V1sync_BackrestSyncService.descriptor, V1sync_BackrestSyncService.Method.descriptors),
    (V1sync_BackrestSyncStateService.descriptor, V1sync_BackrestSyncStateService.Method.descriptors),
    (Orlysync_Negentropy_V1_NegentropyService.descriptor, Orlysync_Negentropy_V1_NegentropyService.Method.descriptors),
    (Tvix_Castore_V1_BlobService.descriptor, Tvix_Castore_V1_BlobService.Method.descriptors),
    (Snix_Castore_V1_BlobService.descriptor, Snix_Castore_V1_BlobService.Method.descriptors),
    (Grpc_Health_V1_Health.descriptor, Grpc_Health_V1_Health.Method.descriptors),
]

/// `/pkg.Service/Method` → streaming kind, from the tables in spec/README.md ("Exact gRPC service paths").
func specPathTable() throws -> [String: String] {
    var table: [String: String] = [:]
    let row = /^\|\s*`(\/[\w.]+\/\w+)`\s*\|\s*([\w-]+)\s*\|/
    for line in try Fixtures.text("spec/README.md").split(separator: "\n") {
        if let match = String(line).firstMatch(of: row) { table[String(match.1)] = String(match.2) }
    }
    // The README names the health paths in prose; their kinds are the standard health protocol's.
    table["/grpc.health.v1.Health/Check"] = "unary"
    table["/grpc.health.v1.Health/Watch"] = "server-streaming"
    // Backrest 1.13+ (spec/backrest-sync.md §16a.9, wire-backrest.txt Appendix B): unary, beside the table's two.
    table["/v1sync.BackrestSyncStateService/SetRemoteClientConfig"] = "unary"
    return table
}

/// The streaming kind of every upstream method in the compiled descriptor set, keyed by path.
func descriptorSetKinds() throws -> [String: String] {
    let set = try Google_Protobuf_FileDescriptorSet(serializedBytes: Fixtures.data("wharf.protoset"))
    var kinds: [String: String] = [:]
    for file in set.file {
        for service in file.service {
            for method in service.method {
                let kind: String
                switch (method.clientStreaming, method.serverStreaming) {
                case (false, false): kind = "unary"
                case (false, true): kind = "server-streaming"
                case (true, false): kind = "client-streaming"
                case (true, true): kind = "bidi"
                }
                // Wharf's own services (package wharf.*, between Wharf nodes) have no upstream path to match.
                guard !file.package.hasPrefix("wharf.") else { continue }
                kinds["/\(file.package).\(service.name)/\(method.name)"] = kind
            }
        }
    }
    return kinds
}

@Suite("gRPC service names and method paths")
struct ServicePathTests {
    @Test("the spec lists 41 methods across the nine services Wharf serves")
    func specTableIsComplete() throws {
        let table = try specPathTable()
        #expect(table.count == 6 + 5 + 4 + 1 + 2 + 15 + 3 + 3 + 2)
    }

    @Test("every generated method path is one the spec lists, and every listed path is generated")
    func generatedPathsMatchSpec() throws {
        let spec = try specPathTable()
        var generated: Set<String> = []
        for (service, methods) in generatedServices {
            for method in methods {
                #expect(method.service == service)
                generated.insert("/\(method.fullyQualifiedMethod)")
            }
        }
        #expect(generated == Set(spec.keys))
    }

    @Test("fully qualified service names are the upstream packages'")
    func serviceNames() {
        #expect(
            generatedServices.map(\.0.fullyQualifiedService) == [
                "agntcy.dir.store.v1.StoreService", "agntcy.dir.store.v1.SyncService", "routing.v1.RoutingService",
                "v1sync.BackrestSyncService", "v1sync.BackrestSyncStateService", "orlysync.negentropy.v1.NegentropyService",
                "tvix.castore.v1.BlobService", "snix.castore.v1.BlobService", "grpc.health.v1.Health",
            ])
    }

    @Test("every method's streaming kind is the one the spec gives")
    func streamingKinds() throws {
        let spec = try specPathTable()
        let compiled = try descriptorSetKinds()
        for (path, kind) in spec {
            #expect(compiled[path] == kind, "\(path)")
        }
        #expect(Set(compiled.keys) == Set(spec.keys))
    }
}
