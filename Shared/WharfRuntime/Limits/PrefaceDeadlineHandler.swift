import NIOCore

/// Closes a client connection that has not sent the 24-byte HTTP/2 connection preface within `timeout` of
/// opening (the gateway puts it after TLS; the services' gRPC listeners in front, where with TLS the
/// ClientHello counts). Without it a socket that sends nothing, or a few
/// bytes, holds a descriptor for ever: HTTP/2's own idle handling starts only once the preface is in.
public final class PrefaceDeadlineHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias InboundOut = ByteBuffer

    static let prefaceLength = 24
    private let timeout: TimeAmount
    private var received = 0
    private var deadline: Scheduled<Void>?

    public init(timeout: TimeAmount) {
        self.timeout = timeout
    }

    public func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { arm(context) }
    }

    public func channelActive(context: ChannelHandlerContext) {
        arm(context)
        context.fireChannelActive()
    }

    private func arm(_ context: ChannelHandlerContext) {
        guard deadline == nil else { return }
        let channel = context.channel
        deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += unwrapInboundIn(data).readableBytes
        context.fireChannelRead(data)
        if received >= Self.prefaceLength {
            deadline?.cancel()
            deadline = nil
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
        }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }
}

extension TimeAmount {
    /// `duration` as NIO's time amount, clamped to 1 ms…1 day (NIO's nanoseconds cannot hold more than ~292 years).
    public static func clamped(_ duration: Duration) -> TimeAmount {
        .milliseconds(min(max(duration.clampedMilliseconds, 1), 86_400_000))
    }
}
