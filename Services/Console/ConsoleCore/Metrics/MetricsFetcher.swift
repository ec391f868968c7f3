import NIOCore
import NIOHTTP1
import NIOPosix

/// One plain-HTTP GET of a process's `/metrics` (or of a page, for the container's health probe), bounded in time and size (a metrics endpoint is a service of
/// ours, but one that hangs or answers without end must not hold the console).
public struct MetricsFetcher: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    public static let maximumBodyBytes = 16 * 1024 * 1024
    let timeout: TimeAmount

    public init(timeout: TimeAmount = .seconds(3)) {
        self.timeout = timeout
    }

    /// The body of `GET http://host:port/path` when it answers 200.
    public func get(host: String, port: Int, path: String = "/metrics") async throws -> String {
        let promise = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: String.self)
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(Collector(promise: promise, limit: Self.maximumBodyBytes))
                }
            }
        let channel: Channel
        do {
            channel = try await bootstrap.connect(host: host, port: port).get()
        } catch {
            promise.fail(Failure(description: "cannot connect to \(host):\(port): \(error)"))
            return try await promise.futureResult.get()
        }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            promise.fail(Failure(description: "\(host):\(port) did not answer within \(timeout.nanoseconds / 1_000_000) ms"))
            channel.close(promise: nil)
        }
        var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
        head.headers.add(name: "Host", value: "\(host):\(port)")
        head.headers.add(name: "Connection", value: "close")
        channel.write(HTTPClientRequestPart.head(head), promise: nil)
        channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        defer {
            deadline.cancel()
            channel.close(promise: nil)
        }
        return try await promise.futureResult.get()
    }

    private final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        let promise: EventLoopPromise<String>
        let limit: Int
        var status: HTTPResponseStatus = .ok
        var body = ByteBuffer()

        init(promise: EventLoopPromise<String>, limit: Int) {
            self.promise = promise
            self.limit = limit
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = head.status
            case .body(var part):
                guard body.readableBytes + part.readableBytes <= limit else {
                    promise.fail(Failure(description: "metrics larger than \(limit) bytes"))
                    context.close(promise: nil)
                    return
                }
                body.writeBuffer(&part)
            case .end:
                if status == .ok {
                    promise.succeed(String(buffer: body))
                } else {
                    promise.fail(Failure(description: "answered \(status.code)"))
                }
                context.close(promise: nil)
            }
        }

        func channelInactive(context: ChannelHandlerContext) {
            promise.fail(Failure(description: "connection closed before the answer ended"))
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            promise.fail(error)
            context.close(promise: nil)
        }
    }
}
