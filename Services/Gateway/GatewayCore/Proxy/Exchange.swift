import Logging
import Metrics
import NIOCore
import NIOHTTP2

/// One proxied call's accounting: route, status, duration and bytes, recorded as metrics and an access log
/// line when it ends.
struct Exchange {
    let gateway: Gateway
    let path: String
    let started: NIODeadline
    var route: String?
    var status: Int?
    var requestBytes = 0
    var responseBytes = 0

    init(gateway: Gateway, path: String, started: NIODeadline) {
        self.gateway = gateway
        self.path = path
        self.started = started
    }

    mutating func countRequest(_ payload: HTTP2Frame.FramePayload) {
        if case .data(let data) = payload, case .byteBuffer(let buffer) = data.data { requestBytes += buffer.readableBytes }
    }

    mutating func countResponse(_ payload: HTTP2Frame.FramePayload) {
        if case .data(let data) = payload, case .byteBuffer(let buffer) = data.data { responseBytes += buffer.readableBytes }
    }

    func finish(status: Int?) {
        let elapsed = NIODeadline.now() - started
        gateway.metrics.record(
            route: route ?? "unrouted", status: status, duration: elapsed,
            requestBytes: requestBytes, responseBytes: responseBytes)
        if gateway.accessLog {
            gateway.logger.info(
                "access",
                metadata: [
                    "path": "\(path)", "route": "\(route ?? "-")", "grpc_status": "\(status.map(String.init) ?? "-")",
                    "duration_ms": "\(Double(elapsed.nanoseconds) / 1e6)", "bytes_in": "\(requestBytes)", "bytes_out": "\(responseBytes)",
                ])
        }
    }
}
