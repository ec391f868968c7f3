import NIOHPACK
import NIOHTTP2

/// The HTTP/2 settings of both sides of the gateway (client listener and upstream connections): many
/// concurrent streams and 1 MiB windows, so that flow control does not throttle relayed streams.
enum GatewayHTTP2 {
    static var connection: NIOHTTP2Handler.ConnectionConfiguration {
        var connection = NIOHTTP2Handler.ConnectionConfiguration()
        connection.initialSettings = [
            HTTP2Setting(parameter: .maxConcurrentStreams, value: 1000),
            HTTP2Setting(parameter: .initialWindowSize, value: 1 << 20),
            HTTP2Setting(parameter: .maxHeaderListSize, value: 1 << 16),
        ]
        return connection
    }

    /// The header list an upstream accepts (HTTP/2 counts each field as name + value + 32 bytes): NIO's and
    /// grpc-swift's default, which every Wharf service keeps. A larger list makes the upstream end the whole
    /// pooled connection — every client's stream on it — so the gateway refuses it on the one stream.
    static let upstreamHeaderListLimit = 16_384

    /// Why `headers` cannot be forwarded upstream, or nil.
    static func headerRefusal(_ headers: HPACKHeaders) -> String? {
        var size = 0
        for (name, value, _) in headers { size += name.utf8.count + value.utf8.count + 32 }
        guard size > upstreamHeaderListLimit else { return nil }
        return "request headers of \(size) bytes (HTTP/2 list size); at most \(upstreamHeaderListLimit) are forwarded"
    }

    static var stream: NIOHTTP2Handler.StreamConfiguration {
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = 1 << 20
        return stream
    }
}
