import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing
import WharfTestSupport

@Suite("Gateway shutdown drains calls in flight (the gateway executable, SIGTERM)")
struct GatewayShutdownTests {
    @Test("SIGTERM: a 2 s call in flight completes, a new call meanwhile is refused with UNAVAILABLE, the gateway exits 0")
    func drainOnSigterm() async throws {
        let recorder = EchoRecorder()
        try await withEchoServer(name: "a", recorder: recorder) { upstream, _ in
            let port = try await freePort()
            let process = try SpawnedProcess.spawn(
                try builtExecutable("gateway"), [],
                environment: [
                    "WHARF_LISTEN": "127.0.0.1:\(port)", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "info",
                    "WHARF_GATEWAY_ROUTES": "\(EchoService.service)=127.0.0.1:\(upstream)", "WHARF_GATEWAY_HEALTH_INTERVAL": "200ms",
                    "WHARF_SHUTDOWN_GRACE": "10s",
                ])
            defer { Task { await process.stop() } }
            try await withClient(port: port) { client in
                #expect(await eventually(timeout: .seconds(20)) { (try? await healthStatus(client, service: "")) == .serving })
                let inFlight = Task {
                    try await client.unary(
                        request: ClientRequest(message: [0]), descriptor: EchoService.method("Sleep"),
                        serializer: RawSerializer(), deserializer: RawSerializer(), options: .defaults
                    ) { try $0.message }
                }
                #expect(await eventually(timeout: .seconds(10)) { recorder.contains("a:Sleep:started") })
                process.send(SIGTERM)
                // A new connection (as a new client makes) is refused once the listener is closed (waited for: on a
                // loaded machine the gateway may take longer than a moment to see the signal).
                #expect(await eventually(timeout: .seconds(10)) { !isListening(port: port) }, "the gateway still accepts connections")
                let refused = try await withClient(port: port) { late in
                    await #expect(throws: RPCError.self) {
                        var options = CallOptions.defaults
                        options.timeout = .seconds(3)
                        _ = try await late.echoUnary([2], options: options)
                    }
                }
                #expect(refused?.code == .unavailable, "\(String(describing: refused))")
                #expect(recorder.count("a:Unary") == 0)
                // The call that was in flight ends normally.
                #expect(try await inFlight.value == [1])
                #expect(recorder.contains("a:Sleep:done"))
            }
            #expect(await process.waitForExit(timeout: .seconds(15)) == 0)
        }
    }
}
