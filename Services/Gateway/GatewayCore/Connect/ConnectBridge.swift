import Foundation
import NIOCore
import NIOHPACK
import NIOHTTP2

/// Translates between a Connect client and a gRPC upstream, frame by frame:
/// - streaming (`application/connect+proto`): envelopes are gRPC's; the response's gRPC trailers become
///   Connect's end-of-stream envelope (flag 0x02, JSON with `error` and `metadata`);
/// - unary (`application/proto`): the bare request message gets a gRPC envelope; the response is buffered to
///   its trailers, then answered as a bare message (status 200) or a JSON error with its HTTP status, with
///   trailers as `trailer-` headers.
/// Connect's `connect-timeout-ms` becomes `grpc-timeout`; compression headers are renamed.
struct ConnectBridge {
    enum Kind {
        case streaming
        case unary
    }

    let kind: Kind
    private let maximumMessageBytes: Int
    private var unaryRequest = ByteBuffer()
    private var unaryRequestCompressed = false
    /// Envelope flags of a streaming request, checked as its DATA frames pass.
    private var envelopes = EnvelopeFlagScanner()
    private var responseHeaders = HPACKHeaders()
    private var unaryResponse = ByteBuffer()
    private var sentResponseHeaders = false
    /// What is wrong with the request headers (answered INVALID_ARGUMENT by the gateway), if anything.
    private(set) var requestProblem: String?

    /// The bridge for a request's headers; nil for gRPC requests (forwarded unchanged).
    init?(requestHeaders headers: HPACKHeaders, maximumMessageBytes: Int) {
        guard headers.first(name: ":method") == "POST", let type = headers.first(name: "content-type") else { return nil }
        switch type {
        case "application/connect+proto": kind = .streaming
        case "application/proto": kind = .unary
        default: return nil
        }
        self.maximumMessageBytes = maximumMessageBytes
    }

    /// Why the gateway cannot bridge this request (JSON codecs need the schema), or nil.
    static func unsupported(_ headers: HPACKHeaders) -> String? {
        guard let type = headers.first(name: "content-type") else { return nil }
        if type == "application/connect+json" || (type == "application/json" && headers.first(name: "connect-protocol-version") != nil) {
            return "the gateway bridges Connect with the proto codec only (content-type \(type))"
        }
        return nil
    }

    // MARK: Request (client → upstream)

    mutating func requestHeaders(_ headers: HPACKHeaders) -> HPACKHeaders {
        var grpc = HPACKHeaders()
        for (name, value, indexing) in headers {
            switch name {
            case "content-type": grpc.add(name: name, value: "application/grpc+proto", indexing: indexing)
            case "connect-protocol-version", "content-length": continue
            case "connect-timeout-ms":
                // Connect: a positive integer of at most 10 digits; anything else is refused (`requestProblem`).
                if (1...10).contains(value.utf8.count), value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let milliseconds = Int64(value) {
                    grpc.add(name: "grpc-timeout", value: milliseconds <= 99_999_999 ? "\(milliseconds)m" : "\(milliseconds / 1000 + 1)S")
                } else {
                    requestProblem = "malformed connect-timeout-ms header: expected 1 to 10 digits, got \"\(value.prefix(32))\""
                }
            case "connect-content-encoding": grpc.add(name: "grpc-encoding", value: value)
            case "connect-accept-encoding": grpc.add(name: "grpc-accept-encoding", value: value)
            case "content-encoding":
                // Unary: the body is the (compressed) message.
                if value != "identity" {
                    unaryRequestCompressed = true
                    grpc.add(name: "grpc-encoding", value: value)
                }
            case "accept-encoding": grpc.add(name: "grpc-accept-encoding", value: value)
            default: grpc.add(name: name, value: value, indexing: indexing)
            }
        }
        grpc.replaceOrAdd(name: "te", value: "trailers")
        return grpc
    }

    enum RequestStep {
        case forward([HTTP2Frame.FramePayload])
        case tooLarge
        /// A request envelope with flags a client may not send.
        case invalid(String)
    }

    /// A request frame after the headers.
    mutating func requestFrame(_ payload: HTTP2Frame.FramePayload) -> RequestStep {
        guard kind == .unary else {
            if case .data(let data) = payload, case .byteBuffer(let buffer) = data.data, let flags = envelopes.scan(buffer) {
                let hex = String(flags, radix: 16)
                return .invalid(
                    "Connect request envelope with flags 0x\(hex.count < 2 ? "0" + hex : hex): a client sends only 0x00 and 0x01 (compressed)")
            }
            return .forward([payload])
        }
        var ended = false
        switch payload {
        case .data(let data):
            if case .byteBuffer(var buffer) = data.data { unaryRequest.writeBuffer(&buffer) }
            ended = data.endStream
        case .headers(let headers):
            ended = headers.endStream
        default:
            return .forward([])
        }
        if unaryRequest.readableBytes > maximumMessageBytes { return .tooLarge }
        guard ended else { return .forward([]) }
        var envelope = ByteBuffer()
        envelope.reserveCapacity(5 + unaryRequest.readableBytes)
        envelope.writeInteger(UInt8(unaryRequestCompressed ? 1 : 0))
        envelope.writeInteger(UInt32(unaryRequest.readableBytes))
        envelope.writeBuffer(&unaryRequest)
        return .forward([.data(.init(data: .byteBuffer(envelope), endStream: true))])
    }

    // MARK: Response (upstream → client)

    /// What the client gets for an upstream frame (possibly nothing yet: unary responses wait for trailers).
    mutating func responseFrame(_ payload: HTTP2Frame.FramePayload) -> [HTTP2Frame.FramePayload] {
        switch payload {
        case .headers(let headers) where headers.endStream:
            // Trailers, or a trailers-only response (status and metadata in one block).
            return finish(trailers: headers.headers)
        case .headers(let headers):
            responseHeaders = headers.headers
            guard kind == .streaming else { return [] }
            sentResponseHeaders = true
            return [.headers(.init(headers: Self.connectHeaders(headers.headers, contentType: "application/connect+proto")))]
        case .data(var data):
            if kind == .unary {
                guard responseProblem == nil else { return [] }
                if case .byteBuffer(var buffer) = data.data { unaryResponse.writeBuffer(&buffer) }
                checkUnaryResponse()
                return []
            }
            data.endStream = false  // the end-of-stream envelope ends the stream
            return [.data(data)]
        default:
            return []
        }
    }

    /// A unary answer is one message, held until the trailers: one larger than the message limit, or a second
    /// message (a streaming method called with the unary protocol), is refused instead of buffered.
    private mutating func checkUnaryResponse() {
        guard unaryResponse.readableBytes >= 5, let length = unaryResponse.getInteger(at: unaryResponse.readerIndex + 1, as: UInt32.self) else {
            return
        }
        if Int(length) > maximumMessageBytes {
            responseProblem = (
                8, "response message of \(length) bytes is larger than the gateway's maximum of \(maximumMessageBytes) bytes for a unary Connect call"
            )
        } else if unaryResponse.readableBytes > 5 + Int(length) {
            responseProblem = (
                12, "the method answered with more than one message: call it with the Connect streaming protocol (application/connect+proto)"
            )
        }
        if responseProblem != nil { unaryResponse = ByteBuffer() }
    }

    /// Why the response cannot be bridged (the gateway then answers this status and cancels the upstream call).
    private(set) var responseProblem: (status: Int, message: String)?

    /// A status the gateway itself answers with (unknown service, unreachable upstream, deadline).
    mutating func localError(status: Int, message: String) -> [HTTP2Frame.FramePayload] {
        finish(trailers: ["grpc-status": String(status), "grpc-message": GRPCFrames.percentEncoded(message)])
    }

    private mutating func finish(trailers: HPACKHeaders) -> [HTTP2Frame.FramePayload] {
        let status = trailers.first(name: "grpc-status").flatMap(Int.init) ?? 2
        let message = Self.percentDecoded(trailers.first(name: "grpc-message") ?? "")
        let metadata = trailers.filter { !$0.name.hasPrefix(":") && !["grpc-status", "grpc-message", "content-type"].contains($0.name) }
        switch kind {
        case .streaming:
            var frames: [HTTP2Frame.FramePayload] = []
            if !sentResponseHeaders {
                sentResponseHeaders = true
                frames.append(.headers(.init(headers: Self.connectHeaders(responseHeaders, contentType: "application/connect+proto"))))
            }
            var end: [String: Any] = [:]
            if status != 0 { end["error"] = ["code": ConnectCodes.name(status), "message": message] }
            var grouped: [String: [String]] = [:]
            for (name, value, _) in metadata { grouped[name, default: []].append(value) }
            if !grouped.isEmpty { end["metadata"] = grouped }
            let json = (try? JSONSerialization.data(withJSONObject: end, options: [.sortedKeys])) ?? Data("{}".utf8)
            var envelope = ByteBuffer()
            envelope.writeInteger(UInt8(0x02))
            envelope.writeInteger(UInt32(json.count))
            envelope.writeBytes(json)
            frames.append(.data(.init(data: .byteBuffer(envelope), endStream: true)))
            return frames
        case .unary:
            var headers = Self.connectHeaders(
                responseHeaders, contentType: status == 0 ? "application/proto" : "application/json",
                status: status == 0 ? "200" : String(ConnectCodes.httpStatus(status)))
            for (name, value, _) in metadata { headers.add(name: "trailer-" + name, value: value) }
            var body = ByteBuffer()
            if status == 0 {
                // The response message without its envelope (its compression becomes content-encoding).
                if let flags = unaryResponse.readInteger(as: UInt8.self), let length = unaryResponse.readInteger(as: UInt32.self),
                    var message = unaryResponse.readSlice(length: Int(length))
                {
                    if flags & 1 == 1, let encoding = responseHeaders.first(name: "grpc-encoding") {
                        headers.replaceOrAdd(name: "content-encoding", value: encoding)
                    }
                    body.writeBuffer(&message)
                }
            } else {
                let error = ["code": ConnectCodes.name(status), "message": message]
                body.writeBytes((try? JSONSerialization.data(withJSONObject: error, options: [.sortedKeys])) ?? Data("{}".utf8))
            }
            headers.remove(name: "connect-content-encoding")
            return [.headers(.init(headers: headers)), .data(.init(data: .byteBuffer(body), endStream: true))]
        }
    }

    /// Response headers for a Connect client: the content type, compression names, metadata as they were.
    private static func connectHeaders(_ grpc: HPACKHeaders, contentType: String, status: String = "200") -> HPACKHeaders {
        var headers: HPACKHeaders = [":status": status, "content-type": contentType]
        for (name, value, indexing) in grpc {
            switch name {
            case ":status", "content-type", "grpc-status", "grpc-message": continue
            case "grpc-encoding": headers.add(name: "connect-content-encoding", value: value, indexing: indexing)
            case "grpc-accept-encoding": headers.add(name: "connect-accept-encoding", value: value, indexing: indexing)
            default: headers.add(name: name, value: value, indexing: indexing)
            }
        }
        return headers
    }

    static func percentDecoded(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var bytes: [UInt8] = []
        var utf8 = Array(text.utf8)[...]
        while let byte = utf8.popFirst() {
            if byte == UInt8(ascii: "%"), utf8.count >= 2,
                let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
