import NIOCore

/// Turns the flushes of one event-loop tick into one (put near the socket: under a connection's HTTP/2 handler,
/// or first in an HTTP/1 or WebSocket pipeline).
///
/// The gateway relays a frame read on one connection onto a stream of another, and a stream channel's flush
/// reaches its connection's socket at once: a batch of 32 requests read from a client became 32 `writev`
/// calls on the upstream connection (and the same again for the responses). HTTP/2 handlers only coalesce
/// the flushes caused by reading their own connection. Deferring the socket flush to a task on the loop
/// lets every frame relayed while handling this tick's reads leave in one write, as nginx does; the task
/// runs right after the tick's I/O, so a lone call waits for nothing else. The same holds for an async writer
/// (a WebSocket's outbound writer hands the channel one message per loop task and flushes each): the relay's
/// answer to a nostr REQ of 100 events was 100 `writev`s, 100 TCP segments and 100 wake-ups of its reader.
public final class FlushCoalescingHandler: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = NIOAny
    public typealias OutboundOut = NIOAny

    private var flushScheduled = false

    public init() {}

    public func flush(context: ChannelHandlerContext) {
        guard !flushScheduled else { return }
        flushScheduled = true
        context.eventLoop.assumeIsolated().execute {
            self.flushNow(context: context)
        }
    }

    /// A close fails the writes that were never flushed (a GOAWAY, a last response), so those go first.
    public func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        flushNow(context: context)
        context.close(mode: mode, promise: promise)
    }

    private func flushNow(context: ChannelHandlerContext) {
        guard flushScheduled else { return }
        flushScheduled = false
        context.flush()
    }
}
