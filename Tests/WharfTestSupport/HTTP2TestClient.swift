import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import WharfRuntime

/// A minimal Connect client written from the protocol's rules (connectrpc.com/docs/protocol): one HTTP/2
/// request with cleartext prior knowledge, as backrest's client sends them; the whole response collected.
/// It sends any headers it is given, so tests also use it for gRPC requests no gRPC library would send
/// (a malformed `grpc-timeout`, say).
public struct ConnectResponse: Sendable {
    public var headers: HPACKHeaders
    public var body: ByteBuffer
    public var trailers: HPACKHeaders?

    /// `grpc-status` of a gRPC response (trailers, or a trailers-only response's headers).
    public var grpcStatus: Int? { (trailers?.first(name: "grpc-status") ?? headers.first(name: "grpc-status")).flatMap(Int.init) }
    public var grpcMessage: String { trailers?.first(name: "grpc-message") ?? headers.first(name: "grpc-message") ?? "" }

    /// Envelopes of a streaming response: (flags, payload).
    public var envelopes: [(flags: UInt8, payload: [UInt8])] {
        var buffer = body
        var result: [(UInt8, [UInt8])] = []
        while let flags = buffer.readInteger(as: UInt8.self), let length = buffer.readInteger(as: UInt32.self),
            let payload = buffer.readBytes(length: Int(length))
        {
            result.append((flags, payload))
        }
        return result
    }

    /// The JSON object of the body (unary errors) or of the end-of-stream envelope.
    public var json: [String: Any]? {
        let bytes = envelopes.last(where: { $0.flags & 0x02 != 0 })?.payload ?? Array(body.readableBytesView)
        return (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
    }
}

public struct ConnectTestError: Error, CustomStringConvertible {
    public var description: String
}

public func envelope(_ message: [UInt8], flags: UInt8 = 0) -> [UInt8] {
    var bytes = [flags]
    withUnsafeBytes(of: UInt32(message.count).bigEndian) { bytes += $0 }
    return bytes + message
}

public func connectCall(
    port: Int, path: String, contentType: String, headers extra: [(String, String)] = [],
    body: [[UInt8]], timeout: Duration = .seconds(10)
) async throws -> ConnectResponse {
    // The HTTP/2 handler must be in the pipeline before the server's first bytes (its SETTINGS) arrive.
    let (channel, multiplexer) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        .connect(host: "127.0.0.1", port: port) { channel in
            channel.eventLoop.makeCompletedFuture {
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                ) { $0.eventLoop.makeSucceededVoidFuture() }
                return (channel, multiplexer)
            }
        }
    defer { channel.close(promise: nil) }
    let promise = channel.eventLoop.makePromise(of: ConnectResponse.self)
    let stream = try await multiplexer.createStreamChannel { stream in
        stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(ResponseCollector(promise)) }
    }.get()
    var headers: HPACKHeaders = [
        ":method": "POST", ":scheme": "http", ":path": path, ":authority": "127.0.0.1:\(port)",
        "content-type": contentType,
    ]
    if !contentType.hasPrefix("application/grpc") { headers.add(name: "connect-protocol-version", value: "1") }
    for (name, value) in extra { headers.add(name: name, value: value) }
    stream.write(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: body.isEmpty)), promise: nil)
    for (index, part) in body.enumerated() {
        stream.write(
            HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: part)), endStream: index == body.count - 1)), promise: nil)
    }
    stream.flush()
    let response = promise.futureResult
    do {
        return try await withDeadline(timeout) { try await response.get() }
    } catch {
        throw ConnectTestError(description: "\(path) (\(contentType)): \(error)")
    }
}

private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    private let promise: EventLoopPromise<ConnectResponse>
    private var response = ConnectResponse(headers: [:], body: ByteBuffer(), trailers: nil)
    private var sawHeaders = false

    init(_ promise: EventLoopPromise<ConnectResponse>) { self.promise = promise }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let headers):
            if sawHeaders { response.trailers = headers.headers } else { response.headers = headers.headers }
            sawHeaders = true
            if headers.endStream { promise.succeed(response) }
        case .data(let data):
            if case .byteBuffer(var buffer) = data.data { response.body.writeBuffer(&buffer) }
            if data.endStream { promise.succeed(response) }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        promise.fail(ChannelError.eof)  // ignored when already succeeded
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        promise.fail(error)
        context.close(promise: nil)
    }
}
