import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import RoutingCore
import StoreCore
import SwiftProtobuf
import WharfProto
import WharfRuntime
import WharfTestSupport

extension InProcessService {
    /// The store as its executable runs it (its OCI registry off).
    static let store = InProcessService(StoreServer.self)
    /// Routing reading the store of the same run, unless `environment` names another (WHARF_ROUTING_STORE).
    static let routing = routing(environment: [:])

    static func routing(environment: [String: String]) -> InProcessService {
        InProcessService(RoutingServer.self) { services in
            var own = environment
            if own["WHARF_ROUTING_STORE"] == nil { own["WHARF_ROUTING_STORE"] = services.address("store") }
            return own
        }
    }
}

extension Routing_V1_RoutingService.Client where Transport == HTTP2ClientTransport.Posix {
    func listCIDs(_ queries: [Routing_V1_RecordQuery], limit: UInt32? = nil) async throws -> [String] {
        try await list(
            .with {
                $0.queries = queries; if let limit { $0.limit = limit }
            }
        ) { response in
            try await response.messages.reduce(into: [String]()) { $0.append($1.recordCid) }
        }
    }

    func searchAll(_ queries: [Routing_V1_RecordQuery], minScore: UInt32? = nil, limit: UInt32? = nil) async throws -> [Routing_V1_SearchResponse] {
        try await search(
            .with {
                $0.queries = queries
                if let minScore { $0.minMatchScore = minScore }
                if let limit { $0.limit = limit }
            }
        ) { response in try await response.messages.reduce(into: [Routing_V1_SearchResponse]()) { $0.append($1) } }
    }
}

func skill(_ value: String) -> Routing_V1_RecordQuery {
    .with {
        $0.type = .skill; $0.value = value
    }
}
func locator(_ value: String) -> Routing_V1_RecordQuery {
    .with {
        $0.type = .locator; $0.value = value
    }
}

/// The metadata by which a routing node proves to a peer that it is `id`.
func peerMetadata(id: String, secret: String) -> Metadata {
    [PeerCredentials.idKey: .string(id), PeerCredentials.secretKey: .string(secret)]
}
