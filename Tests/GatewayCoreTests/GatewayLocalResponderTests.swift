import GRPCCore
import Logging
import NIOCore
import NIOHPACK
import NIOHTTP2
import NIOPosix
import Prometheus
import SwiftProtobuf
import Testing
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import GatewayCore

/// What the gateway answers itself, as frames, without a network: health, GatewayStatus and the statuses that
/// end calls, for gRPC and Connect clients.
@Suite("The gateway's own answers")
struct GatewayLocalResponderTests {
    typealias Frame = HTTP2Frame.FramePayload

    static func responder(_ environment: [String: String]) throws -> (GatewayLocalResponder, MultiThreadedEventLoopGroup) {
        let reader = EnvironmentReader(environment: ["WHARF_GATEWAY_ROUTES": "a.v1.A=127.0.0.1:1,b.v1.B=127.0.0.1:2"].merging(environment) { $1 })
        let settings = GatewaySettings(reader: reader)
        try reader.validate()
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let gateway = Gateway(
            settings: settings, maximumMessageBytes: 1 << 20, adminToken: TestCredentials.adminToken,
            metrics: RouteMetrics(factory: PrometheusMetricsFactory(registry: PrometheusCollectorRegistry())), group: group,
            logger: Logger(label: "test"))
        return (GatewayLocalResponder(gateway: gateway), group)
    }

    /// A complete local call for `path` carrying `message` (or raw `body`).
    static func call(_ path: String, body: [UInt8]) throws -> LocalHealthCall {
        var call = try #require(LocalHealthCall(path: path))
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt8(0))
        buffer.writeInteger(UInt32(body.count))
        buffer.writeBytes(body)
        _ = call.append(.headers(.init(headers: [":path": "\(path)"])))
        _ = call.append(.data(.init(data: .byteBuffer(buffer), endStream: true)))
        return call
    }

    static func check(_ service: String, method: String = "Check") throws -> LocalHealthCall {
        try call("/grpc.health.v1.Health/\(method)", body: try Grpc_Health_V1_HealthCheckRequest.with { $0.service = service }.serializedBytes())
    }

    static func status(_ answer: GatewayLocalResponder.Answer) -> (Int, String)? {
        if case .status(let code, let message) = answer { return (code, message) }
        return nil
    }

    /// The one message of an answer, decoded.
    static func message<M: SwiftProtobuf.Message>(_ answer: GatewayLocalResponder.Answer, as type: M.Type) throws -> M {
        guard case .frames(let frames, _) = answer, frames.count >= 2, case .data(let data) = frames[1], case .byteBuffer(var buffer) = data.data
        else { throw TestSupportError("no message in \(answer)") }
        buffer.moveReaderIndex(forwardBy: 5)
        return try M(serializedBytes: Array(buffer.readableBytesView))
    }

    @Test("Check: NOT_SERVING until probes pass, per route and for the whole gateway; unknown names NOT_FOUND; malformed INVALID_ARGUMENT")
    func check() throws {
        let (responder, group) = try Self.responder([:])
        defer { try? group.syncShutdownGracefully() }
        #expect(
            try Self.message(responder.answer(Self.check(""), authorization: nil, adminTokens: []), as: Grpc_Health_V1_HealthCheckResponse.self)
                .status == .notServing)
        responder.gateway.health.update(route: "a.v1.A", servingAddresses: 1)
        #expect(
            try Self.message(responder.answer(Self.check("a.v1.A"), authorization: nil, adminTokens: []), as: Grpc_Health_V1_HealthCheckResponse.self)
                .status == .serving)
        #expect(
            try Self.message(responder.answer(Self.check(""), authorization: nil, adminTokens: []), as: Grpc_Health_V1_HealthCheckResponse.self)
                .status == .notServing)
        responder.gateway.health.update(route: "b.v1.B", servingAddresses: 2)
        let whole = responder.answer(try Self.check(""), authorization: nil, adminTokens: [])
        #expect(try Self.message(whole, as: Grpc_Health_V1_HealthCheckResponse.self).status == .serving)
        if case .frames(let frames, let watch) = whole {
            #expect(frames.count == 3 && watch == nil, "headers, message, trailers")
        }
        #expect(Self.status(responder.answer(try Self.check("no.such.Service"), authorization: nil, adminTokens: []))?.0 == 5)
        #expect(
            Self.status(responder.answer(try Self.call("/grpc.health.v1.Health/Check", body: [0xFF, 0xFF]), authorization: nil, adminTokens: []))?.0
                == 3)
    }

    @Test("an oversized health request is RESOURCE_EXHAUSTED; a route's health needs the route's token, the whole gateway's does not")
    func limitsAndTokens() throws {
        let (responder, group) = try Self.responder(["WHARF_GATEWAY_TOKENS": "a.v1.A=route-token-0000000001"])
        defer { try? group.syncShutdownGracefully() }
        var oversized = try #require(LocalHealthCall(path: "/grpc.health.v1.Health/Check"))
        _ = oversized.append(.data(.init(data: .byteBuffer(ByteBuffer(repeating: 0, count: LocalHealthCall.maximumRequestBytes + 1)))))
        #expect(Self.status(responder.answer(oversized, authorization: nil, adminTokens: []))?.0 == 8)
        let refused = Self.status(responder.answer(try Self.check("a.v1.A"), authorization: "Bearer wrong-token-000000000", adminTokens: []))
        #expect(refused?.0 == 16 && refused?.1 == "invalid bearer token for a.v1.A")
        guard case .frames = responder.answer(try Self.check("a.v1.A"), authorization: "Bearer route-token-0000000001", adminTokens: []) else {
            Issue.record("the route's token opens its health"); return
        }
        guard case .frames = responder.answer(try Self.check(""), authorization: nil, adminTokens: []) else {
            Issue.record("the whole gateway's health is for probes"); return
        }
    }

    @Test("Watch opens with the status and sends a message only when it changes")
    func watch() throws {
        let (responder, group) = try Self.responder([:])
        defer { try? group.syncShutdownGracefully() }
        guard case .frames(let frames, let watch?) = responder.answer(try Self.check("a.v1.A", method: "Watch"), authorization: nil, adminTokens: [])
        else {
            Issue.record("expected a watch"); return
        }
        #expect(frames.count == 2, "no trailers: the stream stays open")
        #expect(watch == .init(service: "a.v1.A", last: .notServing))
        let quiet = responder.watchStep(watch)
        #expect(quiet.message == nil && quiet.next == watch)
        responder.gateway.health.update(route: "a.v1.A", servingAddresses: 1)
        let changed = responder.watchStep(watch)
        #expect(changed.message != nil && changed.next.last == .serving)
    }

    @Test("ListRoutes: only with the admin token; every route and replica")
    func listRoutes() throws {
        let (responder, group) = try Self.responder([:])
        defer { try? group.syncShutdownGracefully() }
        let request = try Self.call("/wharf.gateway.v1.GatewayStatus/ListRoutes", body: [])
        #expect(Self.status(responder.answer(request, authorization: nil, adminTokens: []))?.0 == 16)
        #expect(Self.status(responder.answer(request, authorization: nil, adminTokens: ["wrong-admin-token-0000"]))?.0 == 16)
        let answer = responder.answer(request, authorization: nil, adminTokens: [TestCredentials.adminTokenText])
        let routes = try Self.message(answer, as: Wharf_Gateway_V1_ListRoutesResponse.self).routes
        #expect(routes.map(\.service) == ["a.v1.A", "b.v1.B"])
        #expect(routes.map { $0.replicas.map(\.address) } == [["127.0.0.1:1"], ["127.0.0.1:2"]])
        let malformed = try Self.call("/wharf.gateway.v1.GatewayStatus/ListRoutes", body: [0xFF])
        #expect(Self.status(responder.answer(malformed, authorization: nil, adminTokens: [TestCredentials.adminTokenText]))?.0 == 3)
    }

    @Test("a status ends a call as trailers-only, as trailers after a response began, and in Connect's form for Connect clients")
    func endings() throws {
        var none: ConnectBridge? = nil
        let only = GatewayLocalResponder.ending(status: 14, message: "down", bridge: &none, responseStarted: false)
        guard case .headers(let first)? = only.first, only.count == 1 else { Issue.record("one frame"); return }
        #expect(first.endStream && first.headers.first(name: ":status") == "200" && first.headers.first(name: "grpc-status") == "14")
        let after = GatewayLocalResponder.ending(status: 14, message: "down", bridge: &none, responseStarted: true)
        guard case .headers(let trailers)? = after.first else { Issue.record("one frame"); return }
        #expect(trailers.headers.first(name: ":status") == nil && trailers.headers.first(name: "grpc-status") == "14")

        var connect = ConnectBridge(
            requestHeaders: [":method": "POST", ":path": "/a.v1.A/M", "content-type": "application/proto"], maximumMessageBytes: 1 << 20)
        try #require(connect != nil)
        let unary = GatewayLocalResponder.ending(status: 16, message: "no token", bridge: &connect, responseStarted: false)
        guard case .headers(let head)? = unary.first else { Issue.record("Connect error headers"); return }
        #expect(head.headers.first(name: ":status") == "401")
        #expect(head.headers.first(name: "content-type") == "application/json")
    }
}
