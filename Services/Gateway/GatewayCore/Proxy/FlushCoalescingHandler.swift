import NIOCore

/// Sits directly under a connection's HTTP/2 handler and turns the flushes of one event-loop tick into one.
///
/// The gateway relays a frame read on one connection onto a stream of another, and a stream channel's flush
/// reaches its connection's socket at once: a batch of 32 requests read from a client became 32 `writev`
/// calls on the upstream connection (and the same again for the responses). HTTP/2 handlers only coalesce
/// the flushes caused by reading their own connection. Deferring the socket flush to a task on the loop
/// lets every frame relayed while handling this tick's reads leave in one write, as nginx does; the task
/// runs right after the tick's I/O, so a lone call waits for nothing else.
final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = NIOAny
    typealias OutboundOut = NIOAny

    private var flushScheduled = false

    func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushNow(context: context)
        }
    }

    /// A close fails the writes that were never flushed (a GOAWAY, a last response), so those go first.
    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        flushNow(context: context)
        context.close(mode: mode, promise: promise)
    }

    private func flushNow(context: ChannelHandlerContext) {
        guard flushScheduled else { return }
        flushScheduled = false
        context.flush()
    }
}
