import NIOCore
import NIOHPACK
import NIOHTTP2

/// The first handler of every HTTP/2 stream of a Wharf gRPC server: it answers with a gRPC status what the
/// transport would otherwise trap on or reset.
/// - A malformed `grpc-timeout` header gets INVALID_ARGUMENT before GRPCCore decodes it (its decoder traps on
///   some values, see `GRPCTimeoutHeader`).
/// - A request stream that ends inside a message gets INVALID_ARGUMENT (the transport answers INTERNAL).
/// - A request message over the size limit gets RESOURCE_EXHAUSTED, as grpc-go and tonic answer ("…larger than
///   max…"), instead of the bare RST_STREAM(CANCEL) the NIO transport sends when its own limit trips. Only the
///   5-byte length prefix of each gRPC message is read as DATA frames pass, so it costs nothing per byte and
///   never buffers a message.
/// - A request whose HEADERS frame carries END_STREAM (no message at all) is passed on as HEADERS followed by
///   an empty DATA frame that ends the stream: the NIO transport never ends the request stream of the first
///   form, so the handler waited for ever and the call was never answered.
final class RequestGuardHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias InboundOut = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let limit: Int
    /// Bytes of the current message body still to come.
    private var remainingBody = 0
    /// The prefix of the next message, while it is split across DATA frames.
    private var prefix: [UInt8] = []
    private var responseHeadersSent = false
    private var rejected = false
    private var requestHeadersSeen = false

    init(limit: Int) {
        self.limit = limit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !rejected else { return }
        switch unwrapInboundIn(data) {
        case .headers(let frame):
            if let problem = GRPCTimeoutHeader.problem(in: frame.headers[GRPCTimeoutHeader.name]) {
                return reject(context: context, status: 3, message: problem)
            }
            defer { requestHeadersSeen = true }
            if frame.endStream, !requestHeadersSeen {
                requestHeadersSeen = true
                var open = frame
                open.endStream = false
                context.fireChannelRead(wrapInboundOut(.headers(open)))
                context.fireChannelRead(wrapInboundOut(.data(.init(data: .byteBuffer(ByteBuffer()), endStream: true))))
                return
            }
        case .data(let frame):
            if case .byteBuffer(let buffer) = frame.data, let oversized = oversizedMessage(in: buffer) {
                return reject(
                    context: context, status: 8,
                    message: "request message of \(oversized) bytes is larger than the maximum of \(limit) bytes")
            }
            // A request that ends inside a message is malformed; the transport would call it an internal error.
            if frame.endStream, remainingBody > 0 || !prefix.isEmpty {
                let missing = remainingBody > 0 ? "\(remainingBody) bytes of its last message" : "\(5 - prefix.count) bytes of a message header"
                return reject(context: context, status: 3, message: "request stream ended \(missing) short (a truncated gRPC message)")
            }
        default:
            break
        }
        context.fireChannelRead(data)
    }

    /// Walks the message boundaries in `buffer`; returns the declared size of the first message over the limit.
    private func oversizedMessage(in buffer: ByteBuffer) -> Int? {
        var buffer = buffer
        while buffer.readableBytes > 0 {
            if remainingBody > 0 {
                let skip = min(remainingBody, buffer.readableBytes)
                buffer.moveReaderIndex(forwardBy: skip)
                remainingBody -= skip
                continue
            }
            let needed = 5 - prefix.count
            let bytes = buffer.readBytes(length: min(needed, buffer.readableBytes)) ?? []
            prefix.append(contentsOf: bytes)
            guard prefix.count == 5 else { continue }
            let length = prefix[1...4].reduce(0) { $0 << 8 | Int($1) }
            prefix.removeAll(keepingCapacity: true)
            if length > limit { return length }
            remainingBody = length
        }
        return nil
    }

    private func reject(context: ChannelHandlerContext, status: Int, message: String) {
        rejected = true
        var headers = HPACKHeaders()
        if !responseHeadersSent {
            headers.add(name: ":status", value: "200")
            headers.add(name: "content-type", value: "application/grpc")
        }
        headers.add(name: "grpc-status", value: String(status))
        headers.add(name: "grpc-message", value: GRPCStatusMessage.percentEncoded(message))
        context.write(wrapOutboundOut(.headers(.init(headers: headers, endStream: true))), promise: nil)
        // The client may still be uploading: tell it to stop (the response is complete, so NO_ERROR).
        context.write(wrapOutboundOut(.rstStream(.noError)), promise: nil)
        context.flush()
        context.close(promise: nil)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard !rejected else {
            promise?.fail(ChannelError.ioOnClosedChannel)
            return
        }
        if case .headers = unwrapOutboundIn(data) { responseHeadersSent = true }
        context.write(data, promise: promise)
    }
}
