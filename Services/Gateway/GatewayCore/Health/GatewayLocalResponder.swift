import GRPCCore
import NIOHTTP2
import WharfProto
import WharfRuntime

/// What the gateway answers itself, as frames, apart from the stream that carries them: `grpc.health.v1.Health`
/// Check and Watch, `wharf.gateway.v1.GatewayStatus/ListRoutes` (behind the admin token), and the status a call
/// ends with when the gateway answers in place of an upstream — gRPC trailers, or Connect's form for a Connect
/// client.
struct GatewayLocalResponder {
    typealias Frame = HTTP2Frame.FramePayload

    let gateway: Gateway

    enum Answer {
        /// End the call with this status.
        case status(Int, String)
        /// Send these frames; the call then ends (`watch` nil) or watches `watch`'s service from `last`.
        case frames([Frame], watch: Watch?)
    }

    struct Watch: Equatable {
        var service: String
        var last: GatewayHealth.Status
    }

    /// The answer to a complete local call; `authorization` and `adminTokens` are the request's.
    func answer(_ call: LocalHealthCall, authorization: String?, adminTokens: [String]) -> Answer {
        guard !call.oversized else {
            return .status(GRPCFrames.Status.resourceExhausted, "health request larger than \(LocalHealthCall.maximumRequestBytes) bytes")
        }
        if call.method == .listRoutes { return routes(call, adminTokens: adminTokens) }
        guard let name = call.serviceName else {
            return .status(GRPCFrames.Status.invalidArgument, "expected one HealthCheckRequest message")
        }
        // The whole gateway's status ("") is for probes; a route's status needs what the route needs.
        if !name.isEmpty, let failure = gateway.authorize(authorization, route: gateway.routes.route(forService: Substring(name))?.service) {
            return .status(GRPCFrames.Status.unauthenticated, failure)
        }
        guard let status = gateway.health.status(of: name) else {
            return .status(GRPCFrames.Status.notFound, "unknown service \(name)")
        }
        let opening = [LocalHealthCall.responseHeaders, LocalHealthCall.message(status)]
        switch call.method {
        case .check, .listRoutes:
            return .frames(opening + [LocalHealthCall.ok], watch: nil)
        case .watch:
            return .frames(opening, watch: Watch(service: name, last: status))
        }
    }

    /// A Watch's next look: the message to send when the status changed, and the status to watch from.
    func watchStep(_ watch: Watch) -> (message: Frame?, next: Watch) {
        let status = gateway.health.status(of: watch.service) ?? .serviceUnknown
        var next = watch
        next.last = status
        return (status == watch.last ? nil : LocalHealthCall.message(status), next)
    }

    /// `wharf.gateway.v1.GatewayStatus/ListRoutes`: every route and its replicas, behind the admin token.
    private func routes(_ call: LocalHealthCall, adminTokens: [String]) -> Answer {
        var metadata = Metadata()
        for value in adminTokens { metadata.addString(value, forKey: AdminBoundaryInterceptor.metadataKey) }
        let method = MethodDescriptor(fullyQualifiedService: LocalHealthCall.statusService, method: "ListRoutes")
        if let refusal = AdminBoundaryInterceptor.refusal(token: gateway.adminToken, metadata: metadata, method: method) {
            return .status(GRPCFrames.Status.unauthenticated, refusal.message)
        }
        guard let bytes = call.messageBytes, (try? Wharf_Gateway_V1_ListRoutesRequest(serializedBytes: bytes)) != nil else {
            return .status(GRPCFrames.Status.invalidArgument, "expected one ListRoutesRequest message")
        }
        let response = Wharf_Gateway_V1_ListRoutesResponse.with { response in
            response.routes = gateway.routeStatuses().map { route in
                .with {
                    $0.service = route.service
                    $0.serving = route.serving
                    $0.replicas = route.replicas.map { replica in
                        .with {
                            $0.address = replica.address.description
                            $0.serving = replica.serving
                            $0.consecutiveFailures = UInt32(clamping: replica.consecutiveFailures)
                            $0.openStreams = UInt32(clamping: replica.openStreams)
                        }
                    }
                }
            }
        }
        let body = LocalHealthCall.message(bytes: (try? response.serializedBytes() as [UInt8]) ?? [])
        return .frames([LocalHealthCall.responseHeaders, body, LocalHealthCall.ok], watch: nil)
    }

    /// The frames that end a call with `status`: Connect's form for a Connect client (`bridge`), else trailers
    /// after a response that has begun, or a trailers-only response.
    static func ending(status: Int, message: String, bridge: inout ConnectBridge?, responseStarted: Bool) -> [Frame] {
        if bridge != nil { return bridge?.localError(status: status, message: message) ?? [] }
        return responseStarted
            ? [GRPCFrames.trailers(status: status, message: message)] : [GRPCFrames.trailersOnly(status: status, message: message)]
    }
}
