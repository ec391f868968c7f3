import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection to a loopback port for tests that play a client no library would: one that sends
/// half a request, or nothing, or never reads what it is sent.
public final class RawSocket: @unchecked Sendable {
    private let descriptor: Int32
    /// Bytes read past the end of the WebSocket handshake's answer (the server's first frames can come in the
    /// same read), given out by the next `receive`.
    private var leftover: [UInt8] = []

    /// Connects to 127.0.0.1:`port`; `receiveBuffer` shrinks the socket's receive buffer first (a client that
    /// does not read then stalls the server's writes after a few kilobytes).
    public init(port: Int, receiveBuffer: Int32? = nil) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw RawSocketError("socket: errno \(errno)") }
        if var size = receiveBuffer {
            setsockopt(descriptor, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard result == 0 else {
            close(descriptor)
            throw RawSocketError("connect to port \(port): errno \(errno)")
        }
    }

    deinit { close(descriptor) }

    /// Ends the connection both ways at once; a send blocked on another thread returns with an error.
    public func shutdown() {
        _ = Glibc.shutdown(descriptor, Int32(SHUT_RDWR))
    }

    public func send(_ text: String) throws { try send(Array(text.utf8)) }

    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard sent > 0 else { throw RawSocketError("send: errno \(errno)") }
            offset += sent
        }
    }

    /// Reads what is there within `timeout` (empty when nothing came; nil once the peer closed).
    public func receive(timeout: Duration) -> [UInt8]? {
        if !leftover.isEmpty {
            defer { leftover = [] }
            return leftover
        }
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        guard poll(&poller, 1, milliseconds) > 0 else { return [] }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
        return count > 0 ? Array(buffer[0..<count]) : nil
    }

    /// What is there now, without waiting (empty when nothing came; nil once the peer closed), else after a
    /// short sleep that gives the thread back: the async helpers below must never hold one of the test
    /// process's few cooperative threads in `poll` (with two cores, two such waits stall every other test).
    private func receiveWithoutBlocking() async -> [UInt8]? {
        let bytes = receive(timeout: .zero)
        if bytes?.isEmpty == true { try? await Task.sleep(for: .milliseconds(20)) }
        return bytes
    }

    /// Whether the peer closes the connection within `timeout` (what it sent meanwhile is read and dropped).
    public func closedByPeer(within timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard await receiveWithoutBlocking() != nil else { return true }
        }
        return false
    }

    /// The WebSocket opening handshake for `/` (the relay answers 101; the answer is read and dropped).
    public func upgradeToWebSocket(headers: [String] = []) throws {
        try send(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                + headers.map { $0 + "\r\n" }.joined() + "\r\n")
        var answer: [UInt8] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while !answer.containsHeaderEnd, ContinuousClock.now < deadline {
            guard let bytes = receive(timeout: .milliseconds(200)) else { throw RawSocketError("closed during the WebSocket handshake") }
            answer += bytes
        }
        guard String(decoding: answer, as: UTF8.self).hasPrefix("HTTP/1.1 101") else {
            throw RawSocketError("no 101 answer: \(String(decoding: answer.prefix(200), as: UTF8.self))")
        }
        if let end = answer.headerEnd { leftover = Array(answer[end...]) }
    }

    /// What arrives, as text (frame headers included; enough to look for a word), until it holds one of
    /// `words`, the peer closes, or `timeout` passes.
    public func receivedText(untilOneOf words: [String], within timeout: Duration) async -> String {
        var bytes: [UInt8] = []
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let more = await receiveWithoutBlocking() else { break }
            guard !more.isEmpty else { continue }
            bytes += more
            let text = String(decoding: bytes, as: UTF8.self)
            if words.contains(where: text.contains) { return text }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends `text` as one masked WebSocket text frame.
    public func sendWebSocketText(_ text: String) throws {
        let payload = Array(text.utf8)
        var frame: [UInt8] = [0x81]
        switch payload.count {
        case ..<126: frame.append(0x80 | UInt8(payload.count))
        case ..<65_536: frame += [0x80 | 126, UInt8(payload.count >> 8), UInt8(payload.count & 0xff)]
        default:
            frame.append(0x80 | 127)
            for shift in stride(from: 56, through: 0, by: -8) { frame.append(UInt8((UInt64(payload.count) >> UInt64(shift)) & 0xff)) }
        }
        let mask: [UInt8] = [0x11, 0x22, 0x33, 0x44]
        frame += mask
        frame += payload.enumerated().map { $0.element ^ mask[$0.offset % 4] }
        try send(frame)
    }
}

public struct RawSocketError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

private extension [UInt8] {
    var containsHeaderEnd: Bool { headerEnd != nil }

    /// The index just past the first CRLFCRLF.
    var headerEnd: Int? {
        guard count >= 4 else { return nil }
        return (0...(count - 4)).first { self[$0] == 13 && self[$0 + 1] == 10 && self[$0 + 2] == 13 && self[$0 + 3] == 10 }.map { $0 + 4 }
    }
}
