import Foundation
import NegentropyProtocol
import Testing
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

/// A relay loaded on purpose (thousands of EVENTs pipelined by one client). A `LoadTests` suite runs in the
/// robustness phase of `scripts/wharf test`, not beside the general phase's 300 tests: its debug-build signing
/// and verification took both cores for a minute there and starved the timing of others.
@Suite("The relay's ingest under load", .serialized)
struct RelayIngestLoadTests {
    @Test(
        "EVENTs pipelined without reading a single OK are paced at WHARF_RELAY_EVENTS_IN_FLIGHT; every place comes back when the client leaves mid-stream"
    )
    func pipelinedEventsArePaced() async throws {
        try await withServices([.negentropy(environment: ["WHARF_RELAY_EVENTS_IN_FLIGHT": "50"])]) { services in
            let node = await NegentropyNode(services)
            let socket = try RawSocket(port: node.relayPort, receiveBuffer: 4096)
            try socket.upgradeToWebSocket()
            let frames = RelayHostileClientTests.bigEvents(3_000, bytes: 300).map { "[\"EVENT\",\(String(decoding: $0.json, as: UTF8.self))]" }
            // A blocking sender on a thread of its own (the relay stops reading when the bound is reached, and
            // the socket's send then blocks); it stops when the socket is closed.
            let sender = Thread {
                for frame in frames where (try? socket.sendWebSocketText(frame)) == nil { return }
            }
            sender.start()
            var highest = 0
            let stored = await eventually(timeout: .seconds(60), every: .milliseconds(5)) {
                highest = max(highest, node.relay.intake.inFlight)
                return (try? await node.host.postgresCount()) ?? 0 >= 1_000
            }
            #expect(stored)
            #expect(highest > 1 && highest <= 50, "\(highest) EVENTs were under way at once")
            socket.shutdown()
            #expect(await eventually(timeout: .seconds(30)) { node.relay.intake.inFlight == 0 }, "\(node.relay.intake.inFlight) left")
            #expect(await eventually(timeout: .seconds(30)) { node.relay.connections.admittedConnections == 0 })
        }
    }

    @Test(
        "large EVENTs are paced by WHARF_RELAY_EVENT_BYTES_IN_FLIGHT whatever the count allows; every one is stored, and nothing is left under way"
    )
    func pipelinedBytesArePaced() async throws {
        // 64 KiB of frames under way at most: three of these 20 KB events (the count bound, 1,000, never binds).
        try await withServices([.negentropy(environment: ["WHARF_RELAY_EVENT_BYTES_IN_FLIGHT": "65536"])]) { services in
            let node = await NegentropyNode(services)
            let socket = try RawSocket(port: node.relayPort)
            try socket.upgradeToWebSocket()
            let frames = RelayHostileClientTests.bigEvents(200, bytes: 20_000).map { "[\"EVENT\",\(String(decoding: $0.json, as: UTF8.self))]" }
            #expect(frames.allSatisfy { $0.utf8.count > 65_536 / 4 })
            // The OKs are read as they come (a client that never reads them stalls the relay's writes, and so
            // its own EVENTs: that is pacing too, but not the bound under test).
            let reader = Thread {
                while socket.receive(timeout: .seconds(1)) != nil {}
            }
            reader.start()
            let sender = Thread {
                for frame in frames where (try? socket.sendWebSocketText(frame)) == nil { return }
            }
            sender.start()
            var highest = 0
            let stored = await eventually(timeout: .seconds(120), every: .milliseconds(2)) {
                highest = max(highest, node.relay.intake.inFlight)
                return (try? await node.host.postgresCount()) ?? 0 >= 200
            }
            #expect(stored)
            #expect(highest >= 1 && highest <= 3, "\(highest) EVENTs of 20 KB were under way at once")
            #expect(await eventually(timeout: .seconds(30)) { node.relay.intake.inFlight == 0 }, "\(node.relay.intake.inFlight) left")
            socket.shutdown()
            #expect(await eventually(timeout: .seconds(30)) { node.relay.connections.admittedConnections == 0 })
        }
    }
}
