import NIOCore
import NIOHPACK
import NIOHTTP2
import WharfRuntime

/// Header rules of a proxy between gRPC peers.
enum GRPCFrames {
    /// Connection-specific headers never forwarded (RFC 9113 §8.2.2); `te: trailers` is the one allowed `te`.
    static let hopByHop: Set<String> = ["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"]

    /// `headers` without hop-by-hop fields (returned unchanged, without copying, when there are none).
    static func forwardable(_ headers: HPACKHeaders) -> HPACKHeaders {
        guard headers.contains(where: { hopByHop.contains($0.name) || ($0.name == "te" && $0.value != "trailers") }) else {
            return headers
        }
        var kept = HPACKHeaders()
        for (name, value, indexing) in headers where !hopByHop.contains(name) && !(name == "te" && value != "trailers") {
            kept.add(name: name, value: value, indexing: indexing)
        }
        return kept
    }

    /// A gRPC response with no messages: the status in the only HEADERS frame, which ends the stream.
    static func trailersOnly(status: Int, message: String) -> HTTP2Frame.FramePayload {
        .headers(
            .init(
                headers: [
                    ":status": "200", "content-type": "application/grpc",
                    "grpc-status": String(status), "grpc-message": percentEncoded(message),
                ], endStream: true))
    }

    /// Trailers carrying a status, after response headers were already sent.
    static func trailers(status: Int, message: String) -> HTTP2Frame.FramePayload {
        .headers(.init(headers: ["grpc-status": String(status), "grpc-message": percentEncoded(message)], endStream: true))
    }

    /// grpc-message is percent-encoded UTF-8 (bytes outside printable ASCII, and `%`).
    static func percentEncoded(_ message: String) -> String { GRPCStatusMessage.percentEncoded(message) }

    /// The request's deadline from `grpc-timeout` (nil when absent), or the problem with it. A valid but
    /// enormous value (99,999,999 hours) is capped at a year: NIO's time amounts would overflow.
    static func timeout(_ headers: HPACKHeaders) -> Result<TimeAmount?, TimeoutProblem> {
        let values = headers[GRPCTimeoutHeader.name]
        if let problem = GRPCTimeoutHeader.problem(in: values) { return .failure(TimeoutProblem(message: problem)) }
        guard let first = values.first, case .valid(let nanoseconds) = GRPCTimeoutHeader.parse(first) else { return .success(nil) }
        return .success(.nanoseconds(min(nanoseconds, longestDeadline)))
    }

    struct TimeoutProblem: Error {
        var message: String
    }

    static let longestDeadline: Int64 = 365 * 86_400 * 1_000_000_000

    enum Status {
        static let cancelled = 1
        static let invalidArgument = 3
        static let deadlineExceeded = 4
        static let notFound = 5
        static let resourceExhausted = 8
        static let unimplemented = 12
        static let unavailable = 14
        static let unauthenticated = 16
    }
}
