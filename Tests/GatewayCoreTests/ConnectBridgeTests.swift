import Foundation
import GRPCCore
import NIOCore
import Testing
import WharfTestSupport

@Suite("The gateway's Connect bridge: Connect clients call gRPC upstreams")
struct ConnectBridgeTests {
    @Test("Connect unary and streaming calls get the same results as gRPC clients, errors in Connect's forms")
    func connectCalls() async throws {
        let recorder = EchoRecorder()
        try await withEchoServer(name: "a", recorder: recorder) { upstream, _ in
            try await withGateway(routes: "\(EchoService.service)=127.0.0.1:\(upstream)") { port, _ in
                // Unary: a bare message in, a bare message out; metadata as headers, trailers as trailer- headers.
                let unary = try await connectCall(
                    port: port, path: "/wharf.test.Echo/Unary", contentType: "application/proto",
                    headers: [("x-echo", "connect")], body: [Array("hello".utf8)])
                #expect(unary.headers.first(name: ":status") == "200")
                #expect(unary.headers.first(name: "content-type") == "application/proto")
                #expect(unary.headers.first(name: "x-echoed") == "connect")
                #expect(unary.headers.first(name: "trailer-x-trailer") == "done")
                #expect(Array(unary.body.readableBytesView) == Array("hello".utf8))
                let viaGRPC = try await withClient(port: port) { try await $0.echoUnary(Array("hello".utf8)).message }
                #expect(Array(unary.body.readableBytesView) == viaGRPC)

                let failed = try await connectCall(port: port, path: "/wharf.test.Echo/Fail", contentType: "application/proto", body: [[0]])
                #expect(failed.headers.first(name: ":status") == "404")
                #expect(failed.headers.first(name: "content-type") == "application/json")
                #expect(failed.json?["code"] as? String == "not_found")
                #expect(failed.json?["message"] as? String == "no such thing: ümlaut 100%")
                #expect(failed.headers.first(name: "trailer-x-detail") == "why")

                // Streaming: envelopes both ways, then the end-of-stream envelope with the trailers.
                let streamed = try await connectCall(
                    port: port, path: "/wharf.test.Echo/Bidi", contentType: "application/connect+proto",
                    body: [envelope([1, 2, 3]), envelope([4, 5]) + envelope([6])])
                #expect(streamed.headers.first(name: ":status") == "200")
                #expect(streamed.headers.first(name: "content-type") == "application/connect+proto")
                #expect(streamed.trailers == nil)
                let envelopes = streamed.envelopes
                #expect(envelopes.map(\.payload) == [[3, 2, 1], [5, 4], [6], envelopes.last?.payload ?? []])
                #expect(envelopes.last?.flags == 0x02)
                #expect(streamed.json?["error"] == nil)
                #expect((streamed.json?["metadata"] as? [String: [String]])?["x-bidi"] == ["finished"])

                // A client may send only flags 0x00 and 0x01: 0x02 (the server's end-of-stream) and reserved bits are
                // refused, wherever the envelope header falls (here split between two DATA frames).
                for flags: UInt8 in [0x02, 0x03, 0x80] {
                    let whole = envelope([1]) + envelope([9, 9], flags: flags)
                    let split = [Array(whole.prefix(8)), Array(whole.dropFirst(8))]
                    let refused = try await connectCall(
                        port: port, path: "/wharf.test.Echo/Bidi", contentType: "application/connect+proto", body: split)
                    let error = refused.json?["error"] as? [String: Any]
                    #expect(error?["code"] as? String == "invalid_argument", "flags \(flags): \(String(describing: refused.json))")
                    #expect((error?["message"] as? String)?.contains("envelope with flags") == true)
                }

                let serverStream = try await connectCall(
                    port: port, path: "/wharf.test.Echo/ServerStream",
                    contentType: "application/connect+proto", body: [envelope(Array("3".utf8))])
                #expect(
                    serverStream.envelopes.dropLast().map { String(decoding: $0.payload, as: UTF8.self) } == ["message 0", "message 1", "message 2"])

                let streamError = try await connectCall(
                    port: port, path: "/wharf.test.Echo/Fail", contentType: "application/connect+proto",
                    body: [envelope([0])])
                #expect(streamError.headers.first(name: ":status") == "200")
                #expect((streamError.json?["error"] as? [String: Any])?["code"] as? String == "not_found")
                #expect((streamError.json?["metadata"] as? [String: [String]])?["x-detail"] == ["why"])

                // The gateway's own answers in Connect's forms: an unknown service, a deadline.
                let unknown = try await connectCall(port: port, path: "/no.such.Service/Call", contentType: "application/proto", body: [[0]])
                #expect(unknown.headers.first(name: ":status") == "501")
                #expect(unknown.json?["code"] as? String == "unimplemented")
                let late = try await connectCall(
                    port: port, path: "/wharf.test.Echo/Slow", contentType: "application/proto",
                    headers: [("connect-timeout-ms", "200")], body: [[0]])
                #expect(late.headers.first(name: ":status") == "504")
                #expect(late.json?["code"] as? String == "deadline_exceeded")

                // JSON codecs need the schema: refused with 415.
                let json = try await connectCall(
                    port: port, path: "/wharf.test.Echo/Unary", contentType: "application/json", body: [Array("{}".utf8)])
                #expect(json.headers.first(name: ":status") == "415")
            }
        }
    }
}
