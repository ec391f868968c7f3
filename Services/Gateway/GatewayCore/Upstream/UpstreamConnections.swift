import NIOCore
import NIOHTTP2
import NIOPosix
import WharfRuntime

/// HTTP/2 connections to upstream addresses, owned by one event loop: every inbound stream on that loop
/// forwards onto them without hopping threads. A connection carries at most as many streams as its server
/// allows (SETTINGS_MAX_CONCURRENT_STREAMS, 100 until it says); more open another connection. A connection
/// that receives GOAWAY or closes is dropped from the pool at once (its open streams finish).
// Unchecked: every member is used on `eventLoop` only (checked in `openStream`).
final class UpstreamConnections: @unchecked Sendable {
    let eventLoop: any EventLoop
    private let connectTimeout: TimeAmount
    private var connections: [HostPort: [Entry]] = [:]
    private var nextID = 0
    static let assumedStreamLimit = 100

    private struct Entry {
        var id: Int
        var multiplexer: EventLoopFuture<NIOHTTP2Handler.StreamMultiplexer>
        var open = 0
        var limit = UpstreamConnections.assumedStreamLimit
    }

    init(eventLoop: any EventLoop, connectTimeout: TimeAmount) {
        self.eventLoop = eventLoop
        self.connectTimeout = connectTimeout
    }

    /// A new stream to `address`, on a connection with room for it (opened if none has).
    func openStream(to address: HostPort, _ initializer: @escaping NIOChannelInitializer) -> EventLoopFuture<any Channel> {
        eventLoop.preconditionInEventLoop()
        let entry = connections[address]?.first(where: { $0.open < $0.limit }) ?? connect(address)
        update(address, id: entry.id) { $0.open += 1 }
        let id = entry.id
        let opened = entry.multiplexer.flatMap { $0.createStreamChannel(initializer) }
        opened.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let channel):
                channel.closeFuture.assumeIsolated().whenComplete { _ in self.update(address, id: id) { $0.open -= 1 } }
            case .failure:
                self.update(address, id: id) { $0.open -= 1 }
            }
        }
        return opened
    }

    private func connect(_ address: HostPort) -> Entry {
        nextID += 1
        let id = nextID
        let connected = ClientBootstrap(group: eventLoop)
            .connectTimeout(connectTimeout)
            .channelOption(.tcpOption(.tcp_nodelay), value: 1)
            .connect(host: address.host, port: address.port)
            .flatMapThrowing { channel -> (any Channel, NIOHTTP2Handler.StreamMultiplexer) in
                try channel.pipeline.syncOperations.addHandler(FlushCoalescingHandler())
                let multiplexer = try channel.pipeline.syncOperations.configureHTTP2Pipeline(
                    mode: .client, connectionConfiguration: GatewayHTTP2.connection, streamConfiguration: GatewayHTTP2.stream,
                    inboundStreamInitializer: { $0.close() })  // servers do not push streams to gRPC clients
                try channel.pipeline.syncOperations.addHandler(
                    ConnectionWatcher(
                        goAway: { self.forget(address, id: id) },
                        streamLimit: { limit in self.update(address, id: id) { $0.limit = max(1, limit) } }))
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
        let entry = Entry(id: id, multiplexer: connected.map { _, multiplexer in multiplexer })
        connections[address, default: []].append(entry)
        return entry
    }

    private func update(_ address: HostPort, id: Int, _ change: (inout Entry) -> Void) {
        guard let index = connections[address]?.firstIndex(where: { $0.id == id }) else { return }
        change(&connections[address, default: []][index])
    }

    private func forget(_ address: HostPort, id: Int) {
        connections[address]?.removeAll { $0.id == id }
        if connections[address]?.isEmpty == true { connections[address] = nil }
    }
}

/// Tells the pool what the upstream's connection-level frames say: GOAWAY (no new streams here) and its
/// concurrent stream limit.
private final class ConnectionWatcher: ChannelInboundHandler {
    typealias InboundIn = HTTP2Frame
    private let goAway: () -> Void
    private let streamLimit: (Int) -> Void

    init(goAway: @escaping () -> Void, streamLimit: @escaping (Int) -> Void) {
        self.goAway = goAway
        self.streamLimit = streamLimit
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data).payload {
        case .goAway:
            goAway()
        case .settings(.settings(let settings)):
            if let limit = settings.last(where: { $0.parameter == .maxConcurrentStreams }) { streamLimit(limit.value) }
        default:
            break
        }
    }
}
