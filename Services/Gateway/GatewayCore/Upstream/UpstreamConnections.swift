import NIOCore
import NIOHTTP2
import NIOPosix
import WharfRuntime

/// HTTP/2 connections to upstream addresses, one per address, owned by one event loop: every inbound
/// stream on that loop forwards onto them without hopping threads. A connection that receives GOAWAY or
/// closes is dropped from the pool at once (its open streams finish); the next request opens a new one.
// Unchecked: every member is used on `eventLoop` only (checked in `multiplexer(for:)`).
final class UpstreamConnections: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let connectTimeout: TimeAmount
    private var connections: [HostPort: Entry] = [:]
    private var nextID = 0

    private struct Entry {
        var id: Int
        var multiplexer: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
    }

    init(eventLoop: any EventLoop, connectTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
    }

    /// The multiplexer of a connection to `address`, opened if there is none.
    func multiplexer(for address: HostPort) -> EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer> {
        eventLoop.preconditionInEventLoop()
        if let entry = connections[address] { return entry.multiplexer }
        nextID += 1
        let id = nextID
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .connect(host: address.host, port: address.port)
            .flatMapThrowing { channel -> (any Channel, NIOHTTP2Handler.StreamMultiplexer) in
                var connection = NIOHTTP2Handler.ConnectionConfiguration()
                connection.initialSettings = [
                    HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
                    HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
                    HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 16),
                ]
                var stream = NIOHTTP2Handler.StreamConfiguration()
                stream.targetWindowSize = 1 << 20
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: connection, streamConfiguration: stream,
                    inboundStreamInitializer: { $0.close() })  // servers do not push streams to gRPC clients
                try channel.pipeline.syncOperations.addHandler(GoAwayWatcher { self.forget(address, id: id) })
                return (channel, multiplexer)
            }
        connected.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let (channel, _)):
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.forget(address, id: id) }
            case .failure:
                self.forget(address, id: id)
            }
        }
        let multiplexer = connected.map { _, multiplexer in multiplexer }
        connections[address] = Entry(id: id, multiplexer: multiplexer)
        return multiplexer
    }

    private func forget(_ address: HostPort, id: Int) {
        if connections[address]?.id == id { connections[address] = nil }
    }
}

/// Tells the pool when the upstream sends GOAWAY: no new streams may go to that connection.
private final class GoAwayWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    private let onGoAway: () -> Void

    init(_ onGoAway: @escaping () -> Void) { self.onGoAway = onGoAway }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .goAway = unwrapInboundIn(data).payload { onGoAway() }
    }
}
