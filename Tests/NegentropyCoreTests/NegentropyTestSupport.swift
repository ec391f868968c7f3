import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import HummingbirdWSClient
import Logging
import WharfProto
import WharfRuntime
import WharfTestSupport

@testable import NegentropyCore

typealias NegentropyClient = Orlysync_Negentropy_V1_NegentropyService.Client<HTTP2ClientTransport.Posix>

/// The negentropy service of a `withServices` run: its gRPC and relay ports, and what its tests look into.
struct NegentropyNode {
    var grpcPort: Int
    var relayPort: Int
    var host: WharfServiceHost
    var sessions: NegentropySessions?
    var relay: RelayServer
    var indexes: ResidentIndexes?
    var relayURL: String { "ws://127.0.0.1:\(relayPort)" }

    init(_ services: InProcessServices, name: String = NegentropyServer.name) async {
        let built = await services.built(NegentropyServer.self, name: name)
        grpcPort = services.port(name)
        relayPort = await built.relay.boundPort()
        host = services.host(name)
        sessions = built.sessions
        relay = built.relay
        indexes = built.indexes
    }
}

extension InProcessService {
    /// The negentropy service (its relay on a free port), allowed to dial loopback peers.
    static let negentropy = negentropy(environment: [:])

    static func negentropy(environment: [String: String], name: String? = nil) -> InProcessService {
        InProcessService(
            NegentropyServer.self, name: name,
            environment: ["WHARF_NEGENTROPY_ALLOWED_PEERS": TestCredentials.loopbackAndPublic].merging(environment) { $1 })
    }
}

/// A client of the negentropy service on `port`; `admin` (the default) sends the admin token.
func withNegentropyClient<T: Sendable>(port: Int, admin: Bool = true, _ body: (NegentropyClient) async throws -> T) async throws -> T {
    try await withTestClient(port: port, admin: admin) { client in try await body(NegentropyClient(wrapping: client)) }
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
