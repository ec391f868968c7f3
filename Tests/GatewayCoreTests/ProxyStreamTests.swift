import NIOCore
import NIOHPACK
import NIOHTTP2
import Testing

@testable import GatewayCore

/// The gateway's per-stream decisions on their own, driven with plain values for the upstream stream (the
/// gateway suites run them over real HTTP/2).
@Suite("The gateway's per-stream state machine")
struct ProxyStreamTests {
    typealias Frame = HTTP2Frame.FramePayload

    static let headers = Frame.headers(.init(headers: [":path": "/s/M"]))
    static func data(_ bytes: Int, end: Bool = false) -> Frame {
        .data(.init(data: .byteBuffer(ByteBuffer(repeating: 1, count: bytes)), endStream: end))
    }
    static func sizes(_ frames: [Frame]) -> [Int] {
        frames.map { frame in
            if case .data(let data) = frame { return data.data.readableBytes }
            return -1
        }
    }

    @Test("frames read while connecting wait, go upstream when it attaches, and a held read resumes then")
    func connecting() {
        var stream = ProxyStream<Int>()
        stream.connect(sending: [Self.headers])
        guard case .buffered = stream.clientSent([Self.data(10)]) else { Issue.record("expected buffering"); return }
        let readsNow = stream.readRequested(upstreamWritable: true)
        #expect(!readsNow, "no upstream yet: the read is held")
        guard case .send(let frames, let readNow) = stream.attach(7, upstreamWritable: true) else { Issue.record("expected sending"); return }
        #expect(Self.sizes(frames) == [-1, 10])
        #expect(readNow)
        #expect(stream.upstream == 7)
        guard case .send(let more, to: 7) = stream.clientSent([Self.data(5)]) else { Issue.record("expected forwarding"); return }
        #expect(Self.sizes(more) == [5])
    }

    @Test("reads wait while the upstream cannot take more, and resume once it can")
    func backpressure() {
        var stream = ProxyStream<Int>()
        stream.connect(sending: [Self.headers])
        _ = stream.attach(1, upstreamWritable: false)
        let readsNow = stream.readRequested(upstreamWritable: false)
        #expect(!readsNow)
        let released = stream.upstreamBecameWritable()
        #expect(released)
        let releasedAgain = stream.upstreamBecameWritable()
        #expect(!releasedAgain, "one held read, released once")
        let readsNow2 = stream.readRequested(upstreamWritable: true)
        #expect(readsNow2)
    }

    @Test("a call that ended while connecting closes the stream that attaches late")
    func lateAttach() {
        var stream = ProxyStream<Int>()
        stream.connect(sending: [Self.headers])
        let finished = stream.finish()
        #expect(finished)
        let finishedAgain = stream.finish()
        #expect(!finishedAgain, "finished once")
        guard case .close = stream.attach(3, upstreamWritable: true) else { Issue.record("expected close"); return }
        guard case .ignored = stream.clientSent([Self.data(1)]) else { Issue.record("expected ignored"); return }
        let answer = stream.answering()
        #expect(answer == nil, "nothing answers a finished call")
    }

    @Test("a stream refused unprocessed is sent again from the kept frames, twice at most; never once a response began")
    func transparentRetry() {
        var stream = ProxyStream<Int>(replayLimit: 100, retries: 2)
        stream.connect(sending: [Self.headers, Self.data(40)])
        _ = stream.attach(1, upstreamWritable: true)
        _ = stream.clientSent([Self.data(30, end: true)])
        guard case .retry(let frames) = stream.upstreamClosed(refusedUnprocessed: true) else { Issue.record("expected a retry"); return }
        #expect(Self.sizes(frames) == [-1, 40, 30])
        guard case .send(let resent, _) = stream.attach(2, upstreamWritable: true) else { Issue.record("expected sending"); return }
        #expect(Self.sizes(resent) == [-1, 40, 30])
        guard case .retry = stream.upstreamClosed(refusedUnprocessed: true) else { Issue.record("expected the second retry"); return }
        _ = stream.attach(3, upstreamWritable: true)
        guard case .answerUnavailable = stream.upstreamClosed(refusedUnprocessed: true) else { Issue.record("retries are spent"); return }

        // A closed stream that may have processed the request is never retried.
        var processed = ProxyStream<Int>()
        processed.connect(sending: [Self.headers])
        _ = processed.attach(1, upstreamWritable: true)
        guard case .answerUnavailable = processed.upstreamClosed(refusedUnprocessed: false) else { Issue.record("no retry"); return }

        // Once the response began, the client must see the call fail.
        var answered = ProxyStream<Int>()
        answered.connect(sending: [Self.headers])
        _ = answered.attach(1, upstreamWritable: true)
        let relayed = answered.upstreamResponded(Self.headers)
        #expect(relayed)
        #expect(answered.responseStarted)
        guard case .failResponse = answered.upstreamClosed(refusedUnprocessed: true) else { Issue.record("expected failResponse"); return }
    }

    @Test("a request larger than the replay limit is not kept, so it is never retried")
    func replayLimit() {
        var stream = ProxyStream<Int>(replayLimit: 100)
        stream.connect(sending: [Self.headers])
        _ = stream.attach(1, upstreamWritable: true)
        _ = stream.clientSent([Self.data(60), Self.data(60)])
        guard case .answerUnavailable = stream.upstreamClosed(refusedUnprocessed: true) else { Issue.record("nothing to replay"); return }
    }

    @Test("when the call ends, an upstream stream whose request half is still open is closed; one whose end was sent is left")
    func halfOpenUpstreams() {
        var open = ProxyStream<Int>()
        open.connect(sending: [Self.headers])
        _ = open.attach(4, upstreamWritable: true)
        _ = open.upstreamResponded(Self.headers)
        let finished = open.finish()
        #expect(finished)
        let halfOpen = open.responseEnded()
        #expect(halfOpen == 4)
        let closedOnLeaving = open.clientGone()
        #expect(closedOnLeaving == nil, "closed once")

        var ended = ProxyStream<Int>()
        ended.connect(sending: [Self.headers, Self.data(3, end: true)])
        _ = ended.attach(5, upstreamWritable: true)
        let finished2 = ended.finish()
        #expect(finished2)
        let halfOpen2 = ended.responseEnded()
        #expect(halfOpen2 == nil)

        // The client gone mid-call: the call's upstream stream is closed whatever was sent.
        var gone = ProxyStream<Int>()
        gone.connect(sending: [Self.headers, Self.data(3, end: true)])
        _ = gone.attach(6, upstreamWritable: true)
        let closedOnLeaving2 = gone.clientGone()
        #expect(closedOnLeaving2 == 6)
    }

    @Test("the deadline applies while connecting and proxying only; an answer closes the upstream after it")
    func deadlineAndAnswers() {
        var stream = ProxyStream<Int>()
        #expect(!stream.deadlineApplies)
        stream.connect(sending: [Self.headers])
        #expect(stream.deadlineApplies)
        _ = stream.attach(8, upstreamWritable: true)
        #expect(stream.deadlineApplies)
        let answer = stream.answering()
        #expect(answer?.responseStarted == false)
        #expect(answer?.upstreamToClose == 8)
        _ = stream.finish()
        #expect(!stream.deadlineApplies)
    }

    @Test("a local call collects its request until complete; reads are never held for it")
    func localCalls() throws {
        var stream = ProxyStream<Int>()
        let call = try #require(LocalHealthCall(path: "/grpc.health.v1.Health/Check"))
        stream.answerLocally(call)
        let pending = stream.localRequest(Self.headers)
        #expect(pending == nil, "the request is not complete yet")
        let readsNow = stream.readRequested(upstreamWritable: false)
        #expect(readsNow)
        #expect(!stream.deadlineApplies)
        var message = ByteBuffer()
        message.writeInteger(UInt8(0))
        message.writeInteger(UInt32(0))
        let complete = stream.localRequest(.data(.init(data: .byteBuffer(message), endStream: true)))
        #expect(complete?.serviceName == "")
        guard case .ignored = stream.clientSent([Self.data(1)]) else { Issue.record("a local call sends nothing upstream"); return }
    }
}
