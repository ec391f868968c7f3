import Foundation
import Testing
import WharfTestSupport

/// Clients that keep Nagle's algorithm on (tokio-tungstenite's default, so rust-nostr's): a small message held
/// behind an unacknowledged one waits for the relay's ACK, which Linux delays by at least 40 ms when the relay
/// has nothing to send back. That capped nostr-sdk's sync down at about 1,700 events/s (a CLOSE, then the next
/// REQ, every 100 events).
/// A latency test: `scripts/wharf test` runs the `LatencyTests` suites in a phase of their own (beside the general
/// phase's 300 tests a round took 200–800 ms, the process's threads all busy, and nothing was measured).
@Suite("The relay with clients that keep Nagle's algorithm on")
struct RelayAcknowledgementLatencyTests {
    @Test(
        "a message the relay does not answer (CLOSE), then one it does, is answered without waiting for a delayed ACK: most of 30 rounds take less than the kernel's 40 ms"
    )
    func unansweredThenAnsweredIsPrompt() async throws {
        try await withServices([.negentropy]) { services in
            let node = await NegentropyNode(services)
            let socket = try RawSocket(port: node.relayPort)  // Nagle on: no TCP_NODELAY
            try socket.upgradeToWebSocket()
            let rounds = try await Self.onThreadOfItsOwn { try Self.rounds(30, on: socket) }
            let prompt = rounds.filter { $0 < .milliseconds(40) }.count
            // Without prompt ACKs every round after the kernel's first quick ACKs takes 40 ms or more.
            #expect(prompt >= 20, "rounds: \(rounds.map { $0.formatted(.units(allowed: [.milliseconds])) })")
        }
    }

    /// Each round: a CLOSE (no answer), then an unknown message (answered with a NOTICE), timed until the NOTICE.
    static func rounds(_ count: Int, on socket: RawSocket) throws -> [Duration] {
        try (0..<count).map { round in
            let started = ContinuousClock.now
            try socket.sendWebSocketText(#"["CLOSE","sub-\#(round)"]"#)
            try socket.sendWebSocketText(#"["PING-\#(round)"]"#)
            var text = ""
            while !text.contains("PING-\(round)") {
                guard let bytes = socket.receive(timeout: .seconds(10)) else { throw RawSocketError("the relay closed the connection") }
                guard !bytes.isEmpty else { throw RawSocketError("no NOTICE within 10 s") }
                text += String(decoding: bytes, as: UTF8.self)
            }
            return ContinuousClock.now - started
        }
    }

    /// Runs blocking socket reads on a thread of their own, never on one of the test process's cooperative threads.
    static func onThreadOfItsOwn<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }
}
