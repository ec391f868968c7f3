import NIOCore
import NIOHTTP2

/// The upstream half of a proxied stream: hands what the upstream sends to the client's stream, and reads
/// from the upstream only while the client's stream can take more.
final class UpstreamStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    // Both stream channels live on the same event loop; the pair is released when both close.
    private var inbound: InboundStreamHandler?
    /// Why the stream ended early, when it did.
    private var failure: (any Error)?

    init(inbound: InboundStreamHandler) {
        self.inbound = inbound
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        inbound?.upstreamRead(unwrapInboundIn(data))
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        inbound?.upstreamReadComplete()
        context.fireChannelReadComplete()
    }

    /// Held while the client's stream is full; its writability change reads again (`InboundStreamHandler`).
    func read(context: ChannelHandlerContext) {
        if inbound?.clientWritable ?? true { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        inbound?.upstreamWritabilityChanged(context.channel.isWritable)
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        inbound?.upstreamClosed(failure: failure)
        inbound = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A reset from the upstream, or a protocol error on its stream: channelInactive follows.
        failure = failure ?? error
        context.close(promise: nil)
    }
}
