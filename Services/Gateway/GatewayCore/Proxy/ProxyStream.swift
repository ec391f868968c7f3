import NIOHTTP2

/// One client stream of the gateway as a plain state machine (the swift-nio habit): each event — a frame from
/// the client, the upstream stream attached or closed, a response frame, a read, the client gone — changes the
/// state and says what the handler must do; the handler (`InboundStreamHandler`) does only the I/O. Generic over
/// the upstream stream's handle, so tests drive it with plain values.
struct ProxyStream<Upstream> {
    typealias Frame = HTTP2Frame.FramePayload

    enum State {
        case awaitingHeaders
        /// Upstream stream being opened; frames read meanwhile wait here (reads are held, so at most one batch).
        case connecting(buffered: [Frame])
        case proxying(upstream: Upstream)
        /// A call the gateway answers itself (health, GatewayStatus), its request being collected.
        case local(LocalHealthCall)
        case finished
    }

    private(set) var state = State.awaitingHeaders
    /// Part of the response has gone to the client: a failure must now end it with trailers.
    private(set) var responseStarted = false
    private var readPending = false
    /// The request frames sent upstream, kept until the first response frame (up to `replayLimit` bytes), so
    /// that a stream the upstream refused unprocessed (REFUSED_STREAM, or opened after its GOAWAY) is sent to
    /// another connection — gRPC's transparent retry.
    private var replay: [Frame]? = []
    private var replayBytes = 0
    private var retriesLeft: Int
    let replayLimit: Int
    /// The upstream stream once attached, whatever the state: closed on every end of the call while its
    /// request half is still open, so the replica's open-stream count (which the load balancer reads) returns
    /// to zero when callers leave. A stream whose request end was forwarded is left to close by itself: a reset
    /// sent as the upstream closes it too can reach it on a closed stream.
    private var attached: Upstream?
    private var requestEndForwarded = false

    init(replayLimit: Int = 1 << 20, retries: Int = 2) {
        self.replayLimit = replayLimit
        retriesLeft = retries
    }

    /// The upstream stream while proxying.
    var upstream: Upstream? {
        if case .proxying(let upstream) = state { return upstream }
        return nil
    }

    var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    // MARK: Starting

    /// The call is one the gateway answers itself.
    mutating func answerLocally(_ call: LocalHealthCall) {
        state = .local(call)
    }

    /// The call goes upstream: `initial` waits until the upstream stream is attached.
    mutating func connect(sending initial: [Frame]) {
        state = .connecting(buffered: initial)
    }

    // MARK: From the client

    enum ClientFrames {
        /// Send these upstream now.
        case send([Frame], to: Upstream)
        /// Kept until the upstream stream is attached.
        case buffered
        /// Nothing to do (the call is over, or is answered locally).
        case ignored
    }

    /// Request frames (as the bridge translated them) for the upstream.
    mutating func clientSent(_ frames: [Frame]) -> ClientFrames {
        switch state {
        case .connecting(let buffered):
            state = .connecting(buffered: buffered + frames)
            return .buffered
        case .proxying(let upstream):
            for frame in frames { noteSent(frame) }
            return .send(frames, to: upstream)
        case .awaitingHeaders, .local, .finished:
            return .ignored
        }
    }

    /// A request frame of a local call; the call when its request is complete (or too large to go on).
    mutating func localRequest(_ frame: Frame) -> LocalHealthCall? {
        guard case .local(var call) = state else { return nil }
        let complete = call.append(frame)
        state = .local(call)
        return complete ? call : nil
    }

    /// Whether the client may be read now; otherwise the read is held until the upstream can take more.
    mutating func readRequested(upstreamWritable: Bool) -> Bool {
        switch state {
        case .proxying where upstreamWritable, .awaitingHeaders, .local, .finished:
            return true
        case .proxying, .connecting:
            readPending = true
            return false
        }
    }

    // MARK: The upstream stream

    enum Attachment {
        /// The call ended while connecting (client gone, deadline): close the new stream.
        case close
        /// Send `frames` upstream (then flush); `readNow` when a held read can go ahead.
        case send([Frame], readNow: Bool)
    }

    mutating func attach(_ upstream: Upstream, upstreamWritable: Bool) -> Attachment {
        guard case .connecting(let buffered) = state else { return .close }
        state = .proxying(upstream: upstream)
        attached = upstream
        requestEndForwarded = false
        for frame in buffered { noteSent(frame) }
        let readNow = readPending && upstreamWritable
        if readNow { readPending = false }
        return .send(buffered, readNow: readNow)
    }

    /// The upstream can take more: whether a held read goes ahead.
    mutating func upstreamBecameWritable() -> Bool {
        guard readPending else { return false }
        readPending = false
        return true
    }

    /// A response frame arrived from upstream; false when this stream no longer proxies (it is dropped).
    mutating func upstreamResponded(_ frame: Frame) -> Bool {
        guard case .proxying = state else { return false }
        replay = nil
        if case .headers = frame { responseStarted = true }
        return true
    }

    enum UpstreamClosing {
        case ignored
        /// Send the call again on another connection, from these frames.
        case retry([Frame])
        /// Part of the response is out: end the call as UNAVAILABLE and close the client's stream.
        case failResponse
        /// Nothing was answered yet: answer UNAVAILABLE.
        case answerUnavailable
    }

    /// The upstream stream closed before the response ended; `refusedUnprocessed` when the upstream never
    /// processed the request (REFUSED_STREAM, or opened after its GOAWAY).
    mutating func upstreamClosed(refusedUnprocessed: Bool) -> UpstreamClosing {
        guard case .proxying = state else { return .ignored }
        if !responseStarted, refusedUnprocessed, let frames = replay, retriesLeft > 0 {
            retriesLeft -= 1
            state = .connecting(buffered: frames)
            replay = []
            replayBytes = 0
            return .retry(frames)
        }
        return responseStarted ? .failResponse : .answerUnavailable
    }

    // MARK: Ending

    /// The response ended: the upstream stream to close when the client left its request half open.
    mutating func responseEnded() -> Upstream? {
        let halfOpen = requestEndForwarded ? nil : attached
        attached = nil
        return halfOpen
    }

    /// The client reset or left: the upstream stream to close (the call's, or a finished one left half open).
    mutating func clientGone() -> Upstream? {
        let close = upstream ?? (requestEndForwarded ? nil : attached)
        attached = nil
        return close
    }

    /// Whether the deadline ends the call now (it applies only while the call is upstream's).
    var deadlineApplies: Bool {
        switch state {
        case .connecting, .proxying: true
        case .awaitingHeaders, .local, .finished: false
        }
    }

    /// The gateway answers with a status now (an error, or a local call's answer): nil when the call is
    /// already over; else whether part of the response went out, and the upstream stream to close after.
    mutating func answering() -> (responseStarted: Bool, upstreamToClose: Upstream?)? {
        if case .finished = state { return nil }
        return (responseStarted, upstream)
    }

    /// A local answer's first frame went out.
    mutating func localResponseStarted() { responseStarted = true }

    /// The Connect bridge replaces the upstream's response (one it cannot translate) with an error of its own.
    mutating func responseReplaced() { responseStarted = false }

    /// Ends the call; false when it had already ended.
    mutating func finish() -> Bool {
        if case .finished = state { return false }
        state = .finished
        return true
    }

    // MARK: Bookkeeping

    private mutating func noteSent(_ frame: Frame) {
        switch frame {
        case .headers(let headers) where headers.endStream: requestEndForwarded = true
        case .data(let data) where data.endStream: requestEndForwarded = true
        default: break
        }
        guard replay != nil else { return }
        if case .data(let data) = frame { replayBytes = replayBytes.addingReportingOverflow(data.data.readableBytes).partialValue }
        if replayBytes > replayLimit || replayBytes < 0 { replay = nil } else { replay?.append(frame) }
    }
}
