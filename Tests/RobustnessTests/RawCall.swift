import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import WharfRuntime
import WharfTestSupport

/// Request and response messages as bytes: the suite sends whatever bytes it likes to any method, and reads
/// only how the call ended.
struct RawBytesSerializer: MessageSerializer {
    func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

struct RawBytesDeserializer: MessageDeserializer {
    func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
        serializedMessageBytes.withUnsafeBytes { Array($0) }
    }
}

/// How a call ended: its status code and message, and how many response messages came before.
struct CallOutcome: Sendable, CustomStringConvertible {
    var code: RPCError.Code?
    var message: String
    var responses: Int

    var description: String { "\(code.map { "\($0)" } ?? "ok") \"\(message.prefix(200))\" after \(responses) responses" }
}

/// The admin token: hostile requests to administrative RPCs must reach their handlers, not stop at the boundary.
let adminMetadata: Metadata = [AdminBoundaryInterceptor.metadataKey: .string(TestCredentials.adminTokenText)]

/// One call of `method` sending `messages` (and then closing the request stream unless `halfOpen`), on
/// `client`. Every method is called as a bidirectional stream: on the wire that is what any gRPC call is.
func rawCall(
    _ client: GRPCClient<HTTP2ClientTransport.Posix>, method: String, messages: [[UInt8]],
    timeout: Duration = .seconds(30), metadata: Metadata = adminMetadata, halfOpen: Bool = false,
    readAtMost: Int = .max
) async -> CallOutcome {
    let parts = method.split(separator: "/")
    guard parts.count == 2 else { return CallOutcome(code: .invalidArgument, message: "bad test path \(method)", responses: 0) }
    let descriptor = MethodDescriptor(fullyQualifiedService: String(parts[0]), method: String(parts[1]))
    var options = CallOptions.defaults
    options.timeout = timeout
    // A flood stops writing two seconds before its deadline: grpc-swift-nio-transport 2 traps in the client
    // ("Client is closed, cannot send a message") when writes are still queued as the call ends at its deadline,
    // which would end this test process rather than tell anything about the server.
    let stopWriting = timeout > .seconds(3) ? ContinuousClock.now + timeout - .seconds(2) : nil
    let request = StreamingClientRequest<[UInt8]>(metadata: metadata) { writer in
        for message in messages {
            if let stopWriting, ContinuousClock.now >= stopWriting { break }
            try await writer.write(message)
        }
        if halfOpen { try await Task.sleep(for: timeout + .seconds(5)) }
    }
    do {
        let count = try await client.bidirectionalStreaming(
            request: request, descriptor: descriptor, serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(),
            options: options
        ) { response in
            var count = 0
            for try await _ in response.messages {
                count += 1
                if count >= readAtMost { break }
            }
            return count
        }
        return CallOutcome(code: nil, message: "", responses: count)
    } catch let error as RPCError {
        return CallOutcome(code: error.code, message: error.message, responses: 0)
    } catch {
        return CallOutcome(code: .unknown, message: "client error: \(error)", responses: 0)
    }
}
