import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import HummingbirdWSClient
import Logging
@testable import NegentropyCore
import WharfProto
import WharfRuntime
import WharfTestSupport

typealias NegentropyClient = Orlysync_Negentropy_V1_NegentropyService.Client<HTTP2ClientTransport.Posix>

/// A running negentropy service: its gRPC and relay ports.
struct NegentropyNode {
    var grpcPort: Int
    var relayPort: Int
    var host: WharfServiceHost
    var relayURL: String { "ws://127.0.0.1:\(relayPort)" }
}

/// Runs a negentropy service on a fresh database (or `database`, to run replicas of one deployment).
func withNegentropyServer(database: String? = nil, environment extra: [String: String] = [:],
                          _ body: (NegentropyNode) async throws -> Void) async throws {
    let postgres = try await TestPostgres.shared()
    let redis = try await TestRedis.shared()
    let name: String
    if let database { name = database } else { name = try await postgres.createDatabase() }
    var environment = [
        "WHARF_LISTEN": "127.0.0.1:0", "WHARF_METRICS_LISTEN": "off", "WHARF_LOG_LEVEL": "warning",
        "WHARF_POSTGRES_URL": postgres.url(database: name), "WHARF_REDIS_URL": redis.url,
        "WHARF_RELAY_LISTEN": "127.0.0.1:0",
    ]
    environment.merge(extra) { $1 }
    let (runtime, settings, _) = try WharfServiceMain.loadConfiguration(
        service: "negentropy", defaults: NegentropyServer.defaults, environment: environment) { NegentropySettings(reader: $0) }
    let host = WharfServiceHost(configuration: runtime, migrations: NegentropyServer.migrations)
    let relay = OnceValue<RelayServer>()
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask {
            try await host.run(handleSignals: false) { host in
                let built = try await NegentropyServer.build(host: host, settings: settings)
                relay.set(built.relay)
                return built.parts
            }
        }
        let relayPort = await relay.value.boundPort()
        try await body(NegentropyNode(grpcPort: try await host.grpcPort(), relayPort: relayPort, host: host))
        await host.shutdownGracefully()
        try await group.waitForAll()
    }
}

func withNegentropyClient<T: Sendable>(port: Int, _ body: (NegentropyClient) async throws -> T) async throws -> T {
    let transport = try HTTP2ClientTransport.Posix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    return try await withGRPCClient(transport: transport) { client in try await body(NegentropyClient(wrapping: client)) }
}

/// A WebSocket client of the relay speaking raw NIP-01/NIP-77 JSON frames.
final class RelayTestClient: Sendable {
    private let inbox = FrameInbox<String>()
    private let outgoing: AsyncStream<String>.Continuation
    private let connection: Task<Void, any Error>

    init(url: String) {
        let (stream, outgoing) = AsyncStream.makeStream(of: String.self)
        self.outgoing = outgoing
        let inbox = self.inbox
        connection = Task {
            defer { inbox.finish() }
            try await WebSocketClient.connect(url: url, configuration: .init(maxFrameSize: 4 << 20), logger: Logger(label: "test")) { inbound, outbound, _ in
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

    func send(_ frame: [Any]) throws {
        outgoing.yield(String(decoding: try JSONSerialization.data(withJSONObject: frame, options: [.withoutEscapingSlashes]), as: UTF8.self))
    }

    func sendRaw(_ text: String) { outgoing.yield(text) }

    /// The next frame, parsed; fails after `timeout`.
    func receive(timeout: Duration = .seconds(10)) async throws -> [Any] {
        guard let text = try await inbox.next(timeout: timeout) else { throw TestSupportError("relay closed the connection") }
        guard let frame = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [Any] else { throw TestSupportError("not a JSON array: \(text)") }
        return frame
    }

    /// Frames until one whose verb is `verb` (the skipped ones are returned too).
    func receive(until verb: String, timeout: Duration = .seconds(10)) async throws -> [[Any]] {
        var frames: [[Any]] = []
        while true {
            let frame = try await receive(timeout: timeout)
            frames.append(frame)
            if frame.first as? String == verb { return frames }
        }
    }

    func close() async {
        outgoing.finish()
        _ = try? await connection.value
    }
}

extension NostrEvent {
    var jsonObject: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(json))) as? [String: Any] ?? [:]
    }
}

enum TestKeys {
    static let alice = NostrSigner(secretKey: [UInt8](repeating: 0, count: 31) + [3])!
    static let bob = NostrSigner(secretKey: [UInt8](repeating: 0, count: 31) + [7])!
}
