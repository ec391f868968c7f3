import Foundation
import NIOCore
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

extension RobustnessSuites {
    /// Requests no gRPC library would send: malformed `grpc-timeout` headers (one of them used to trap every
    /// grpc-swift-2 server), and Connect requests with bad content types, truncated envelopes and a unary call
    /// to a streaming method whose answer is large.
    @Suite("Robustness: malformed headers and Connect requests", .serialized)
    struct HeaderAndConnectAbuseTests {
        static let malformedTimeouts = [
            "-1S", "-99999S", "+1S", "1", "S", "", "1.5S", "123456789S", "1x", "١S", "1S,2S", String(repeating: "9", count: 300) + "S",
        ]

        @Test("a malformed grpc-timeout gets INVALID_ARGUMENT naming it, from every server and through the gateway")
        func malformedTimeout() async throws {
            let system = try await Robustness.system()
            let request = envelope(RobustnessTable.bytes(Grpc_Health_V1_HealthCheckRequest()))
            for component in system.components {
                for timeout in Self.malformedTimeouts {
                    let answer = try? await connectCall(
                        port: component.grpcPort, path: "/grpc.health.v1.Health/Check", contentType: "application/grpc",
                        headers: [("te", "trailers"), ("grpc-timeout", timeout)], body: [request])
                    guard let response = answer else {
                        Issue.record("\(component.name) did not answer a Check with grpc-timeout \"\(timeout.prefix(20))\"")
                        continue
                    }
                    #expect(
                        response.grpcStatus == 3,
                        "\(component.name) \"\(timeout)\": \(response.grpcStatus.map(String.init) ?? "no status") \(response.grpcMessage)")
                    #expect(response.grpcMessage.contains("grpc-timeout"), "\(component.name): \(response.grpcMessage)")
                }
                // The largest valid value is a deadline, not an error.
                let longest = try await connectCall(
                    port: component.grpcPort, path: "/grpc.health.v1.Health/Check", contentType: "application/grpc",
                    headers: [("te", "trailers"), ("grpc-timeout", "99999999H")], body: [request])
                #expect(longest.grpcStatus == 0, "\(component.name): \(longest.grpcMessage)")
            }
            // Through the gateway, to each service behind it.
            let paths = [
                "/agntcy.dir.store.v1.StoreService/Lookup", "/routing.v1.RoutingService/List", "/tvix.castore.v1.BlobService/Stat",
                "/orlysync.negentropy.v1.NegentropyService/Ready",
            ]
            for path in paths {
                for timeout in ["-1S", "99999999H"] {
                    let response = try await connectCall(
                        port: system.port("gateway"), path: path, contentType: "application/grpc",
                        headers: [("te", "trailers"), ("grpc-timeout", timeout)], body: [envelope([])])
                    if timeout == "-1S" {
                        #expect(response.grpcStatus == 3 && response.grpcMessage.contains("grpc-timeout"), "\(path): \(response.grpcMessage)")
                    } else {
                        #expect(response.grpcStatus != 3 || !response.grpcMessage.contains("grpc-timeout"), "\(path): \(response.grpcMessage)")
                    }
                }
            }
            await Robustness.expectAllAlive(system, after: "malformed grpc-timeout headers")
        }

        @Test("Connect requests with bad content types and truncated envelopes get Connect errors")
        func badConnectRequests() async throws {
            let system = try await Robustness.system()
            let gateway = system.port("gateway")
            let path = "/orlysync.negentropy.v1.NegentropyService/Ready"
            // JSON codecs are not bridged: 415, as connect-go answers an unsupported codec.
            for type in ["application/connect+json", "application/json"] {
                let response = try await connectCall(port: gateway, path: path, contentType: type, body: [Array("{}".utf8)])
                #expect(response.headers.first(name: ":status") == "415", "\(type)")
            }
            // Unknown content types are not Connect: forwarded as they are, the service refuses them.
            for type in ["text/plain", "application/grpc-web", "application/connect+proto; charset=x", ""] {
                let response = try await connectCall(port: gateway, path: path, contentType: type, body: [Array("x".utf8)])
                #expect(response.headers.first(name: ":status") != nil, "\(type)")
            }
            // A streaming envelope that declares more bytes than it carries.
            var truncated = envelope(Array(repeating: 1, count: 100))
            truncated.removeLast(60)
            let streaming = try await connectCall(
                port: gateway, path: "/orlysync.negentropy.v1.NegentropyService/SyncWithPeer",
                contentType: "application/connect+proto",
                headers: [(AdminBoundaryInterceptor.metadataKey, TestCredentials.adminTokenText)], body: [truncated])
            let end = streaming.json?["error"] as? [String: Any]
            #expect(
                end?["code"] as? String != nil && end?["code"] as? String != "internal" && end?["code"] as? String != "unknown",
                "\(streaming.json ?? [:])")
            // A unary body that is not a message of the request type.
            let unary = try await connectCall(
                port: gateway, path: "/tvix.castore.v1.BlobService/Stat", contentType: "application/proto",
                body: [[0xFF, 0xFF, 0xFF]])
            #expect(unary.headers.first(name: ":status") == "400", "\(unary.headers)")
            #expect((unary.json?["code"] as? String) == "invalid_argument", "\(unary.json ?? [:])")
            await Robustness.expectAllAlive(system, after: "bad Connect requests")
        }

        @Test("a unary Connect call to BlobService/Read of a large blob is refused without the gateway holding it")
        func unaryConnectCallToStreamingMethod() async throws {
            let system = try await Robustness.system()
            let digest = try await storeBlob(system, bytes: 48 << 20)
            let before = system.residentBytes("gateway") ?? 0
            var peak = before
            for _ in 0..<4 {
                let response = try await connectCall(
                    port: system.port("gateway"), path: "/tvix.castore.v1.BlobService/Read", contentType: "application/proto",
                    body: [RobustnessTable.bytes(Tvix_Castore_V1_ReadBlobRequest.with { $0.digest = digest })], timeout: .seconds(30))
                #expect(response.headers.first(name: ":status") != "200", "\(response.headers)")
                let code = response.json?["code"] as? String
                #expect(code == "unimplemented" || code == "resource_exhausted", "\(response.json ?? [:])")
                #expect((response.json?["message"] as? String)?.isEmpty == false)
                peak = max(peak, system.residentBytes("gateway") ?? 0)
            }
            // Well below the 48 MiB answer: the gateway never buffered it.
            #expect(peak - before < 24 << 20, "gateway grew from \(before >> 20) MiB to \(peak >> 20) MiB")
            // Called as a stream, the same blob comes through whole.
            let streamed = try await connectCall(
                port: system.port("gateway"), path: "/tvix.castore.v1.BlobService/Read", contentType: "application/connect+proto",
                body: [envelope(RobustnessTable.bytes(Tvix_Castore_V1_ReadBlobRequest.with { $0.digest = digest }))], timeout: .seconds(60))
            let chunks = streamed.envelopes.filter { $0.flags == 0 }
            let total = chunks.reduce(0) { total, chunk in
                total + ((try? Tvix_Castore_V1_BlobChunk(serializedBytes: chunk.payload))?.data.count ?? 0)
            }
            #expect(total == 48 << 20)
            await Robustness.expectAllAlive(system, after: "unary Connect calls to a streaming method")
        }
    }
}
