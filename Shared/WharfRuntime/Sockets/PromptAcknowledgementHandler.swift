import NIOCore

/// Acknowledges what a connection received as soon as it has been read, instead of letting the kernel delay the
/// ACK by up to 40 ms (Linux's delayed ACK) hoping to send it with an answer.
///
/// Why a server needs this: a client that keeps Nagle's algorithm on (tokio-tungstenite's default, so rust-nostr's)
/// holds any small write while an earlier one is unacknowledged. A message the server does not answer (a nostr
/// `CLOSE`) followed by one it does (the next `REQ`) then waits for the delayed ACK of the first: 40+ ms per
/// round, which capped a nostr-sdk sync down at about 1,700 events/s whatever the relay's speed. `TCP_QUICKACK` is
/// not sticky (the kernel returns to delayed ACKs when the exchange looks interactive), so it is set again after
/// every read; setting it also sends an ACK the kernel was holding.
public final class PromptAcknowledgementHandler: ChannelInboundHandler, RemovableChannelHandler, Sendable {
    public typealias InboundIn = NIOAny

    public init() {}

    public func channelReadComplete(context: ChannelHandlerContext) {
        #if os(Linux)
            // TCP_QUICKACK (12 in <netinet/tcp.h>); an error (a socket already closed) changes nothing for the reader.
            try? context.channel.syncOptions?.setOption(
                ChannelOptions.Types.SocketOption(level: .tcp, name: NIOBSDSocket.Option(rawValue: 12)), value: 1)
        #endif
        context.fireChannelReadComplete()
    }
}
