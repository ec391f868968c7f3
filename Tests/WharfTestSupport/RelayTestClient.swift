import Foundation
import HummingbirdWSClient
import Logging
import WharfRuntime

/// A WebSocket client of the relay speaking raw NIP-01/NIP-77 JSON frames.
public final class RelayTestClient: Sendable {
    private let inbox = FrameInbox<String>()
    private let outgoing: AsyncStream<String>.Continuation
    private let connection: Task<Void, any Error>

    public init(url: String) {
        let (stream, outgoing) = AsyncStream.makeStream(of: String.self)
        self.outgoing = outgoing
        let inbox = self.inbox
        connection = Task {
            defer { inbox.finish() }
            try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 4 << 20), logger: Logger(label: "test")) {
                inbound, outbound, _ in
                let reader = Task {
                    for try await message in inbound.messages(maxSize: 16 << 20) {
                        if case .text(let text) = message { inbox.push(text) }
                    }
                    inbox.finish()
                }
                defer { reader.cancel() }
                for await text in stream { try await outbound.write(.text(text)) }
                try await outbound.close(.normalClosure, reason: nil)
            }
        }
    }

    public func send(_ frame: [Any]) throws {
        outgoing.yield(String(decoding: try JSONSerialization.data(withJSONObject: frame, options: [.withoutEscapingSlashes]), as: UTF8.self))
    }

    public func sendRaw(_ text: String) { outgoing.yield(text) }

    /// The next frame, parsed; fails after `timeout` (30 s: a frame answered in milliseconds alone took over 10 s
    /// in the general phase on two cores, and the wait ends as soon as it comes).
    public func receive(timeout: Duration = .seconds(30)) async throws -> [Any] {
        guard let text = try await inbox.next(timeout: timeout) else { throw TestSupportError("relay closed the connection") }
        guard let frame = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] else {
            throw TestSupportError("not a JSON array: \(text)")
        }
        return frame
    }

    /// Frames until one whose verb is `verb` (the skipped ones are returned too).
    public func receive(until verb: String, timeout: Duration = .seconds(30)) async throws -> [[Any]] {
        var frames: [[Any]] = []
        while true {
            let frame = try await receive(timeout: timeout)
            frames.append(frame)
            if frame.first as? String == verb { return frames }
        }
    }

    public func close() async {
        outgoing.finish()
        _ = try? await connection.value
    }
}
