import NIOCore
import NIOHTTP2
import SwiftProtobuf
import WharfProto

/// Calls the gateway answers itself: `grpc.health.v1.Health` (Check, and Watch with a message per change)
/// and `wharf.gateway.v1.GatewayStatus/ListRoutes` (the routes and their replicas, for `wharfctl status`).
struct LocalHealthCall {
    static let service = "grpc.health.v1.Health"
    static let statusService = "wharf.gateway.v1.GatewayStatus"

    enum Method {
        case check, watch, listRoutes
    }

    let method: Method
    private var request = ByteBuffer()

    init?(path: String) {
        switch path {
        case "/grpc.health.v1.Health/Check": method = .check
        case "/grpc.health.v1.Health/Watch": method = .watch
        case "/wharf.gateway.v1.GatewayStatus/ListRoutes": method = .listRoutes
        default: return nil
        }
    }

    /// A health request is one service name: more than this is refused rather than buffered.
    static let maximumRequestBytes = 64 << 10
    private(set) var oversized = false

    /// Adds a request frame; true when the request is complete (or too large to go on).
    mutating func append(_ payload: HTTP2Frame.FramePayload) -> Bool {
        guard case .data(let data) = payload else {
            if case .headers(let headers) = payload { return headers.endStream }
            return false
        }
        if case .byteBuffer(var buffer) = data.data { request.writeBuffer(&buffer) }
        if request.readableBytes > Self.maximumRequestBytes {
            oversized = true
            request = ByteBuffer()
            return true
        }
        return data.endStream
    }

    /// The requested service name; nil when the request is not one well-formed message.
    var serviceName: String? {
        guard let bytes = messageBytes, let message = try? Grpc_Health_V1_HealthCheckRequest(serializedBytes: bytes) else { return nil }
        return message.service
    }

    /// The one uncompressed message of the request; nil when it is not exactly one.
    var messageBytes: [UInt8]? {
        var buffer = request
        guard buffer.readInteger(as: UInt8.self) == 0, let length = buffer.readInteger(as: UInt32.self),
            let bytes = buffer.readBytes(length: Int(length)), buffer.readableBytes == 0
        else { return nil }
        return bytes
    }

    static let responseHeaders = HTTP2Frame.FramePayload.headers(.init(headers: [":status": "200", "content-type": "application/grpc"]))

    static func message(_ status: GatewayHealth.Status) -> HTTP2Frame.FramePayload {
        message(bytes: (try? Grpc_Health_V1_HealthCheckResponse.with { $0.status = status }.serializedBytes() as [UInt8]) ?? [])
    }

    /// One gRPC message frame carrying `body`.
    static func message(bytes body: [UInt8]) -> HTTP2Frame.FramePayload {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(body.count))
        buffer.writeBytes(body)
        return .data(.init(data: .byteBuffer(buffer)))
    }

    static let ok = HTTP2Frame.FramePayload.headers(.init(headers: ["grpc-status": "0"], endStream: true))
}
