import GRPCCore
import Logging
import NIOCore
import NIOHTTP2
import WharfProto
import WharfRuntime

/// One client stream: picks the route from `:path`, opens a stream on a pooled upstream connection of the
/// same event loop and relays HEADERS, DATA and trailers both ways as they flow, each side reading only
/// while the other can take more (HTTP/2 flow control holds the rest). Never a hung stream: unknown
/// services, unreachable upstreams, expired deadlines and resets all end it with a status or a reset.
final class InboundStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private enum State {
        case awaitingHeaders
        /// Upstream stream being opened; frames read meanwhile wait here (reads are held, so at most one batch).
        case connecting(buffered: [HTTP2Frame.FramePayload])
        case proxying(upstream: any Channel)
        /// `grpc.health.v1.Health`, answered by the gateway itself.
        case localHealth(LocalHealthCall)
        case finished
    }

    private let gateway: Gateway
    private var state = State.awaitingHeaders
    private var context: ChannelHandlerContext?
    private var readPending = false
    private var responseStarted = false
    private var deadline: Scheduled<Void>?
    private var exchange: Exchange?
    /// The request's `authorization` header (checked against the route's tokens; kept for the local health).
    private var authorization: String?
    /// The request's `wharf-admin-token` values (the gateway's own status calls need the admin token).
    private var adminTokens: [String] = []
    /// The request frames sent upstream, kept until the first response frame (up to `replayLimit` bytes), so
    /// that a stream the upstream refused unprocessed (REFUSED_STREAM, or opened after its GOAWAY) is sent
    /// to another connection — gRPC's transparent retry.
    private var replay: [HTTP2Frame.FramePayload]? = []
    private var replayBytes = 0
    private var retriesLeft = 2
    private var cluster: UpstreamCluster?
    static let replayLimit = 1 << 20
    /// Set for Connect clients: requests and responses are translated to and from gRPC.
    private var bridge: ConnectBridge?
    /// The upstream stream of this call once attached, whatever the state: it is closed on every end of the
    /// call (the response ended, the client reset or left) while its request half is still open, so the
    /// replica's open-stream count that the load balancer reads returns to zero when callers leave. A
    /// response that ended while the client's request half was still open left the upstream stream
    /// half-open for ever. A stream whose request end was forwarded is left to close by itself: a reset
    /// sent as the upstream closes it too can reach it on a closed stream.
    private var attachedUpstream: (any Channel)?
    private var requestEndForwarded = false

    init(gateway: Gateway) {
        self.gateway = gateway
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        // Stream channels also see WINDOW_UPDATE and PRIORITY: flow control is per hop, never forwarded.
        guard Self.isMessageFrame(payload) else { return }
        switch state {
        case .awaitingHeaders:
            guard case .headers(let headers) = payload else { return reset(context) }
            start(context, headers: headers)
        case .connecting(var buffered):
            guard let frames = bridged(context, payload), acceptsHeaders(context, frames) else { return }
            buffered += frames
            state = .connecting(buffered: buffered)
        case .proxying(let upstream):
            exchange?.countRequest(payload)
            guard let frames = bridged(context, payload), acceptsHeaders(context, frames) else { return }
            for frame in frames {
                keepForReplay(frame)
                noteRequestEnd(frame)
                upstream.write(forwardable(frame), promise: nil)
            }
        case .localHealth(var call):
            let complete = call.append(payload)
            state = .localHealth(call)
            if complete { answerHealth(context, call) }
        case .finished:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        if case .proxying(let upstream) = state { upstream.flush() }
        context.fireChannelReadComplete()
    }

    /// Reads from the client only while the upstream stream can take what they bring.
    func read(context: ChannelHandlerContext) {
        switch state {
        case .proxying(let upstream) where upstream.isWritable:
            context.read()
        case .awaitingHeaders, .finished, .localHealth:
            context.read()
        default:
            readPending = true
        }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if case .proxying(let upstream) = state, context.channel.isWritable { upstream.read() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client reset or went away: cancel the upstream call at once (and a finished one whose request
        // half the client never closed).
        if case .proxying(let upstream) = state { upstream.close(promise: nil) } else { closeHalfOpenUpstream() }
        attachedUpstream = nil
        finish(status: GRPCFrames.Status.cancelled, context: context, clientGone: true)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Stream errors (e.g. a reset from the client) close this stream channel; channelInactive follows.
        context.close(promise: nil)
    }

    // MARK: Starting a call

    private func start(_ context: ChannelHandlerContext, headers: HTTP2Frame.FramePayload.Headers) {
        let path = headers.headers.first(name: ":path") ?? ""
        exchange = Exchange(gateway: gateway, path: path, started: .now())
        // Connect clients get every answer in Connect's form, the gateway's own errors included.
        bridge = ConnectBridge(requestHeaders: headers.headers, maximumMessageBytes: gateway.maximumMessageBytes)
        // Checked before anything else answers: a malformed deadline is refused by every path, health included.
        if case .failure(let problem) = GRPCFrames.timeout(headers.headers) {
            return respond(context, status: GRPCFrames.Status.invalidArgument, message: problem.message)
        }
        authorization = headers.headers.first(name: "authorization")
        adminTokens = headers.headers[canonicalForm: AdminBoundaryInterceptor.metadataKey].map { String($0) }
        let service = RouteTable.service(ofPath: Substring(path))
        let local = [Substring(LocalHealthCall.service), Substring(LocalHealthCall.statusService)]
        if let service, local.contains(service), gateway.routes.route(forService: service) == nil {
            guard var call = LocalHealthCall(path: path) else {
                return respond(context, status: GRPCFrames.Status.unimplemented, message: "unknown method: \(path)")
            }
            exchange?.route = String(service)
            state = .localHealth(call)
            if call.append(.headers(headers)) { answerHealth(context, call) }
            return
        }
        let route = service.flatMap { gateway.routes.route(forService: $0) }
        if let route { exchange?.route = route.service }
        // Authenticated before anything else answers: an unknown service or a codec refused without a token
        // would tell a caller which routes exist.
        if let failure = gateway.authorize(authorization, route: route?.service) {
            return respond(context, status: GRPCFrames.Status.unauthenticated, message: failure)
        }
        guard let route else {
            return respond(
                context, status: GRPCFrames.Status.unimplemented,
                message: "unknown service: no route for \(path.isEmpty ? "(no :path)" : path)")
        }
        if let reason = ConnectBridge.unsupported(headers.headers) {
            gateway.logger.debug("unsupported Connect codec", metadata: ["reason": "\(reason)"])
            context.writeAndFlush(wrapOutboundOut(.headers(.init(headers: [":status": "415"], endStream: true))), promise: nil)
            return finish(status: nil, context: context, clientGone: false)
        }
        var headers = headers
        var initial: [HTTP2Frame.FramePayload] = []
        if let translated = bridge?.requestHeaders(headers.headers) {
            headers.headers = translated
            if headers.endStream, bridge?.kind == .unary, case .forward(let body)? = bridge?.requestFrame(.headers(headers)) {
                // A Connect unary call without a body: the empty message goes upstream as DATA.
                headers.endStream = false
                initial = body
            }
        }
        if !gateway.forwardsAuthorization(route.service) { headers.headers.remove(name: "authorization") }
        if let refusal = GatewayHTTP2.headerRefusal(headers.headers) {
            return respond(context, status: GRPCFrames.Status.resourceExhausted, message: refusal)
        }
        initial.insert(.headers(headers), at: 0)
        if let problem = bridge?.requestProblem {
            return respond(context, status: GRPCFrames.Status.invalidArgument, message: problem)
        }
        // The deadline of the headers as forwarded: a Connect call's connect-timeout-ms became grpc-timeout.
        if case .success(let timeout?) = GRPCFrames.timeout(headers.headers) {
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in self?.deadlineExpired() }
        }
        guard let cluster = gateway.cluster(named: route.service) else {
            return respond(context, status: GRPCFrames.Status.unavailable, message: "no upstream configured for \(route.service)")
        }
        state = .connecting(buffered: initial)
        exchange?.countRequest(.headers(headers))
        self.cluster = cluster
        connect(context, cluster: cluster, candidates: cluster.candidates()[...], lastError: nil)
    }

    private func connect(_ context: ChannelHandlerContext, cluster: UpstreamCluster, candidates: ArraySlice<HostPort>, lastError: (any Error)?) {
        guard case .connecting = state else { return }
        guard let address = candidates.first else {
            let reason = lastError.map { ": \($0)" } ?? ""
            return respond(
                context, status: GRPCFrames.Status.unavailable,
                message: "no upstream of \(cluster.name) could be reached\(reason)")
        }
        let pool = gateway.connections(on: context.eventLoop)
        // Upstream streams are created on this stream's event loop (the pool is per loop).
        let inbound = NIOLoopBound(self, eventLoop: context.eventLoop)
        pool.openStream(to: address) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(UpstreamStreamHandler(inbound: inbound.value))
            }
        }.assumeIsolated().whenComplete { [self] result in
            switch result {
            case .success(let upstream):
                cluster.recordSuccess(address)
                cluster.streamOpened(address)
                upstream.closeFuture.whenComplete { _ in cluster.streamClosed(address) }
                attach(context, upstream: upstream)
            case .failure(let error):
                // Nothing was sent upstream yet, so the next address may take the call.
                cluster.recordFailure(address)
                gateway.logger.warning(
                    "upstream unreachable", metadata: ["cluster": "\(cluster.name)", "address": "\(address)", "error": "\(error)"])
                connect(context, cluster: cluster, candidates: candidates.dropFirst(), lastError: error)
            }
        }
    }

    /// Request trailers too large for the upstream end this call (and only its upstream stream).
    private func acceptsHeaders(_ context: ChannelHandlerContext, _ frames: [HTTP2Frame.FramePayload]) -> Bool {
        for case .headers(let headers) in frames {
            if let refusal = GatewayHTTP2.headerRefusal(headers.headers) {
                respond(context, status: GRPCFrames.Status.resourceExhausted, message: refusal)
                return false
            }
        }
        return true
    }

    private func noteRequestEnd(_ payload: HTTP2Frame.FramePayload) {
        switch payload {
        case .headers(let headers) where headers.endStream: requestEndForwarded = true
        case .data(let data) where data.endStream: requestEndForwarded = true
        default: break
        }
    }

    private func closeHalfOpenUpstream() {
        if !requestEndForwarded { attachedUpstream?.close(promise: nil) }
        attachedUpstream = nil
    }

    private func attach(_ context: ChannelHandlerContext, upstream: any Channel) {
        guard case .connecting(let buffered) = state else {
            // The client left or the deadline passed while connecting.
            upstream.close(promise: nil)
            return
        }
        state = .proxying(upstream: upstream)
        attachedUpstream = upstream
        requestEndForwarded = false
        for payload in buffered {
            keepForReplay(payload)
            noteRequestEnd(payload)
            upstream.write(forwardable(payload), promise: nil)
        }
        upstream.flush()
        if readPending, upstream.isWritable {
            readPending = false
            context.read()
        }
    }

    /// The frames to send upstream for a client frame (a Connect unary body waits for its end); nil when the
    /// call was answered instead.
    private func bridged(_ context: ChannelHandlerContext, _ payload: HTTP2Frame.FramePayload) -> [HTTP2Frame.FramePayload]? {
        guard bridge != nil else { return [payload] }
        switch bridge?.requestFrame(payload) {
        case .forward(let frames): return frames
        case .tooLarge, nil:
            respond(context, status: 8, message: "request message larger than \(gateway.maximumMessageBytes) bytes")
            return nil
        case .invalid(let problem):
            respond(context, status: GRPCFrames.Status.invalidArgument, message: problem)
            return nil
        }
    }

    private func keepForReplay(_ payload: HTTP2Frame.FramePayload) {
        guard replay != nil else { return }
        if case .data(let data) = payload { replayBytes += data.data.readableBytes }
        if replayBytes > Self.replayLimit { replay = nil } else { replay?.append(payload) }
    }

    private func forwardable(_ payload: HTTP2Frame.FramePayload) -> HTTP2Frame.FramePayload {
        guard case .headers(var headers) = payload else { return payload }
        headers.headers = GRPCFrames.forwardable(headers.headers)
        return .headers(headers)
    }

    // MARK: From the upstream

    static func isMessageFrame(_ payload: HTTP2Frame.FramePayload) -> Bool {
        switch payload {
        case .headers, .data: true
        default: false
        }
    }

    func upstreamRead(_ payload: HTTP2Frame.FramePayload) {
        guard Self.isMessageFrame(payload), let context, case .proxying = state else { return }
        replay = nil
        var status: Int?
        if case .headers(let headers) = payload {
            if headers.endStream { status = headers.headers.first(name: "grpc-status").flatMap { Int($0) } }
            responseStarted = true
        }
        exchange?.countResponse(payload)
        let frames: [HTTP2Frame.FramePayload]
        if bridge != nil {
            frames = bridge?.responseFrame(payload) ?? []
            if let problem = bridge?.responseProblem {
                responseStarted = false
                return respond(context, status: problem.status, message: problem.message)
            }
        } else if case .headers(var headers) = payload {
            headers.headers = GRPCFrames.forwardable(headers.headers)
            frames = [.headers(headers)]
        } else {
            frames = [payload]
        }
        var ended = false
        for frame in frames {
            context.write(wrapOutboundOut(frame), promise: nil)
            switch frame {
            case .headers(let headers): ended = ended || headers.endStream
            case .data(let data): ended = ended || data.endStream
            default: break
            }
        }
        if ended {
            // Finished first: the flush can close the stream (and run channelInactive) at once. The end goes
            // out now, since the upstream stream may close before its read completes.
            finish(status: status ?? exchange?.status, context: context, clientGone: false)
            context.flush()
            // The call is over: an upstream stream whose request half the client left open is closed too.
            closeHalfOpenUpstream()
        }
    }

    func upstreamReadComplete() { context?.flush() }

    func upstreamWritabilityChanged(_ writable: Bool) {
        guard writable, readPending, let context else { return }
        readPending = false
        context.read()
    }

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    /// The upstream stream closed before the response ended (reset, GOAWAY, connection lost).
    func upstreamClosed(failure: (any Error)?) {
        guard let context, case .proxying = state else { return }
        if !responseStarted, let replay, retriesLeft > 0, let cluster, Self.wasRefusedUnprocessed(failure) {
            retriesLeft -= 1
            state = .connecting(buffered: replay)
            self.replay = []
            replayBytes = 0
            return connect(context, cluster: cluster, candidates: cluster.candidates()[...], lastError: failure)
        }
        if responseStarted {
            // Part of the response is out: the client must see the call fail, not end early.
            finish(status: GRPCFrames.Status.unavailable, context: context, clientGone: false)
            context.close(promise: nil)
        } else {
            respond(context, status: GRPCFrames.Status.unavailable, message: "upstream closed the stream before answering")
        }
    }

    /// An upstream that refused a stream (REFUSED_STREAM), or a stream opened on a connection the upstream
    /// was already closing, never processed the request: it can be sent elsewhere.
    static func wasRefusedUnprocessed(_ failure: (any Error)?) -> Bool {
        switch failure {
        case let closed as NIOHTTP2Errors.StreamClosed: closed.errorCode == .refusedStream
        case is NIOHTTP2Errors.CreatedStreamAfterGoaway: true
        default: false
        }
    }

    // MARK: The gateway's own health

    private func answerHealth(_ context: ChannelHandlerContext, _ call: LocalHealthCall) {
        guard !call.oversized else {
            return respond(context, status: 8, message: "health request larger than \(LocalHealthCall.maximumRequestBytes) bytes")
        }
        if call.method == .listRoutes { return answerRoutes(context, call) }
        guard let name = call.serviceName else {
            return respond(context, status: 3, message: "expected one HealthCheckRequest message")
        }
        // The whole gateway's status ("") is for probes; a route's status needs what the route needs.
        if !name.isEmpty, let failure = gateway.authorize(authorization, route: gateway.routes.route(forService: Substring(name))?.service) {
            return respond(context, status: GRPCFrames.Status.unauthenticated, message: failure)
        }
        guard let status = gateway.health.status(of: name) else {
            return respond(context, status: 5, message: "unknown service \(name)")
        }
        responseStarted = true
        context.write(wrapOutboundOut(LocalHealthCall.responseHeaders), promise: nil)
        context.write(wrapOutboundOut(LocalHealthCall.message(status)), promise: nil)
        switch call.method {
        case .check, .listRoutes:  // ListRoutes was answered above
            context.writeAndFlush(wrapOutboundOut(LocalHealthCall.ok), promise: nil)
            finish(status: 0, context: context, clientGone: false)
        case .watch:
            context.flush()
            watchHealth(context, name: name, last: status)
        }
    }

    /// `wharf.gateway.v1.GatewayStatus/ListRoutes`: every route and its replicas, behind the admin token.
    private func answerRoutes(_ context: ChannelHandlerContext, _ call: LocalHealthCall) {
        var metadata = Metadata()
        for value in adminTokens { metadata.addString(value, forKey: AdminBoundaryInterceptor.metadataKey) }
        let method = MethodDescriptor(fullyQualifiedService: LocalHealthCall.statusService, method: "ListRoutes")
        if let refusal = AdminBoundaryInterceptor.refusal(token: gateway.adminToken, metadata: metadata, method: method) {
            return respond(context, status: GRPCFrames.Status.unauthenticated, message: refusal.message)
        }
        guard let bytes = call.messageBytes, (try? Wharf_Gateway_V1_ListRoutesRequest(serializedBytes: bytes)) != nil else {
            return respond(context, status: 3, message: "expected one ListRoutesRequest message")
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
        responseStarted = true
        context.write(wrapOutboundOut(LocalHealthCall.responseHeaders), promise: nil)
        context.write(wrapOutboundOut(LocalHealthCall.message(bytes: (try? response.serializedBytes() as [UInt8]) ?? [])), promise: nil)
        context.writeAndFlush(wrapOutboundOut(LocalHealthCall.ok), promise: nil)
        finish(status: 0, context: context, clientGone: false)
    }

    /// Watch: a message whenever the status changes, until the client goes away.
    private func watchHealth(_ context: ChannelHandlerContext, name: String, last: GatewayHealth.Status) {
        context.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [weak self] in
            guard let self, case .localHealth = self.state, let context = self.context else { return }
            let status = self.gateway.health.status(of: name) ?? .serviceUnknown
            if status != last {
                context.writeAndFlush(self.wrapOutboundOut(LocalHealthCall.message(status)), promise: nil)
            }
            self.watchHealth(context, name: name, last: status)
        }
    }

    // MARK: Ending

    private func deadlineExpired() {
        guard let context else { return }
        switch state {
        case .connecting, .proxying:
            respond(context, status: GRPCFrames.Status.deadlineExceeded, message: "deadline exceeded")
        case .awaitingHeaders, .localHealth, .finished:
            break
        }
    }

    /// Answers with a status (after what the response already carried), then ends the stream.
    private func respond(_ context: ChannelHandlerContext, status: Int, message: String) {
        if case .finished = state { return }
        var upstream: (any Channel)?
        if case .proxying(let channel) = state { upstream = channel }
        let frames: [HTTP2Frame.FramePayload]
        if bridge != nil {
            frames = bridge?.localError(status: status, message: message) ?? []
        } else if responseStarted {
            frames = [GRPCFrames.trailers(status: status, message: message)]
        } else {
            frames = [GRPCFrames.trailersOnly(status: status, message: message)]
        }
        for frame in frames { context.write(wrapOutboundOut(frame), promise: nil) }
        // Finished before the flush (which may close the stream) and before the upstream's close, which must
        // find this call answered rather than reset the client's stream.
        finish(status: status, context: context, clientGone: false)
        context.flush()
        upstream?.close(promise: nil)
    }

    private func finish(status: Int?, context: ChannelHandlerContext, clientGone: Bool) {
        if case .finished = state { return }
        state = .finished
        deadline?.cancel()
        deadline = nil
        exchange?.finish(status: status ?? (clientGone ? GRPCFrames.Status.cancelled : nil))
        exchange = nil
    }

    private func reset(_ context: ChannelHandlerContext) {
        state = .finished
        context.close(promise: nil)
    }
}
