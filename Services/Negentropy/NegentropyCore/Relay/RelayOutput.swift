import HummingbirdWebSocket
import Synchronization
import WharfRuntime

/// Why a connection's writes stopped: the relay dropped the client (slow reader, protocol), or it left.
struct RelayConnectionDropped: Error, CustomStringConvertible {
    var description: String
}

/// A relay connection's writes, watched: a frame the client has not taken within `slowReaderTimeout` (its
/// socket full because it does not read) drops the client — a NOTICE is attempted first, then the socket is
/// closed, which ends every write waiting on it and the connection's tasks with them. Without this a client
/// that never reads holds whatever was being written to it for ever, and the WebSocket keep-alive, written
/// behind it, never times it out.
final class RelayOutput: Sendable {
    private struct State {
        var nextWrite = 0
        /// Writes under way and when each began.
        var writing: [Int: ContinuousClock.Instant] = [:]
        var dropped: String?
    }

    private let outbound: WebSocketOutboundWriter
    private let closeSocket: @Sendable () -> Void
    let slowReaderTimeout: Duration
    private let state = Mutex(State())

    init(outbound: WebSocketOutboundWriter, slowReaderTimeout: Duration, closeSocket: @escaping @Sendable () -> Void) {
        self.outbound = outbound
        self.slowReaderTimeout = slowReaderTimeout
        self.closeSocket = closeSocket
    }

    func send(_ frame: String) async throws {
        let write = try state.withLock { state throws(RelayConnectionDropped) -> Int in
            if let reason = state.dropped { throw RelayConnectionDropped(description: reason) }
            defer { state.nextWrite &+= 1 }
            state.writing[state.nextWrite] = .now
            return state.nextWrite
        }
        defer { _ = state.withLock { $0.writing.removeValue(forKey: write) } }
        try await outbound.write(.text(frame))
    }

    /// Watches the writes until cancelled or the client is dropped.
    func superviseSlowReader() async {
        let interval = min(slowReaderTimeout / 4, .seconds(1))
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            let oldest = state.withLock { $0.writing.values.min() }
            if let oldest, ContinuousClock.now - oldest > slowReaderTimeout {
                drop("error: slow reader: a message waited more than \(slowReaderTimeout) to be read; closing the connection")
                return
            }
        }
    }

    /// Ends the connection for `reason`: the NOTICE is tried for up to a second (it cannot pass a socket the
    /// client does not read), then the socket closes.
    func drop(_ reason: String) {
        let first = state.withLock { state -> Bool in
            guard state.dropped == nil else { return false }
            state.dropped = reason
            return true
        }
        guard first else { return }
        let outbound = self.outbound, closeSocket = self.closeSocket
        Task {
            _ = try? await withDeadline(.seconds(1)) { try await outbound.write(.text(RelayFrame.notice(reason))) }
            closeSocket()
        }
    }

    /// The client left: writes still waiting on its socket are ended by closing it (they would otherwise wait
    /// for a reader that is gone).
    func abandonWaitingWrites() {
        let waiting = state.withLock { state -> Bool in
            guard !state.writing.isEmpty, state.dropped == nil else { return false }
            state.dropped = "the client left"
            return true
        }
        if waiting { closeSocket() }
    }

    var droppedReason: String? { state.withLock { $0.dropped } }
}
