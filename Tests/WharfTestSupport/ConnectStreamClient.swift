import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import WharfRuntime

/// One Connect streaming call held open, as a backrest client drives its Sync stream: envelopes written when
/// the test says, answers read one by one as they arrive (connectrpc.com/docs/protocol, "Streaming"; cleartext
/// HTTP/2 with prior knowledge). `connectCall` collects a whole response; this one is for conversations.
public final class ConnectStream: Sendable {
    public enum Frame: Sendable, Equatable {
        /// A message envelope (flag 0x00).
        case message([UInt8])
        /// The end-of-stream envelope (flag 0x02): its JSON, `error` and `metadata`.
        case end([UInt8])
    }

    public let responseHeaders: HPACKHeaders
    private let channel: any Channel
    private let stream: any Channel
    private let frames: FrameInbox<Frame>

    private init(channel: any Channel, stream: any Channel, responseHeaders: HPACKHeaders, frames: FrameInbox<Frame>) {
        self.channel = channel
        self.stream = stream
        self.responseHeaders = responseHeaders
        self.frames = frames
    }

    /// Opens `path` on 127.0.0.1:`port` with `application/connect+proto` and waits for the response headers.
    public static func open(
        port: Int, path: String, headers extra: [(String, String)] = [],
        timeout: Duration = .seconds(10)
    ) async throws -> ConnectStream {
        let (channel, multiplexer) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                        mode: .client, connectionConfiguration: .init(), streamConfiguration: .init()
                    ) { $0.eventLoop.makeSucceededVoidFuture() }
                    return (channel, multiplexer)
                }
            }
        let frames = FrameInbox<ConnectStream.Frame>()
        let headersPromise = channel.eventLoop.makePromise(of: HPACKHeaders.self)
        do {
            let stream = try await multiplexer.createStreamChannel { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(EnvelopeReader(headers: headersPromise, frames: frames))
                }
            }.get()
            var headers: HPACKHeaders = [
                ":method": "POST", ":scheme": "http", ":path": path, ":authority": "127.0.0.1:\(port)",
                "content-type": "application/connect+proto", "connect-protocol-version": "1",
            ]
            for (name, value) in extra { headers.add(name: name, value: value) }
            try await stream.writeAndFlush(HTTP2Frame.FramePayload.headers(.init(headers: headers, endStream: false)))
            let future = headersPromise.futureResult
            let responseHeaders = try await withDeadline(timeout) { try await future.get() }
            return ConnectStream(channel: channel, stream: stream, responseHeaders: responseHeaders, frames: frames)
        } catch {
            channel.close(promise: nil)
            throw ConnectTestError(description: "\(path): \(error)")
        }
    }

    /// Writes one message envelope.
    public func send(_ message: [UInt8]) async throws {
        try await stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer(bytes: envelope(message))))))
    }

    /// Half-closes the request: the client has nothing more to say.
    public func finish() async throws {
        try await stream.writeAndFlush(HTTP2Frame.FramePayload.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true)))
    }

    /// The next frame, nil after the response ended; throws when nothing arrives within `timeout`.
    public func next(timeout: Duration = .seconds(10)) async throws -> Frame? {
        try await frames.next(timeout: timeout)
    }

    /// Drops the TCP connection without ending the stream, as a machine that loses its network would.
    public func disappear() {
        channel.close(promise: nil)
    }

    /// Ends the call politely and closes the connection.
    public func close() {
        channel.close(promise: nil)
    }
}

/// Splits the response's DATA into envelopes, whatever the frame boundaries.
private final class EnvelopeReader: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    private let headers: EventLoopPromise<HPACKHeaders>
    private let frames: FrameInbox<ConnectStream.Frame>
    private var buffer = ByteBuffer()
    private var sawHeaders = false

    init(headers: EventLoopPromise<HPACKHeaders>, frames: FrameInbox<ConnectStream.Frame>) {
        self.headers = headers
        self.frames = frames
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .headers(let block):
            if !sawHeaders { headers.succeed(block.headers) }
            sawHeaders = true
            if block.endStream { frames.finish() }
        case .data(let data):
            if case .byteBuffer(var bytes) = data.data { buffer.writeBuffer(&bytes) }
            while buffer.readableBytes >= 5, let flags = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
                let length = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt32.self),
                buffer.readableBytes >= 5 + Int(length)
            {
                buffer.moveReaderIndex(forwardBy: 5)
                let payload = buffer.readBytes(length: Int(length)) ?? []
                frames.push(flags & 0x02 != 0 ? .end(payload) : .message(payload))
            }
            if data.endStream { frames.finish() }
        default:
            break
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        headers.fail(ChannelError.eof)
        frames.finish()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        headers.fail(error)
        frames.finish()
        context.close(promise: nil)
    }
}
