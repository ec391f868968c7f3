import Foundation
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

extension RobustnessSuites {
    /// Every request gets a status promptly, even one no gRPC library sends: a call whose HEADERS frame ends the
    /// stream with no message at all (every RPC, straight to its service and through the gateway), and a Connect
    /// streaming request with an empty body through the gateway.
    @Suite("Robustness: every request is answered", .serialized)
    struct UnansweredRequestTests {
        /// Long-lived streams answer only when they end: health Watch and the backrest state stream with
        /// `subscribe` are read elsewhere; here every call must end on its own within the deadline.
        static let answerWithin: Duration = .seconds(10)

        @Test("a call whose HEADERS carry END_STREAM gets a gRPC status from every RPC, directly and through the gateway")
        func headersOnlyRequests() async throws {
            let system = try await Robustness.system()
            let failures = FailureLog()
            var calls = 0
            for row in RobustnessTable.rows {
                let ports = Robustness.directPorts(row, in: system) + (Robustness.routedByGateway(row) ? [system.port("gateway")] : [])
                for port in ports {
                    calls += 1
                    do {
                        let response = try await connectCall(
                            port: port, path: row.method, contentType: "application/grpc",
                            headers: [
                                ("te", "trailers"), ("grpc-timeout", "8S"), (AdminBoundaryInterceptor.metadataKey, TestCredentials.adminTokenText),
                            ],
                            body: [], timeout: Self.answerWithin)
                        if response.grpcStatus == nil { failures.record("\(row.method) on port \(port): no grpc-status (\(response.headers))") }
                    } catch {
                        failures.record("\(row.method) on port \(port): not answered within \(Self.answerWithin): \(error)")
                    }
                }
            }
            #expect(failures.all.isEmpty, "\(failures.all.count) of \(calls) calls:\n\(failures.all.prefix(40).joined(separator: "\n"))")
            await Robustness.expectAllAlive(system, after: "requests without a message")
        }

        @Test("a Connect streaming request with an empty body gets an end-of-stream answer through the gateway")
        func emptyConnectStream() async throws {
            let system = try await Robustness.system()
            for method in [
                "/wharf.store.v1.RecordReconciliation/Reconcile", "/tvix.castore.v1.BlobService/Put",
                "/agntcy.dir.store.v1.StoreService/Lookup", "/routing.v1.RoutingService/Search",
                "/v1sync.BackrestSyncService/Sync",
            ] {
                let response = try await connectCall(
                    port: system.port("gateway"), path: method, contentType: "application/connect+proto",
                    headers: [("connect-timeout-ms", "8000")], body: [], timeout: Self.answerWithin)
                #expect(response.headers.first(name: ":status") == "200", "\(method): \(response.headers)")
                #expect(
                    response.envelopes.contains { $0.flags & 0x02 != 0 },
                    "\(method): no end-of-stream envelope in \(response.body.readableBytes) bytes")
            }
            await Robustness.expectAllAlive(system, after: "empty Connect streams")
        }
    }
}
