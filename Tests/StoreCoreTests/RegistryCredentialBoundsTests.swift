import Foundation
import GRPCCore
import StoreCore
import Testing
import WharfProto
import WharfTestSupport

/// Registry credentials cannot grow the store's table with requests: 16 live per node (the oldest removed),
/// 1,000 live in all (RESOURCE_EXHAUSTED beyond), revoked and expired rows deleted.
@Suite("store: registry credentials are bounded", .serialized)
struct RegistryCredentialBoundsTests {
    @Test("16 live per node, 1,000 in all, revoked rows deleted at the next issue")
    func bounded() async throws {
        let environment = ["WHARF_STORE_OCI_LISTEN": "127.0.0.1:0", "WHARF_STORE_OCI_ADVERTISE": "127.0.0.1:5000"]
        try await withServices([.store(environment: environment)]) { services in
            let port = services.port("store")
            let host = services.host("store")
            let store = RegistryCredentialStore(client: host.postgres, logger: host.logger)
            try await withTestClient(port: port, admin: true) { client in
                let issuer = Wharf_Store_V1_RegistryCredentials.Client(wrapping: client)
                for _ in 0..<20 {
                    _ = try await issuer.issue(
                        .with {
                            $0.nodeID = "node-one"; $0.ttlSeconds = 600
                        })
                }
                #expect(try await store.rowCount() == RegistryCredentialStore.maximumPerNode)
                #expect(try await issuer.revoke(.with { $0.nodeID = "node-one" }).revoked == UInt32(RegistryCredentialStore.maximumPerNode))
                _ = try await issuer.issue(
                    .with {
                        $0.nodeID = "node-two"; $0.ttlSeconds = 600
                    })
                #expect(try await store.rowCount() == 1, "revoked rows are deleted, not kept")
                // Made-up node ids cannot grow the table past the bound.
                for index in 1..<RegistryCredentialStore.maximumLive {
                    _ = try await issuer.issue(
                        .with {
                            $0.nodeID = "made-up-\(index)"; $0.ttlSeconds = 600
                        })
                }
                let refused = await #expect(throws: RPCError.self) {
                    try await issuer.issue(
                        .with {
                            $0.nodeID = "one-too-many"; $0.ttlSeconds = 600
                        })
                }
                #expect(
                    refused?.code == .resourceExhausted && refused?.message.contains("1000 registry credentials are live") == true,
                    "\(String(describing: refused))")
                #expect(try await store.rowCount() == RegistryCredentialStore.maximumLive)
            }
        }
    }
}
