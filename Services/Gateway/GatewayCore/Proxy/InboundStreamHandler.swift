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
/// What to do at each event is `ProxyStream`'s decision and what the gateway answers itself is
/// `GatewayLocalResponder`'s; this handler does the I/O.
final class InboundStreamHandler: ChannelDuplexHandler {
    typealias InboundIn = HTTP2Frame.FramePayload
    typealias OutboundIn = HTTP2Frame.FramePayload
    typealias OutboundOut = HTTP2Frame.FramePayload

    private let gateway: Gateway
    private let responder: GatewayLocalResponder
    private var stream = ProxyStream<any Channel>(replayLimit: InboundStreamHandler.replayLimit)
    private var context: ChannelHandlerContext?
    private var deadline: Scheduled<Void>?
    private var exchange: Exchange?
    /// The request's `authorization` header (checked against the route's tokens; kept for the local health).
    private var authorization: String?
    /// The request's `wharf-admin-token` values (the gateway's own status calls need the admin token).
    private var adminTokens: [String] = []
    private var cluster: UpstreamCluster?
    static let replayLimit = 1 << 20
    /// Set for Connect clients: requests and responses are translated to and from gRPC.
    private var bridge: ConnectBridge?

    init(gateway: Gateway) {
        self.gateway = gateway
        responder = GatewayLocalResponder(gateway: gateway)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let payload = unwrapInboundIn(data)
        // Stream channels also see WINDOW_UPDATE and PRIORITY: flow control is per hop, never forwarded.
        guard Self.isMessageFrame(payload) else { return }
        switch stream.state {
        case .awaitingHeaders:
            guard case .headers(let headers) = payload else { return reset(context) }
            start(context, headers: headers)
        case .connecting, .proxying:
            if stream.upstream != nil { exchange?.countRequest(payload) }
            guard let frames = bridged(context, payload), acceptsHeaders(context, frames) else { return }
            if case .send(let frames, let upstream) = stream.clientSent(frames) {
                for frame in frames { upstream.write(forwardable(frame), promise: nil) }
            }
        case .local:
            if let call = stream.localRequest(payload) { answerLocally(context, call) }
        case .finished:
            break
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        stream.upstream?.flush()
        context.fireChannelReadComplete()
    }

    /// Reads from the client only while the upstream stream can take what they bring.
    func read(context: ChannelHandlerContext) {
        if stream.readRequested(upstreamWritable: stream.upstream?.isWritable ?? false) { context.read() }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable { stream.upstream?.read() }
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        // The client reset or went away: cancel the upstream call at once (and a finished one whose request
        // half the client never closed).
        stream.clientGone()?.close(promise: nil)
        finish(status: GRPCFrames.Status.cancelled, clientGone: true)
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
            guard let call = LocalHealthCall(path: path) else {
                return respond(context, status: GRPCFrames.Status.unimplemented, message: "unknown method: \(path)")
            }
            exchange?.route = String(service)
            stream.answerLocally(call)
            if let complete = stream.localRequest(.headers(headers)) { answerLocally(context, complete) }
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
            return finish(status: nil, clientGone: false)
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
        stream.connect(sending: initial)
        exchange?.countRequest(.headers(headers))
        self.cluster = cluster
        connect(context, cluster: cluster, candidates: cluster.candidates()[...], lastError: nil)
    }

    private func connect(_ context: ChannelHandlerContext, cluster: UpstreamCluster, candidates: ArraySlice<HostPort>, lastError: (any Error)?) {
        guard case .connecting = stream.state else { return }
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

    private func attach(_ context: ChannelHandlerContext, upstream: any Channel) {
        switch stream.attach(upstream, upstreamWritable: upstream.isWritable) {
        case .close:
            // The client left or the deadline passed while connecting.
            upstream.close(promise: nil)
        case .send(let frames, let readNow):
            for frame in frames { upstream.write(forwardable(frame), promise: nil) }
            upstream.flush()
            if readNow { context.read() }
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

    /// The frames to send upstream for a client frame (a Connect unary body waits for its end); nil when the
    /// call was answered instead.
    private func bridged(_ context: ChannelHandlerContext, _ payload: HTTP2Frame.FramePayload) -> [HTTP2Frame.FramePayload]? {
        guard bridge != nil else { return [payload] }
        switch bridge?.requestFrame(payload) {
        case .forward(let frames): return frames
        case .tooLarge, nil:
            respond(context, status: GRPCFrames.Status.resourceExhausted, message: "request message larger than \(gateway.maximumMessageBytes) bytes")
            return nil
        case .invalid(let problem):
            respond(context, status: GRPCFrames.Status.invalidArgument, message: problem)
            return nil
        }
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
        guard Self.isMessageFrame(payload), let context, stream.upstreamResponded(payload) else { return }
        var status: Int?
        if case .headers(let headers) = payload, headers.endStream {
            status = headers.headers.first(name: "grpc-status").flatMap { Int($0) }
        }
        exchange?.countResponse(payload)
        let frames: [HTTP2Frame.FramePayload]
        if bridge != nil {
            frames = bridge?.responseFrame(payload) ?? []
            if let problem = bridge?.responseProblem {
                stream.responseReplaced()
                return respond(context, status: problem.status, message: problem.message)
            }
        } else {
            frames = [forwardable(payload)]
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
            finish(status: status ?? exchange?.status, clientGone: false)
            context.flush()
            // The call is over: an upstream stream whose request half the client left open is closed too.
            stream.responseEnded()?.close(promise: nil)
        }
    }

    func upstreamReadComplete() { context?.flush() }

    func upstreamWritabilityChanged(_ writable: Bool) {
        guard writable, let context, stream.upstreamBecameWritable() else { return }
        context.read()
    }

    var clientWritable: Bool { context?.channel.isWritable ?? false }

    /// The upstream stream closed before the response ended (reset, GOAWAY, connection lost).
    func upstreamClosed(failure: (any Error)?) {
        guard let context else { return }
        switch stream.upstreamClosed(refusedUnprocessed: Self.wasRefusedUnprocessed(failure)) {
        case .ignored:
            break
        case .retry:
            guard let cluster else { return respond(context, status: GRPCFrames.Status.unavailable, message: "no upstream to retry on") }
            connect(context, cluster: cluster, candidates: cluster.candidates()[...], lastError: failure)
        case .failResponse:
            // Part of the response is out: the client must see the call fail, not end early.
            finish(status: GRPCFrames.Status.unavailable, clientGone: false)
            context.close(promise: nil)
        case .answerUnavailable:
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

    // MARK: The gateway's own answers

    private func answerLocally(_ context: ChannelHandlerContext, _ call: LocalHealthCall) {
        switch responder.answer(call, authorization: authorization, adminTokens: adminTokens) {
        case .status(let status, let message):
            respond(context, status: status, message: message)
        case .frames(let frames, let watch):
            stream.localResponseStarted()
            for frame in frames { context.write(wrapOutboundOut(frame), promise: nil) }
            context.flush()
            if let watch { watchHealth(watch) } else { finish(status: 0, clientGone: false) }
        }
    }

    /// Watch: a message whenever the status changes, until the client goes away.
    private func watchHealth(_ watch: GatewayLocalResponder.Watch) {
        context?.eventLoop.assumeIsolated().scheduleTask(in: .seconds(1)) { [weak self] in
            guard let self, case .local = self.stream.state, let context = self.context else { return }
            let (message, next) = self.responder.watchStep(watch)
            if let message { context.writeAndFlush(self.wrapOutboundOut(message), promise: nil) }
            self.watchHealth(next)
        }
    }

    // MARK: Ending

    private func deadlineExpired() {
        guard let context, stream.deadlineApplies else { return }
        respond(context, status: GRPCFrames.Status.deadlineExceeded, message: "deadline exceeded")
    }

    /// Answers with a status (after what the response already carried), then ends the stream.
    private func respond(_ context: ChannelHandlerContext, status: Int, message: String) {
        guard let (responseStarted, upstream) = stream.answering() else { return }
        let frames = GatewayLocalResponder.ending(status: status, message: message, bridge: &bridge, responseStarted: responseStarted)
        for frame in frames { context.write(wrapOutboundOut(frame), promise: nil) }
        // Finished before the flush (which may close the stream) and before the upstream's close, which must
        // find this call answered rather than reset the client's stream.
        finish(status: status, clientGone: false)
        context.flush()
        upstream?.close(promise: nil)
    }

    private func finish(status: Int?, clientGone: Bool) {
        guard stream.finish() else { return }
        deadline?.cancel()
        deadline = nil
        exchange?.finish(status: status ?? (clientGone ? GRPCFrames.Status.cancelled : nil))
        exchange = nil
    }

    private func reset(_ context: ChannelHandlerContext) {
        _ = stream.finish()
        context.close(promise: nil)
    }
}
