import NIOCore

/// One command written to a Redis connection, with the promise its reply completes.
struct RedisCommand {
    var arguments: [ByteBuffer]
    var promise: EventLoopPromise<RedisValue>?
}

/// Encodes commands and matches replies to them in order, so any number of callers can pipeline on one
/// connection. In subscriber mode, push messages (`message`, `pmessage`) go to `onPush` instead.
final class RedisChannelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = RedisCommand
    typealias OutboundOut = ByteBuffer

    private let reader = HiredisReader()
    private var pending = CircularBuffer<EventLoopPromise<RedisValue>?>(initialCapacity: 64)
    private let onPush: ((RedisValue) -> Void)?

    /// - Parameter onPush: set for a pub/sub connection; receives every reply that does not answer a command.
    init(onPush: ((RedisValue) -> Void)? = nil) {
        self.onPush = onPush
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let command = unwrapOutboundIn(data)
        var buffer = context.channel.allocator.buffer(capacity: 64)
        HiredisEncoder.encode(command.arguments, into: &buffer)
        if onPush == nil || command.promise != nil {
            pending.append(command.promise)
        }
        context.write(wrapOutboundOut(buffer), promise: promise)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        do {
            try reader.feed(unwrapInboundIn(data))
            while let reply = try reader.nextReply() {
                deliver(reply)
            }
        } catch {
            failAll(error)
            context.close(promise: nil)
        }
    }

    private func deliver(_ reply: RedisValue) {
        if let onPush, isPush(reply) || pending.isEmpty {
            onPush(reply)
            return
        }
        guard let promise = pending.popFirst() else { return }
        if case .error(let message) = reply {
            promise?.fail(RedisError.server(message))
        } else {
            promise?.succeed(reply)
        }
    }

    /// Pub/sub pushes and subscription acknowledgements are arrays whose first element names the kind.
    private func isPush(_ reply: RedisValue) -> Bool {
        guard case .array(let elements) = reply, let kind = elements.first?.string else { return false }
        switch kind {
        case "message", "pmessage", "subscribe", "unsubscribe", "psubscribe", "punsubscribe":
            return true
        default:
            return false
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        failAll(RedisError.connectionClosed)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        failAll(error)
        context.close(promise: nil)
    }

    private func failAll(_ error: any Error) {
        while let promise = pending.popFirst() {
            promise?.fail(error)
        }
    }
}
