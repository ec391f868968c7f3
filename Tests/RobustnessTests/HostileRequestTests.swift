import Foundation
import GRPCCore
import Testing
import WharfProto
import WharfTestSupport

extension RobustnessSuites {
    /// Every RPC of every service, called with random bytes, truncated valid messages and valid messages holding
    /// hostile values, directly and through the gateway, against the real executables. After each group every
    /// process must be the same process and SERVING, and every answer a status that names what was wrong.
    @Suite("Robustness: hostile requests to every RPC", .serialized)
    struct HostileRequestTests {
        @Test("the table has a row for every RPC the descriptor set defines")
        func tableCoversEveryRPC() throws {
            let schema = ProtoSchema.shared
            let served = Set(schema.methods.keys)
            let rows = RobustnessTable.rows.map(\.method)
            #expect(Set(rows).count == rows.count, "a method has two rows")
            #expect(
                Set(rows) == served, "rows without a method: \(Set(rows).subtracting(served)); methods without a row: \(served.subtracting(rows))")
            // The generated descriptors are the same services (so a service added to the protos but not compiled
            // into the descriptor set would still be noticed).
            let generated = [
                Agntcy_Dir_Store_V1_StoreService.Method.descriptors, Routing_V1_RoutingService.Method.descriptors,
                Wharf_Routing_V1_PeerAnnouncements.Method.descriptors, Wharf_Routing_V1_RecordPublishing.Method.descriptors,
                Tvix_Castore_V1_BlobService.Method.descriptors,
                Snix_Castore_V1_BlobService.Method.descriptors, Orlysync_Negentropy_V1_NegentropyService.Method.descriptors,
                Grpc_Health_V1_Health.Method.descriptors, Wharf_Store_V1_RegistryCredentials.Method.descriptors,
                Wharf_Store_V1_RecordReconciliation.Method.descriptors, Wharf_Store_V1_RecordTransfer.Method.descriptors,
                Agntcy_Dir_Store_V1_SyncService.Method.descriptors,
                Wharf_Sync_V1_SyncProgress.Method.descriptors, V1sync_BackrestSyncService.Method.descriptors,
                V1sync_BackrestSyncStateService.Method.descriptors, Wharf_Sync_V1_BackrestHub.Method.descriptors,
                Wharf_Gateway_V1_GatewayStatus.Method.descriptors, Wharf_Store_V1_RecordCatalog.Method.descriptors,
                Wharf_Negentropy_V1_RelayActivity.Method.descriptors, Wharf_Runtime_V1_ReplicaStatus.Method.descriptors,
            ].joined().map { "/\($0.fullyQualifiedMethod)" }
            #expect(Set(generated) == served)
        }

        @Test("random bytes, truncated messages and hostile values, straight to each service")
        func direct() async throws {
            let system = try await Robustness.system()
            try await abuse(system, through: nil)
        }

        @Test("the same through the gateway")
        func throughGateway() async throws {
            let system = try await Robustness.system()
            try await abuse(system, through: system.port("gateway"))
        }

        @Test("the 300-query Search answers INVALID_ARGUMENT naming the limit, and routing keeps serving")
        func threeHundredQueries() async throws {
            let system = try await Robustness.system()
            let request = Routing_V1_SearchRequest.with { search in
                search.queries = (0..<300).map { index in
                    .with {
                        $0.type = .skill; $0.value = "skill-\(index)"
                    }
                }
                search.limit = 10
            }
            for port in [system.port("routing"), system.port("gateway")] {
                try await withRawClient(port: port) { client in
                    let outcome = await rawCall(client, method: "/routing.v1.RoutingService/Search", messages: [RobustnessTable.bytes(request)])
                    #expect(outcome.code == .invalidArgument, "\(outcome)")
                    #expect(outcome.message.contains("300 queries") && outcome.message.contains("at most 32"), "\(outcome)")
                    // Up to the limit it is answered.
                    var allowed = request
                    allowed.queries = Array(request.queries.prefix(32))
                    let answered = await rawCall(client, method: "/routing.v1.RoutingService/Search", messages: [RobustnessTable.bytes(allowed)])
                    #expect(answered.code == nil, "\(answered)")
                }
            }
            await Robustness.expectAllAlive(system, after: "the 300-query search")
        }

        /// Sends every row's hostile variants to its service (directly, or through the gateway at `gateway`).
        private func abuse(_ system: WharfSystem, through gateway: Int?) async throws {
            let generator = HostileMessages(schema: ProtoSchema.shared)
            let failures = FailureLog()
            var calls = 0
            for row in RobustnessTable.rows {
                guard let method = ProtoSchema.shared.methods[row.method] else {
                    Issue.record("\(row.method) is not in the descriptor set")
                    continue
                }
                let variants = generator.variants(of: method.input, seeds: row.seeds, seed: stableSeed(row.method))
                let ports = gateway.map { [$0] } ?? Robustness.directPorts(row, in: system)
                // Through the gateway a service it does not route is UNIMPLEMENTED, whatever the request.
                let unrouted = gateway != nil && !Robustness.routedByGateway(row)
                for port in ports {
                    try await withRawClient(port: port) { client in
                        await Robustness.forEach(variants) { label, bytes in
                            let outcome = await rawCall(
                                client, method: row.method, messages: [bytes], timeout: row.timeout, readAtMost: row.readAtMost)
                            if unrouted {
                                if outcome.code != .unimplemented {
                                    failures.record("\(row.method) [\(label)] via gateway: expected UNIMPLEMENTED, got \(outcome)")
                                }
                            } else if let problem = Robustness.problem(outcome, allowed: row.alsoAllowed) {
                                failures.record("\(row.method) [\(label)] on port \(port): \(problem)")
                            }
                        }
                    }
                    calls += variants.count
                }
                let problems = await system.problems()
                if !problems.isEmpty {
                    Issue.record("after \(row.method): \(problems.joined(separator: "\n"))")
                    return
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.count) of \(calls) calls:\n\(failures.all.prefix(60).joined(separator: "\n"))")
            #expect(calls > 1000)
            await Robustness.expectAllAlive(system, after: gateway == nil ? "direct hostile requests" : "hostile requests through the gateway")
        }
    }
}

/// A seed that depends only on `text` (Swift's `hashValue` changes from run to run).
func stableSeed(_ text: String) -> UInt64 {
    text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}
