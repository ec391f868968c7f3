import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GatewayCore
import Synchronization
import Testing
import WharfTestSupport

/// Clients of the gateway that would take other clients' calls or sockets with them (issue 29).
@Suite("The gateway against hostile clients")
struct GatewayHostileClientTests {
    @Test("headers larger than an upstream accepts get RESOURCE_EXHAUSTED on that call; other clients' calls on the pooled connection go on")
    func oversizedHeaders() async throws {
        let recorder = EchoRecorder()
        try await withEchoServer(name: "a", recorder: recorder) { upstream, _ in
            try await withGateway(routes: "\(EchoService.service)=127.0.0.1:\(upstream)") { port, _ in
                let ticks = TickCounter()
                try await withClient(port: port) { watcher in
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        // Another client's long stream on the gateway's pooled upstream connection.
                        group.addTask {
                            let raw = RawSerializer()
                            try? await watcher.serverStreaming(
                                request: ClientRequest(message: []), descriptor: EchoService.method("Endless"),
                                serializer: raw, deserializer: raw, options: .defaults
                            ) { response in
                                for try await _ in response.messages { ticks.add() }
                            }
                        }
                        #expect(await eventually { ticks.count > 2 })
                        // Sent on the same client connection as the long stream, so that the gateway relays both on
                        // the same pooled upstream connection (the pool is per event loop).
                        do {
                            let attacker = watcher
                            // Values of "e" (5 bits in HPACK's Huffman code) fit one HEADERS frame up to 26 KB decoded
                            // (grpc-swift's client cannot send a header block that needs CONTINUATION frames).
                            for size in [17_000, 25_000] {
                                let refused = await #expect(throws: RPCError.self) {
                                    try await attacker.echoUnary([1], metadata: ["x-big": .string(String(repeating: "e", count: size))])
                                }
                                #expect(refused?.code == .resourceExhausted, "\(size): \(String(describing: refused))")
                                #expect(refused?.message.contains("request headers") == true, "\(refused?.message ?? "")")
                            }
                            // Many headers that add up, each small.
                            var many = Metadata()
                            for index in 0..<400 { many.addString("value-\(index)", forKey: "x-h\(index)") }
                            let refused = await #expect(throws: RPCError.self) { try await attacker.echoUnary([1], metadata: many) }
                            #expect(refused?.code == .resourceExhausted)
                            // Headers just under the limit pass.
                            let fits = try await attacker.echoUnary([2], metadata: ["x-fits": .string(String(repeating: "f", count: 12_000))])
                            #expect(try fits.message == [2])
                        }
                        // The other client's stream was not reset with the connection: it still ticks, and calls go on.
                        let seen = ticks.count
                        #expect(await eventually { ticks.count > seen + 5 }, "the long stream stopped after the oversized headers")
                        for index in 0..<6 {
                            let answer = try await watcher.echoUnary([UInt8(index)])
                            #expect(try answer.message == [UInt8(index)])
                        }
                        group.cancelAll()
                    }
                }
            }
        }
    }

    @Test("a socket that sends no HTTP/2 preface (nothing, or a few bytes) is closed after WHARF_HTTP_IDLE_TIMEOUT; a client that sent it is not")
    func silentSockets() async throws {
        let recorder = EchoRecorder()
        try await withEchoServer(name: "a", recorder: recorder) { upstream, _ in
            try await withGateway(routes: "\(EchoService.service)=127.0.0.1:\(upstream)", environment: ["WHARF_HTTP_IDLE_TIMEOUT": "1s"]) { port, _ in
                try await withClient(port: port) { client in
                    #expect(try await client.echoUnary([1]).message == [1])
                    let silent = try RawSocket(port: port)
                    let partial = try RawSocket(port: port)
                    try partial.send("PRI * HTTP/2.0\r\n")
                    #expect(await silent.closedByPeer(within: .seconds(20)), "a silent socket stays open")
                    #expect(await partial.closedByPeer(within: .seconds(20)), "a half-sent preface stays open")
                    // The real client's connection, idle meanwhile for longer than the timeout, still works.
                    #expect(try await client.echoUnary([2]).message == [2])
                }
            }
        }
    }
}

private final class TickCounter: Sendable {
    private let value = Mutex(0)
    func add() { value.withLock { $0 += 1 } }
    var count: Int { value.withLock { $0 } }
}
