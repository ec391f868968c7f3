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

    static var stream: NIOHTTP2Handler.StreamConfiguration {
        var stream = NIOHTTP2Handler.StreamConfiguration()
        stream.targetWindowSize = 1 << 20
        return stream
    }
}
