import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import WharfProto

/// Raw bytes as gRPC messages: the test service needs no protos.
struct RawSerializer: MessageSerializer, MessageDeserializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// What the echo service saw (for cancellation and routing checks).
final class EchoRecorder: Sendable {
    let events = Mutex<[String]>([])
    func record(_ event: String) { events.withLock { $0.append(event) } }
    func contains(_ event: String) -> Bool { events.withLock { $0.contains(event) } }
    func count(_ event: String) -> Int { events.withLock { $0.filter { $0 == event }.count } }
}

/// `wharf.test.Echo`: one method per streaming kind, plus slow, endless and failing ones.
struct EchoService: RegistrableRPCService {
    static let service = "wharf.test.Echo"
    let name: String
    let recorder: EchoRecorder

    static func method(_ name: String) -> MethodDescriptor { MethodDescriptor(fullyQualifiedService: service, method: name) }

    func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
        let raw = RawSerializer()
        let name = self.name, recorder = self.recorder
        func register(
            _ method: String,
            _ handler: @escaping @Sendable (StreamingServerRequest<[UInt8]>, ServerContext) async throws -> StreamingServerResponse<[UInt8]>
        ) {
            router.registerHandler(forMethod: Self.method(method), deserializer: raw, serializer: raw, handler: handler)
        }
        register("Unary") { request, _ in
            recorder.record("\(name):Unary")
            var received: [UInt8] = []
            for try await part in request.messages { received = part }
            let message = received
            var initial = Metadata()
            initial.addString(request.metadata[stringValues: "x-echo"].first(where: { _ in true }) ?? "", forKey: "x-echoed")
            initial.addString(name, forKey: "x-replica")
            // What reached the upstream of the client's credentials (the gateway strips them unless told not to).
            initial.addString(request.metadata[stringValues: "authorization"].first(where: { _ in true }) ?? "(none)", forKey: "x-authorization-seen")
            return StreamingServerResponse(metadata: initial) { writer in
                try await writer.write(message)
                return ["x-trailer": "done"]
            }
        }
        register("ClientStream") { request, _ in
            var parts: [UInt8] = []
            for try await part in request.messages { parts += part }
            let joined = parts
            return StreamingServerResponse { writer in
                try await writer.write(joined)
                return [:]
            }
        }
        register("ServerStream") { request, _ in
            var asked = 0
            for try await part in request.messages { asked = Int(String(decoding: part, as: UTF8.self)) ?? 0 }
            let count = asked
            return StreamingServerResponse { writer in
                for index in 0..<count { try await writer.write(Array("message \(index)".utf8)) }
                return [:]
            }
        }
        register("Bidi") { request, _ in
            StreamingServerResponse { writer in
                for try await part in request.messages { try await writer.write(part.reversed()) }
                return ["x-bidi": "finished"]
            }
        }
        register("Endless") { request, _ in
            StreamingServerResponse { writer in
                recorder.record("Endless:started")
                do {
                    var index = 0
                    while true {
                        try await writer.write(Array("tick \(index)".utf8))
                        index += 1
                        try await Task.sleep(for: .milliseconds(50))
                    }
                } catch {
                    recorder.record("Endless:cancelled")
                    throw error
                }
            }
        }
        register("Slow") { request, context in
            // grpc-swift does not cancel a handler's task when its stream is reset; the RPC's cancellation
            // handle says so. Answers after 5 s unless cancelled.
            StreamingServerResponse { writer in
                recorder.record("Slow:started")
                for _ in 0..<250 {
                    if context.cancellation.isCancelled {
                        recorder.record("Slow:cancelled")
                        throw RPCError(code: .cancelled, message: "cancelled")
                    }
                    try await Task.sleep(for: .milliseconds(20))
                }
                try await writer.write([1])
                return [:]
            }
        }
        // Two seconds of work that ignores cancellation: a call in flight while the gateway shuts down.
        register("Sleep") { request, _ in
            for try await _ in request.messages {}
            recorder.record("\(name):Sleep:started")
            try await Task.sleep(for: .seconds(2))
            recorder.record("\(name):Sleep:done")
            return StreamingServerResponse { writer in
                try await writer.write([1])
                return [:]
            }
        }
        register("Fail") { _, _ in
            throw RPCError(code: .notFound, message: "no such thing: ümlaut 100%", metadata: ["x-detail": "why"])
        }
    }
}

/// An echo server on `port` (an ephemeral one by default), with `grpc.health.v1.Health` answering SERVING.
func withEchoServer<T: Sendable>(
    name: String, recorder: EchoRecorder, port: Int = 0,
    _ body: (Int, @Sendable () async -> Void) async throws -> T
) async throws -> T {
    let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: port), transportSecurity: .plaintext)
    let server = GRPCServer(transport: transport, services: [EchoService(name: name, recorder: recorder), ServingHealth()])
    // Stopped gracefully and waited for, on every path: cancelling `serve` while a stream is being accepted
    // drops that stream's NIOAsyncChannel unfinished, which traps the process (apple/swift-nio#3481).
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.serve() }
        let outcome: Result<T, any Error>
        do {
            guard let address = try await transport.listeningAddress.ipv4 else { throw RPCError(code: .internalError, message: "no address") }
            outcome = .success(try await body(address.port) { server.beginGracefulShutdown() })
        } catch {
            outcome = .failure(error)
        }
        server.beginGracefulShutdown()
        try await group.waitForAll()
        return try outcome.get()
    }
}

/// `grpc.health.v1.Health` answering SERVING (what the gateway's prober asks).
struct ServingHealth: Grpc_Health_V1_Health.SimpleServiceProtocol {
    func check(request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext) async throws -> Grpc_Health_V1_HealthCheckResponse {
        .with { $0.status = .serving }
    }

    func watch(request: Grpc_Health_V1_HealthCheckRequest, response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>, context: ServerContext)
        async throws
    {
        try await response.write(.with { $0.status = .serving })
    }
}
